"""What backs the vnodes of the Distem emulator: SSH hosts with the addresses Distem assigns.

:class:`KitGuests` makes them with the kit's node backend (:func:`enoslib.emulators.kit.make_hosts`:
real SSH hosts in network namespaces as root, addresses only otherwise), one bridge per vnetwork
(the vnetwork's first address is the machine's). Anything with the same four methods can back
the vnodes instead (e.g. guests of an emulated Grid'5000 node).
"""

from __future__ import annotations

import shlex
import threading
from typing import Any, Protocol

from ..kit.nodes import make_hosts

__all__ = ["Guests", "KitGuests"]


class Guests(Protocol):
    """The vnodes' hosts as the emulator sees them."""

    def start(self, name: str, vnetwork: str, cidr: str, address: str, pnode: str, public_key: str | None) -> None:
        """Make host ``name`` with ``address`` on ``vnetwork`` (``cidr``), hosted by ``pnode``."""

    def stop(self, name: str) -> None:
        """Remove host ``name`` (nothing when unknown)."""

    def execute(self, name: str, command: str) -> tuple[int, str]:
        """Run a shell command on host ``name``: (exit code, output)."""

    def close(self) -> None:
        """Remove every host."""


class KitGuests:
    """Vnodes as kit hosts (see the module); ``backend``: ``auto``, ``netns`` or ``address``."""

    def __init__(self, backend: str = "auto", lab: Any = None) -> None:
        self.hosts = make_hosts(backend, lab=lab, tag="dst")
        self._lock = threading.Lock()

    @property
    def real(self) -> bool:
        """Do the vnodes answer over SSH (network namespaces)?"""
        return self.hosts.kind == "netns"

    def start(self, name: str, vnetwork: str, cidr: str, address: str, pnode: str, public_key: str | None) -> None:
        with self._lock:
            if vnetwork not in self.hosts.networks:
                self.hosts.add_network(vnetwork, cidr)
        # the lab's own key logs in (``ssh_config``); the vnode's key pair is only recorded
        self.hosts.add_hosts([name], [vnetwork], addresses={name: {vnetwork: address}})

    def stop(self, name: str) -> None:
        if name in self.hosts:
            self.hosts.remove_hosts([name])

    def execute(self, name: str, command: str) -> tuple[int, str]:
        if not self.real:
            return 127, f"{name}: address-only vnode, no shell to run {shlex.quote(command)}"
        proc = self.hosts.exec(name, ["sh", "-c", command], timeout=60)
        return proc.returncode, (proc.stdout or "") + (proc.stderr or "")

    def ssh_config(self, entries: list[tuple[list[str], str]]) -> str:
        """ssh_config text reaching the vnodes (their names and addresses)."""
        return self.hosts.ssh_config(entries)

    def close(self) -> None:
        self.hosts.close()
