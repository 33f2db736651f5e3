"""What an ACTIVE server *is*: an address only, or a real SSH host (needs root).

* :class:`AddressOnly` -- bookkeeping: the server has its fixed IP, nothing answers there.
* :class:`NamespaceNodes` -- each ACTIVE server is a network namespace with its own sshd
  (:class:`enoslib.nodes.NamespaceLab`) holding its fixed IP on a bridge per Neutron subnet;
  a floating IP is added to the server's interface and routed from this machine, so SSH to
  the floating IP reaches the gateway server. Log in as ``root`` with :attr:`keyfile`.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
import threading
from typing import Any

__all__ = ["AddressOnly", "NamespaceNodes", "make_backend"]


class AddressOnly:
    """Servers are addresses only: nothing answers there."""
    kind = "address"
    keyfile: str | None = None
    user = "root"

    def up(self, server: dict[str, Any], addresses: dict[str, list[dict[str, Any]]]) -> str | None:
        server["node"] = None
        return None

    def down(self, server: dict[str, Any]) -> None:
        server["node"] = None

    def plug_floating(self, floating: str, fixed: str, server_id: str) -> None:
        return None

    def unplug_floating(self, floating: str) -> None:
        return None

    def close(self) -> None:
        return None


class NamespaceNodes(AddressOnly):
    """Every ACTIVE server is a network namespace with its own sshd (root)."""
    kind = "netns"

    def __init__(self, name: str, subnets: Any) -> None:
        from enoslib.nodes import NamespaceLab

        NamespaceLab.cleanup_all(name)
        self.lab = NamespaceLab(name)
        self.keyfile = self.lab.keyfile
        self._subnets = subnets          # callable: subnet cidr of a fixed IP
        self._nodes: dict[str, str] = {}   # server id -> lab node name
        self._floating: dict[str, tuple[str, str]] = {}   # floating IP -> (node, bridge)
        self._lock = threading.Lock()

    def _node_name(self, server: dict[str, Any]) -> str:
        base = re.sub(r"[^a-z0-9-]", "-", server["name"].lower()).strip("-")[:40] or "vm"
        return f"{base}-{server['id'][:8]}"

    def up(self, server: dict[str, Any], addresses: dict[str, list[dict[str, Any]]]) -> str | None:
        fixed = [(net, e["addr"]) for net, entries in addresses.items() for e in entries
                 if e.get("OS-EXT-IPS:type") == "fixed"]
        if not fixed:
            return "no fixed IP"
        with self._lock:
            nets, wanted = [], {}
            for _, addr in fixed:
                cidr = self._subnets(addr)
                bridge = "n" + cidr.replace(".", "-").replace("/", "_")
                if bridge not in self.lab.bridges:
                    self.lab.add_bridge(bridge, cidr)
                nets.append(bridge)
                prefix = cidr.split("/")[1]
                wanted[bridge] = f"{addr}/{prefix}"
            name = self._node_name(server)
            try:
                self.lab.add_node(name, networks=nets, addresses=wanted)
            except Exception as exc:  # noqa: BLE001 - the server goes to ERROR with the reason
                return f"the host failed to start: {exc}"
            self._nodes[server["id"]] = name
            server["node"] = name
        return None

    def down(self, server: dict[str, Any]) -> None:
        with self._lock:
            name = self._nodes.pop(server["id"], None)
            for fip, (node, _) in list(self._floating.items()):
                if node == name:
                    self._unplug(fip)
            if name and name in self.lab.nodes:
                self.lab.remove_node(name)
        server["node"] = None

    def plug_floating(self, floating: str, fixed: str, server_id: str) -> None:
        with self._lock:
            name = self._nodes.get(server_id)
            if name is None:
                return
            info = self.lab.nodes[name]
            itf = next(i for i in info.interfaces.values() if i["address"].split("/")[0] == fixed)
            net = next(n for n, i in info.interfaces.items() if i is itf)
            bridge = self.lab.bridges[net].ifname
            self.lab.exec(name, ["ip", "addr", "add", f"{floating}/32", "dev", itf["ifname"]], check=True)
            subprocess.run(["ip", "route", "replace", f"{floating}/32", "via", fixed, "dev", str(bridge)],
                           check=True, capture_output=True)
            self._floating[floating] = (name, str(bridge))

    def unplug_floating(self, floating: str) -> None:
        with self._lock:
            self._unplug(floating)

    def _unplug(self, floating: str) -> None:
        entry = self._floating.pop(floating, None)
        if entry is None:
            return
        subprocess.run(["ip", "route", "del", f"{floating}/32"], capture_output=True)
        name = entry[0]
        if name in self.lab.nodes:
            ifname = next(iter(self.lab.nodes[name].interfaces.values()))["ifname"]
            self.lab.exec(name, ["ip", "addr", "del", f"{floating}/32", "dev", ifname])

    def close(self) -> None:
        with self._lock:
            for fip in list(self._floating):
                self._unplug(fip)
            self.lab.destroy()


def make_backend(kind: str, name: str, subnets: Any) -> AddressOnly:
    """The server backend: ``address``, ``netns`` (root) or ``auto``."""
    import os

    if kind == "auto":
        kind = "netns" if os.geteuid() == 0 else "address"
    if kind == "address":
        return AddressOnly()
    if kind == "netns":
        if os.geteuid() != 0:
            raise PermissionError("the netns backend needs root (network namespaces); use backend='address'")
        return NamespaceNodes(name, subnets)
    raise ValueError(f"unknown backend {kind!r}: 'address', 'netns' or 'auto'")


def cidr_of(address: str, cidrs: list[str]) -> str:
    ip = ipaddress.ip_address(address)
    return next(c for c in cidrs if ip in ipaddress.ip_network(c))
