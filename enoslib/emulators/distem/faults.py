"""Distem's own fault knobs, on top of the kit's HTTP ones (:mod:`enoslib.emulators.kit.faults`).

* ``start_fail_rate`` / ``start_fail_next``: a vnode that is started fails (status ``FAILED``;
  a synchronous start answers 500 ``ShellError``), a fraction of them or the next N.
* ``start_delay``: real seconds a vnode stays ``CONFIGURING`` when started (slow starts).
* ``pnode_fail_rate`` / ``pnode_fail_next``: ``pnode_init`` fails (500) for a node.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..kit.faults import FaultInjector, FaultSettings

__all__ = ["DistemFaults", "DistemFaultSettings"]


@dataclass
class DistemFaultSettings(FaultSettings):
    """The kit's knobs plus the Distem ones (see the module)."""

    start_fail_rate: float = 0.0
    start_fail_next: int = 0
    start_delay: float = 0.0
    pnode_fail_rate: float = 0.0
    pnode_fail_next: int = 0


class DistemFaults(FaultInjector):
    """The fault injector of the Distem emulator."""

    settings_class = DistemFaultSettings
    settings: DistemFaultSettings

    def start_fails(self) -> bool:
        """Should the vnode being started fail?"""
        return self.take("start_fail_next", "start_fail_rate")

    def pnode_fails(self) -> bool:
        """Should this pnode's initialisation fail?"""
        return self.take("pnode_fail_next", "pnode_fail_rate")
