"""Node backends: what a reserved node *is* while its job runs.

* :class:`AddressOnlyBackend` -- bookkeeping only: a node "is" the address the
  reference API gives it (nothing answers there). Works anywhere.
* :class:`NamespaceBackend` -- every node of a launching/running job becomes a
  real SSH host (network namespace + sshd, hostname = node fqdn) built with
  :mod:`enoslib.nodes`; its primary NIC sits on a per-site production bridge
  with the reference address (``paravance-1.rennes.grid5000.fr`` ->
  ``172.16.97.1``), KaVLAN moves re-plug NICs onto per-vlan bridges with the
  node's kavlan address (per site, but one bridge for a global vlan, whatever
  the nodes' sites), a deployment resets the node, and the node is
  destroyed when its job ends. Needs root.

Clients reach nodes by name through :meth:`NodeBackend.ssh_config`.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Sequence
from typing import Any

from ..kit.nodes import NetnsHosts, make_hosts, netns_available, render_ssh_config
from .reference import NodeRef, ReferenceData

__all__ = [
    "AddressOnlyBackend",
    "NamespaceBackend",
    "NodeBackend",
    "make_backend",
    "namespace_backend_available",
]

DEFAULT = "DEFAULT"
# Placeholder networks for NICs not plugged anywhere yet: a private range no
# generated Grid'5000 network uses (the lab only accepts private ranges).
PLACEHOLDER_BASE = ipaddress.ip_network("10.255.0.0/16")
PLACEHOLDER_PREFIX = 20


class NodeBackend:
    """Tracks which nodes are up and where each NIC is plugged; subclasses make it real."""

    kind = "base"

    def __init__(self, ref: ReferenceData) -> None:
        self.ref = ref
        self.up: dict[str, NodeRef] = {}  # fqdn -> node
        self.plugged: dict[tuple[str, str], str] = {}  # (fqdn, nic) -> vlan id or DEFAULT

    # -- what clients see ---------------------------------------------------
    def nics(self, node: NodeRef) -> list[str]:
        """Devices of the node's mountable, non-management Ethernet NICs (primary first)."""
        return [
            a["device"]
            for a in self.ref.node(node)["network_adapters"]
            if a.get("mountable") and not a.get("management") and a.get("interface") == "Ethernet"
        ]

    def reported_address(self, node: NodeRef, nic: str | None = None) -> str | None:
        """The address the reference API announces for this NIC in its current vlan."""
        nics = self.nics(node)
        nic = nic or (nics[0] if nics else "eth0")
        vlan = self.plugged.get((node.fqdn, nic), DEFAULT)
        if vlan == DEFAULT:
            return self.ref.primary_ip(node) if nics and nic == nics[0] else None
        return self.ref.vlan_ip(node, vlan, nic)

    def address(self, node: NodeRef, nic: str | None = None) -> str | None:
        """Where to reach the NIC now (None if it has no address)."""
        return self.reported_address(node, nic)

    def ssh_user(self) -> str:
        return "root"

    def ssh_options(self) -> list[str]:
        return []

    # -- life cycle ---------------------------------------------------------
    def start(self, nodes: Sequence[NodeRef]) -> None:
        for n in nodes:
            self.up[n.fqdn] = n

    def stop(self, nodes: Sequence[NodeRef]) -> None:
        for n in nodes:
            self.up.pop(n.fqdn, None)
            for key in [k for k in self.plugged if k[0] == n.fqdn]:
                del self.plugged[key]

    def reset(self, node: NodeRef) -> None:
        """A deployment ended OK on this node."""

    def plug(self, node: NodeRef, nic: str, vlan: str) -> None:
        """Move a NIC into vlan ``vlan`` (or ``DEFAULT``)."""
        if vlan == DEFAULT:
            self.plugged.pop((node.fqdn, nic), None)
        else:
            self.plugged[(node.fqdn, nic)] = vlan

    def close(self) -> None:
        self.stop(list(self.up.values()))

    # -- ssh_config -----------------------------------------------------------
    def ssh_config(self) -> str:
        """``Host <name>`` / ``HostName <address>`` stanzas for every NIC of every up node."""
        entries: list[tuple[list[str], str | None]] = []
        for node in self.up.values():
            host, _, domain = node.fqdn.partition(".")
            for k, nic in enumerate(self.nics(node)):
                vlan = self.plugged.get((node.fqdn, nic), DEFAULT)
                base = host if k == 0 else f"{host}-{nic}"
                names = (
                    [f"{base}.{domain}"] if vlan == DEFAULT else [f"{base}-kavlan-{vlan}.{domain}"]
                )
                if k == 0 and vlan == DEFAULT:
                    names.append(host)
                entries.append((names, self.address(node, nic)))
        return render_ssh_config(
            entries,
            self.ssh_user(),
            self.ssh_options(),
            header=f"# Grid'5000 emulator nodes ({self.kind} backend)",
        )


class AddressOnlyBackend(NodeBackend):
    """Addresses only: nothing is created, the reference addresses are reported."""

    kind = "address"


