"""Distem on the Grid'5000 emulator's nodes: ``distem-bootstrap`` run on a node starts a coordinator.

:func:`attach` (before the emulator's nodes start) installs the ``distem-bootstrap`` command on
the nodes through the emulator's node-command channel (:mod:`enoslib.emulators.g5k.guests`).
Run on a node, ``distem-bootstrap -f NODEFILE [-c COORDINATOR]`` starts a
:class:`~.emulator.DistemEmulator` "on" the coordinator (default: that node): its REST API
answers on the coordinator's port 4567 (inside the node's network namespace, e.g. through an
SSH forward), every node of NODEFILE is a pnode, and the vnodes are guests of their pnode (on
the site's subnet bridge, with the addresses Distem assigns, the vnode's public key for root).
The coordinator and its vnodes go when the coordinator's job ends or it is redeployed; a pnode's
vnodes go (status ``DOWN``) with it.
"""

from __future__ import annotations

import shlex
import threading
from typing import Any

from ..kit.netsock import TcpRelay, listen_in_netns
from .emulator import DistemEmulator

__all__ = ["DistemOnG5k", "attach"]

PORT = 4567
KIND = "distem-vnode"


class _G5kGuests:
    """Vnodes as guests of the emulated Grid'5000 nodes (the Guests protocol of :mod:`.guests`)."""

    def __init__(self, emu: Any) -> None:
        self.emu = emu

    def start(self, name: str, vnetwork: str, cidr: str, address: str, pnode: str, public_key: str | None) -> None:
        with self.emu.lock:
            self.emu.guests.create(name, pnode, ip=address, kind=KIND, keys=[public_key] if public_key else [])

    def stop(self, name: str) -> None:
        with self.emu.lock:
            self.emu.guests.remove([name])

    def execute(self, name: str, command: str) -> tuple[int, str]:
        if not self.emu.guests.real:
            return 127, f"{name}: address-only vnode"
        proc = self.emu.guests.exec(name, ["sh", "-c", command], timeout=60)
        return proc.returncode, (proc.stdout or "") + (proc.stderr or "")

    def close(self) -> None:
        """The G5k emulator removes its guests itself."""


class DistemOnG5k:
    """The Distem coordinators running on one Grid'5000 emulator's nodes (see the module)."""

    def __init__(self, emu: Any, faults: dict[str, Any] | None = None) -> None:
        self.emu = emu
        self.faults = dict(faults or {})
        self.coordinators: dict[str, tuple[DistemEmulator, TcpRelay]] = {}  # coordinator fqdn ->
        self._lock = threading.Lock()
        emu.channel.register("distem-bootstrap", self._bootstrap, path="/usr/local/bin")
        emu.guests.listeners.append(self._on_nodes)

    # -- the command ---------------------------------------------------------------------------
    def _bootstrap(self, call: Any) -> tuple[int, str, str]:
        argv, nodefile, coordinator = list(call.argv), None, call.node.fqdn
        while argv:
            flag = argv.pop(0)
            if flag in ("-f", "--node-list") and argv:
                nodefile = argv.pop(0)
            elif flag in ("-c", "--coordinator") and argv:
                coordinator = argv.pop(0)
            elif flag in ("-h", "--help"):
                return 0, "Usage: distem-bootstrap -f NODEFILE [-c COORDINATOR]\n", ""
            else:
                return 1, "", f"distem-bootstrap: unknown option {shlex.quote(flag)}\n"
        if nodefile is None:
            return 1, "", "distem-bootstrap: -f NODEFILE is required\n"
        try:
            with open(call.path(nodefile)) as f:
                names = [line.strip() for line in f if line.strip()]
        except OSError as exc:
            return 1, "", f"distem-bootstrap: cannot read {nodefile}: {exc.strerror}\n"
        nodes = []
        for name in names + [coordinator]:
            found = self.emu.ref.resolve(name)
            if found is None or found[0].fqdn not in self.emu.backend.up:
                return 1, "", f"distem-bootstrap: {name}: ssh: connect to host {name} port 22: No route to host\n"
            nodes.append(found[0].fqdn)
        coord = nodes.pop()
        with self._lock:
            running = self.coordinators.get(coord)
        if running is not None:
            running[0].allow_pnodes(set(nodes) | set(running[0].coordinator.pnodes))
            self._init_pnodes(running[0], nodes)
            return 0, f"Distem is already running on {coord}; pnodes: {', '.join(nodes)}\n", ""
        distem = DistemEmulator(_G5kGuests(self.emu), address=coord, allowed_pnodes=set(nodes),
                                faults=self.faults).start()
        try:
            info = self.emu.backend.lab.nodes.get(coord)
            socks = listen_in_netns(f"/proc/{info.pid}/ns/net", [("0.0.0.0", PORT)])
            relay = TcpRelay(socks, ("127.0.0.1", distem.port), name=f"distemd-{coord}").start()
        except BaseException:
            distem.stop()
            raise
        self._init_pnodes(distem, nodes)
        with self._lock:
            self.coordinators[coord] = (distem, relay)
        return 0, f"Distem started: coordinator {coord}, pnodes {', '.join(nodes)}\n", ""

    @staticmethod
    def _init_pnodes(distem: DistemEmulator, nodes: list[str]) -> None:
        c = distem.coordinator
        with c.lock:
            for n in nodes:
                c.pnodes.setdefault(n, {"id": c._next_id(), "address": n, "hostname": n, "status": "RUNNING",
                                        "algorithms": {"cpu": "hogs"}, "memory": {}, "cpu": {}})

    # -- nodes ending ----------------------------------------------------------------------------
    def _on_nodes(self, event: str, nodes: Any, removed: list[str]) -> None:
        gone = {n.fqdn for n in nodes}
        with self._lock:
            ended = [self.coordinators.pop(c) for c in list(self.coordinators) if c in gone]
            others = [d for d, _ in self.coordinators.values()]
        for distem in others:  # vnodes of a pnode that went are down, and the pnode gone
            c = distem.coordinator
            with c.lock:
                for v in c.vnodes.values():
                    if v["host"] in gone:
                        v["status"] = "DOWN"
                for p in gone:
                    c.pnodes.pop(p, None)
        if ended:  # stopping joins threads: not under the emulator's lock
            threading.Thread(target=self._stop, args=(ended,), daemon=True).start()

    @staticmethod
    def _stop(ended: list[tuple[DistemEmulator, TcpRelay]]) -> None:
        for distem, relay in ended:
            relay.close()
            distem.stop()

    def running(self) -> list[str]:
        """The coordinators running now."""
        with self._lock:
            return sorted(self.coordinators)

    def close(self) -> None:
        """Stop every coordinator."""
        with self._lock:
            ended, self.coordinators = list(self.coordinators.values()), {}
        self._stop(ended)


def attach(emu: Any, faults: dict[str, Any] | None = None) -> DistemOnG5k:
    """Install ``distem-bootstrap`` on the nodes of a started Grid'5000 emulator (netns backend),
    before nodes start; ``faults``: knobs of the coordinators it will start."""
    return DistemOnG5k(emu, faults)
