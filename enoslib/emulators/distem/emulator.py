"""The :class:`DistemEmulator`: a Distem coordinator's REST API on 127.0.0.1 for the ``distem`` client.

Standalone (vnodes backed by kit hosts, real SSH hosts as root)::

    with DistemEmulator(backend="auto") as emu:
        client = distem.Distem(serveraddr="127.0.0.1", port=emu.port)
        client.pnode_init(["node-1"])
        client.vnetwork_create("vnet", "10.144.0.0/22")
        ...

The provider uses it with ``Distem(conf, coordinator=("127.0.0.1", emu.port))``.
"""

from __future__ import annotations

from typing import Any

from ..kit.clock import VirtualClock
from ..kit.http import EmulatorServer, NoAuth, Response
from .coordinator import Coordinator
from .faults import DistemFaults, DistemFaultSettings
from .guests import Guests, KitGuests

__all__ = ["DistemEmulator"]


def _bare_error(status: int, message: str) -> Response:
    """What a failing server or proxy answers (injected faults): no Distem reason header, so the
    client raises its "Unknown error"."""
    return Response(status, message)


class DistemEmulator:
    """A Distem coordinator (``distemd``'s REST API) on a loopback port.

    Args:
        guests: what backs the vnodes (default: :class:`~.guests.KitGuests` with ``backend``).
        backend: ``auto``, ``netns`` (real SSH vnodes, root) or ``address`` (bookkeeping only).
        faults: fault knobs (:class:`~.faults.DistemFaultSettings` or a dict).
        address: the address the coordinator runs at (its pnode's).
        allowed_pnodes: the nodes ``pnode_init`` accepts (those ``distem-bootstrap`` was run
            for); None: any.
        port: port to listen on (0: any free one).
        admin_password: the control secret of ``/_emulator`` (generated when omitted).
        verbose: log every request to stderr.
    """

    def __init__(self, guests: Guests | None = None, *, backend: str = "auto",
                 faults: DistemFaultSettings | dict[str, Any] | None = None, address: str = "127.0.0.1",
                 allowed_pnodes: set[str] | None = None, port: int = 0, admin_password: str | None = None,
                 verbose: bool = False) -> None:
        self.clock = VirtualClock(speed=1.0)
        self.faults = DistemFaults(faults, clock=self.clock.now)
        self._own_guests = guests is None
        self.guests: Guests = guests if guests is not None else KitGuests(backend)
        self._allowed = None if allowed_pnodes is None else set(allowed_pnodes)
        self.coordinator = Coordinator(self.guests, self.faults, address=address,
                                       allowed_pnodes=lambda: self._allowed)
        self.server = EmulatorServer(
            self.coordinator.dispatch, auth=NoAuth(), allow_anonymous=True, faults=self.faults,
            clock=self.clock, admin_password=admin_password, error=_bare_error, json_bodies=False,
            port=port, server_version="WEBrick/1.4.2 (Ruby/2.5.5) distem-emulator/1.0", verbose=verbose)
        self.server.admin.add("GET", "/state", lambda req: self.state())

    # ------------------------------------------------------------------ life cycle
    def start(self) -> DistemEmulator:
        """Serve (idempotent); returns self."""
        self.server.start()
        return self

    def stop(self) -> None:
        """Stop serving, remove every vnode (idempotent)."""
        self.server.stop()
        try:
            self.coordinator.clear()
        finally:
            if self._own_guests:
                self.guests.close()

    def __enter__(self) -> DistemEmulator:  # noqa: PYI034 - py3.10 has no typing.Self
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ facts
    @property
    def port(self) -> int:
        """The port the REST API listens on."""
        return self.server.port

    @property
    def requests(self) -> int:
        """API requests served so far."""
        return self.coordinator.requests

    def state(self) -> dict[str, Any]:
        """What exists: pnodes, vnetworks, vnodes with their status (``GET /_emulator/state``)."""
        c = self.coordinator
        with c.lock:
            return {"pnodes": sorted(c.pnodes), "vnetworks": sorted(c.vnetworks),
                    "vnodes": {n: v["status"] for n, v in sorted(c.vnodes.items())}}

    def allow_pnodes(self, names: set[str] | None) -> None:
        """Change the nodes ``pnode_init`` accepts (None: any)."""
        self._allowed = None if names is None else set(names)