def namespace_backend_available() -> tuple[bool, str]:
    """(usable, why not) for :class:`NamespaceBackend` on this machine."""
    return netns_available()


class NamespaceBackend(NodeBackend):
    """Nodes as network namespaces with sshd, via the kit's :class:`~..kit.nodes.NetnsHosts`."""

    kind = "netns"

    def __init__(
        self,
        ref: ReferenceData,
        lab: Any = None,
        name: str | None = None,
        state_dir: str | None = None,
        hosts: NetnsHosts | None = None,
    ) -> None:
        super().__init__(ref)
        self.hosts = hosts or NetnsHosts(lab, tag="g5k", name=name, state_dir=state_dir)
        self.lab = self.hosts.lab
        self._lock = threading.RLock()
        self._placeholders: dict[str, str] = {}  # our network key -> lab network name

    def ssh_user(self) -> str:
        return self.hosts.ssh_user()

    def ssh_options(self) -> list[str]:
        return self.hosts.ssh_options()

    def address(self, node: NodeRef, nic: str | None = None) -> str | None:
        itfs = self.hosts.interfaces(node.fqdn)
        if not itfs:
            return None
        nics = self.nics(node)
        k = nics.index(nic) if nic in nics else 0
        return itfs[k][1] if k < len(itfs) else None

    # -- networks -------------------------------------------------------------
    def _network(self, site: str, vlan: str) -> str:
        if vlan != DEFAULT and self.ref.is_global(vlan):
            # one bridge for every site's NICs, on the owning site's network
            site = self.ref.vlan_site(vlan) or site
        key = f"{'prod' if vlan == DEFAULT else 'kavlan-' + vlan}-{site}"
        if key not in self.hosts.networks:
            kav = self.ref.sites[site]["kavlans"]["default" if vlan == DEFAULT else vlan]
            self.hosts.add_network(key, kav["network"])
        return key

    def _placeholder(self, site: str, k: int) -> str:
        key = f"unplugged{k}-{site}"
        if key not in self.hosts.networks:
            pool = list(PLACEHOLDER_BASE.subnets(new_prefix=PLACEHOLDER_PREFIX))
            if len(self._placeholders) >= len(pool):
                raise RuntimeError(f"too many placeholder networks (max {len(pool)})")
            cidr = pool[len(self._placeholders)]
            self._placeholders[key] = str(cidr)
            self.hosts.add_network(key, str(cidr))
        return key

    def _where(self, node: NodeRef, k: int, nic: str) -> str:
        vlan = self.plugged.get((node.fqdn, nic), DEFAULT)
        if vlan != DEFAULT:
            return self._network(node.site, vlan)
        return self._network(node.site, DEFAULT) if k == 0 else self._placeholder(node.site, k)

    # -- life cycle -------------------------------------------------------------
    def start(self, nodes: Sequence[NodeRef]) -> None:
        with self._lock:
            todo = [n for n in nodes if n.fqdn not in self.up]
            by_shape: dict[tuple[str, int], list[NodeRef]] = {}
            for n in todo:
                by_shape.setdefault((n.site, len(self.nics(n)) or 1), []).append(n)
            for (site, count), group in by_shape.items():
                # the primary NIC on the production bridge with its reference address,
                # the others on placeholder bridges until a KaVLAN move plugs them
                nets = [self._network(site, DEFAULT)]
                nets += [self._placeholder(site, k) for k in range(1, count)]
                addresses = {n.fqdn: {nets[0]: self.ref.primary_ip(n)} for n in group}
                self.hosts.add_hosts([n.fqdn for n in group], nets, addresses)
                for n in group:
                    self.up[n.fqdn] = n

    def stop(self, nodes: Sequence[NodeRef]) -> None:
        with self._lock:
            try:
                self.hosts.remove_hosts([n.fqdn for n in nodes])
            finally:
                super().stop(nodes)

    def reset(self, node: NodeRef) -> None:
        with self._lock:
            if node.fqdn in self.up:
                self.hosts.reset(node.fqdn)

    def plug(self, node: NodeRef, nic: str, vlan: str) -> None:
        with self._lock:
            nics = self.nics(node)
            if node.fqdn not in self.up or nic not in nics:
                super().plug(node, nic, vlan)
                return
            k = nics.index(nic)
            before = self._where(node, k, nic)
            super().plug(node, nic, vlan)
            after = self._where(node, k, nic)
            if before != after:
                address = self.reported_address(node, nic)
                self.hosts.move(node.fqdn, before, after, address=address)

    def close(self) -> None:
        with self._lock:
            try:
                super().close()
            finally:
                self.up.clear()
                self.hosts.close()


def make_backend(kind: str, ref: ReferenceData, lab: Any = None) -> NodeBackend:
    """``"address"``, ``"netns"`` or ``"auto"`` (netns when root and available)."""
    hosts = make_hosts(kind, lab, tag="g5k")
    if isinstance(hosts, NetnsHosts):
        return NamespaceBackend(ref, hosts=hosts)
    return AddressOnlyBackend(ref)
