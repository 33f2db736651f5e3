"""The OpenStack emulator's own fault knobs, on top of the kit's HTTP ones.

:class:`OpenstackFaultSettings` adds to :class:`~enoslib.emulators.kit.FaultSettings`
(``error_rate``, ``latency``, ``rules``, ``down_for``, ``seed``...; set them at construction,
with ``emu.faults.update(...)`` or ``PUT /_emulator/faults``):

* ``lost_answer_rate`` / ``lost_answer_next``: a POST is carried out but answers 502 (the
  client cannot know);
* ``boot_error_rate`` / ``boot_error_next``: a new server ends in ERROR (NoValidHost);
* ``conflict_rate`` / ``conflict_next``: a DELETE answers 409 (resource busy) once;
* ``lease_error_rate`` / ``lease_error_next``: a lease goes to ERROR when it should start;
* ``boot_time``: virtual seconds from BUILD to ACTIVE.

``error_paths`` defaults to every service but Keystone (``/identity``): an injected 5xx hits
the cloud's APIs, not the login.
"""

from __future__ import annotations

from dataclasses import dataclass

from enoslib.emulators.kit import FaultInjector, FaultSettings

__all__ = ["OpenstackFaultSettings", "OpenstackFaults"]


@dataclass
class OpenstackFaultSettings(FaultSettings):
    """The kit's knobs plus OpenStack's own (the defaults inject nothing)."""

    error_paths: str | None = r"^/(?!identity(/|$))"
    lost_answer_rate: float = 0.0
    lost_answer_next: int = 0
    boot_error_rate: float = 0.0
    boot_error_next: int = 0
    conflict_rate: float = 0.0
    conflict_next: int = 0
    lease_error_rate: float = 0.0
    lease_error_next: int = 0
    boot_time: float = 20.0


class OpenstackFaults(FaultInjector):
    """The emulator's fault injector (``emu.faults``)."""

    settings_class = OpenstackFaultSettings
    settings: OpenstackFaultSettings

    @property
    def boot_time(self) -> float:
        return self.settings.boot_time

    def boot_error(self) -> bool:
        return self.take("boot_error_next", "boot_error_rate")

    def conflict(self) -> bool:
        return self.take("conflict_next", "conflict_rate")

    def lease_error(self) -> bool:
        return self.take("lease_error_next", "lease_error_rate")
