"""The emulated testbed's inventory: sites, their nodes (boards, A8 Linux nodes), node states.

A layout is ``{site: {kind: count}}`` (``{"grenoble": {"m3": 6, "a8": 2}}``); kinds map to
IoT-LAB architectures (:data:`ARCHIS`). Robots (mobile nodes) are not emulated.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Mapping

DOMAIN = "iot-lab.info"
ARCHIS = {
    "m3": "m3:at86rf231",
    "a8": "a8:at86rf231",
    "nrf52dk": "nrf52dk:ble",
    "nrf52840dk": "nrf52840dk:multi",
    "samr21": "samr21:at86rf233",
}
LINUX_KINDS = ("a8",)  # nodes running Linux with an sshd: real SSH hosts behind the frontend
HARDWARE_STATES = ("Alive", "Absent", "Suspected", "Dead")
DEFAULT_LAYOUT: dict[str, dict[str, int]] = {
    "grenoble": {"m3": 8, "a8": 2, "nrf52dk": 2},
    "lille": {"m3": 4, "a8": 1},
    "strasbourg": {"m3": 4},
}


@dataclass
class Node:
    """One node of the testbed and what runs on it."""

    network_address: str
    site: str
    kind: str
    number: int
    uid: str
    state: str = "Alive"  # hardware state: Alive, Absent, Suspected, Dead
    powered: bool = True
    firmware: str | None = None  # name of the firmware flashed (None: the idle one)
    profile: dict[str, Any] | None = None
    boots: int = 0  # incremented at every start/reset/flash: the board's firmware restarts
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def archi(self) -> str:
        return ARCHIS[self.kind]

    @property
    def alias(self) -> str:
        return f"{self.kind}-{self.number}"

    @property
    def linux(self) -> bool:
        return self.kind in LINUX_KINDS

    @property
    def ssh_name(self) -> str:
        return f"node-{self.network_address}"

    def to_api(self, busy: bool) -> dict[str, Any]:
        state = "Busy" if busy and self.state == "Alive" else self.state
        n = self.number
        return {"network_address": self.network_address, "site": self.site, "archi": self.archi, "state": state,
                "uid": self.uid, "x": f"{n * 1.1:.2f}", "y": f"{(n % 7) * 2.3:.2f}", "z": "2.63",
                "mobile": 0, "mobility_type": " ", "camera": None, "production": "YES"}


class Testbed:
    """Every node, by site; thread-safe look-ups."""

    def __init__(self, layout: Mapping[str, Mapping[str, int]] | None = None) -> None:
        layout = DEFAULT_LAYOUT if layout is None else layout
        self.lock = threading.RLock()
        self.sites: dict[str, list[Node]] = {}
        self.by_address: dict[str, Node] = {}
        for s_index, (site, kinds) in enumerate(layout.items()):
            nodes = []
            for kind, count in kinds.items():
                if kind not in ARCHIS:
                    raise ValueError(f"unknown node kind {kind!r} on {site} (known: {', '.join(ARCHIS)})")
                for n in range(1, int(count) + 1):
                    node = Node(f"{kind}-{n}.{site}.{DOMAIN}", site, kind, n,
                                uid=f"{(s_index * 4096 + len(nodes) + 1):04x}")
                    nodes.append(node)
                    self.by_address[node.network_address] = node
            self.sites[site] = nodes

    def node(self, address: str) -> Node | None:
        return self.by_address.get(address)

    def nodes(self, site: str | None = None, archi: str | None = None, state: str | None = None) -> list[Node]:
        out = []
        for s, nodes in self.sites.items():
            if site and s != site:
                continue
            for n in nodes:
                if archi and archi not in (n.archi, n.kind):
                    continue
                if state and n.state != state:
                    continue
                out.append(n)
        return out

    def boards(self, site: str) -> list[Node]:
        """The site's nodes without Linux: their serial ports live on the frontend."""
        return [n for n in self.sites.get(site, []) if not n.linux]

    def frontend(self, site: str) -> str:
        return f"{site}.{DOMAIN}"
