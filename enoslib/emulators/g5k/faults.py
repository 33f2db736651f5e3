"""Fault injection: what can go wrong with the real testbed, on demand.

The HTTP knobs (``error_rate``, ``error_code``, ``error_next``,
``error_methods``, ``error_paths``, ``latency``, ``reset_rate``,
``reset_next``, ``down_until``/``down_for``, per-route ``rules``, ``seed``)
come from the shared kit (:mod:`enoslib.emulators.kit.faults`). Grid'5000
adds (all settable at construction, with :meth:`FaultInjector.update` at run
time, or over HTTP: ``PUT /_emulator/faults`` with a JSON object):

- ``job_error_rate``/``job_error_next``: launching jobs sent to ``error``
- ``deploy_fail_nodes``: node fqdns whose deployments end ``KO``
- ``deploy_failure_rate``: per-node probability of ``KO``
- ``deploy_error_next``: the next N deployments end in status ``error``
- ``fewer_nodes``: started jobs get this many nodes less than asked
- ``guest_start_failure_rate``/``guest_start_failure_next``: guests (VMs...) that fail to
  start (``virsh create``/``start`` answer libvirt's "process exited while connecting to monitor")
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..kit import faults as _kit

__all__ = ["FaultInjector", "FaultSettings", "HttpFault"]

HttpFault = _kit.HttpFault


@dataclass
class FaultSettings(_kit.FaultSettings):
    """Every fault knob (HTTP ones plus Grid'5000's); the defaults inject nothing."""

    job_error_rate: float = 0.0
    job_error_next: int = 0
    deploy_fail_nodes: list[str] = field(default_factory=list)
    deploy_failure_rate: float = 0.0
    deploy_error_next: int = 0
    fewer_nodes: int = 0
    guest_start_failure_rate: float = 0.0
    guest_start_failure_next: int = 0


class FaultInjector(_kit.FaultInjector):
    """The kit's injector with the OAR and kadeploy knobs."""

    settings_class = FaultSettings
    settings: FaultSettings

    def take_job_error(self, job_uid: int) -> bool:
        """Should this launching job end in ``error``?"""
        return self.take("job_error_next", "job_error_rate")

    def take_fewer_nodes(self) -> int:
        with self._lock:
            return max(0, int(self.settings.fewer_nodes))

    def take_guest_failure(self) -> bool:
        """Should the guest being started fail?"""
        return self.take("guest_start_failure_next", "guest_start_failure_rate")

    def take_deploy_error(self) -> bool:
        return self.take("deploy_error_next")

    def deploy_fails(self, fqdn: str) -> bool:
        """Does the deployment of this node end ``KO``?"""
        with self._lock:
            short = fqdn.split(".")[0]
            if fqdn in self.settings.deploy_fail_nodes or short in self.settings.deploy_fail_nodes:
                return True
            return self._draw(self.settings.deploy_failure_rate)
