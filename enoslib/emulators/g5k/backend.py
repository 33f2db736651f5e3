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

import hashlib
import ipaddress
import os
import shutil
import threading
import time
from collections.abc import Sequence
from typing import Any

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
        lines = [f"# Grid'5000 emulator nodes ({self.kind} backend)"]
        opts = self.ssh_options()
        for node in self.up.values():
            host, _, domain = node.fqdn.partition(".")
            for k, nic in enumerate(self.nics(node)):
                addr = self.address(node, nic)
                if addr is None:
                    continue
                vlan = self.plugged.get((node.fqdn, nic), DEFAULT)
                base = host if k == 0 else f"{host}-{nic}"
                names = (
                    [f"{base}.{domain}"] if vlan == DEFAULT else [f"{base}-kavlan-{vlan}.{domain}"]
                )
                if k == 0 and vlan == DEFAULT:
                    names.append(host)
                lines.append(f"Host {' '.join(names)}")
                lines.append(f"    HostName {addr}")
                lines.append(f"    User {self.ssh_user()}")
                lines.extend(f"    {o}" for o in opts)
        return "\n".join(lines) + "\n"


class AddressOnlyBackend(NodeBackend):
    """Addresses only: nothing is created, the reference addresses are reported."""

    kind = "address"


def namespace_backend_available() -> tuple[bool, str]:
    """(usable, why not) for :class:`NamespaceBackend` on this machine."""
    if os.geteuid() != 0:
        return False, "not root"
    for tool in ("ip", "sshd"):
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            return False, f"{tool} not found"
    try:
        from enoslib.nodes import NamespaceLab  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - ImportError, or the harness not ready
        return False, f"enoslib.nodes unavailable: {exc}"
    return True, ""


class NamespaceBackend(NodeBackend):
    """Nodes as network namespaces with sshd, via :class:`enoslib.nodes.NamespaceLab`."""

    kind = "netns"

    def __init__(
        self,
        ref: ReferenceData,
        lab: Any = None,
        name: str | None = None,
        state_dir: str | None = None,
    ) -> None:
        super().__init__(ref)
        self._own_lab = lab is None
        if lab is None:
            from enoslib.nodes import NamespaceLab

            # lab names are [a-z0-9-]{1,12} and unique on the machine
            tag = hashlib.sha1(f"{os.getpid()}/{time.time_ns()}/{id(self)}".encode()).hexdigest()
            lab = NamespaceLab(name=name or f"g5k-{tag[:8]}", state_dir=state_dir)
        self.lab = lab
        self._lock = threading.RLock()
        self._nets: dict[str, str] = {}  # our network key -> lab network name
        self._placeholders = 0

    def ssh_user(self) -> str:
        nodes = self.lab.nodes
        return next(iter(nodes.values())).user if nodes else "root"

    def ssh_options(self) -> list[str]:
        out, opts = [], list(self.lab.ssh_options())
        while opts:
            flag = opts.pop(0)
            value = opts.pop(0) if opts else ""
            if flag == "-i":
                out.append(f"IdentityFile {value}")
            elif flag == "-o" and "=" in value:
                key, _, val = value.partition("=")
                out.append(f"{key} {val}")
        return out

    def address(self, node: NodeRef, nic: str | None = None) -> str | None:
        info = self.lab.nodes.get(node.fqdn)
        if info is None:
            return None
        nics = self.nics(node)
        k = nics.index(nic) if nic in nics else 0
        itf = list(info.interfaces.values())[k] if k < len(info.interfaces) else None
        return itf["address"].split("/")[0] if itf else None

    # -- networks -------------------------------------------------------------
    def _network(self, site: str, vlan: str) -> str:
        if vlan != DEFAULT and self.ref.is_global(vlan):
            # one bridge for every site's NICs, on the owning site's network
            site = self.ref.vlan_site(vlan) or site
        key = f"{'prod' if vlan == DEFAULT else 'kavlan-' + vlan}-{site}"
        if key not in self._nets:
            kav = self.ref.sites[site]["kavlans"]["default" if vlan == DEFAULT else vlan]
            self.lab.add_bridge(key, kav["network"])
            self._nets[key] = key
        return self._nets[key]

    def _placeholder(self, site: str, k: int) -> str:
        key = f"unplugged{k}-{site}"
        if key not in self._nets:
            pool = list(PLACEHOLDER_BASE.subnets(new_prefix=PLACEHOLDER_PREFIX))
            if self._placeholders >= len(pool):
                raise RuntimeError(f"too many placeholder networks (max {len(pool)})")
            cidr = pool[self._placeholders]
            self._placeholders += 1
            self.lab.add_bridge(key, str(cidr))
            self._nets[key] = key
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
                # Every NIC starts on a placeholder bridge (the lab picks addresses itself);
                # then the primary one moves to the production bridge with its real address.
                nets = [self._placeholder(site, k) for k in range(count)]
                prod = self._network(site, DEFAULT)
                self.lab.add_nodes([n.fqdn for n in group], networks=nets)
                try:
                    for n in group:
                        self.up[n.fqdn] = n
                        self.lab.move_interface(
                            n.fqdn, nets[0], prod, address=self.ref.primary_ip(n)
                        )
                except BaseException:
                    self.stop(group)
                    raise

    def stop(self, nodes: Sequence[NodeRef]) -> None:
        with self._lock:
            errors = []
            for n in nodes:
                if n.fqdn in self.lab.nodes:
                    try:
                        self.lab.remove_node(n.fqdn)
                    except Exception as exc:  # noqa: BLE001 - keep removing the others
                        errors.append(f"{n.fqdn}: {exc}")
            super().stop(nodes)
            if errors:
                raise RuntimeError("; ".join(errors))

    def reset(self, node: NodeRef) -> None:
        with self._lock:
            if node.fqdn in self.up:
                self.lab.reset_node(node.fqdn)

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
                self.lab.move_interface(node.fqdn, before, after, address=address)

    def close(self) -> None:
        with self._lock:
            try:
                super().close()
            finally:
                self.up.clear()
                if self._own_lab:
                    self.lab.destroy()


def make_backend(kind: str, ref: ReferenceData, lab: Any = None) -> NodeBackend:
    """``"address"``, ``"netns"`` or ``"auto"`` (netns when root and available)."""
    if kind == "address":
        return AddressOnlyBackend(ref)
    if kind == "netns":
        ok, why = namespace_backend_available()
        if not ok and lab is None:
            raise RuntimeError(f"namespace backend unavailable: {why}")
        return NamespaceBackend(ref, lab=lab)
    if kind == "auto":
        ok, _ = namespace_backend_available()
        return NamespaceBackend(ref, lab=lab) if ok or lab is not None else AddressOnlyBackend(ref)
    raise ValueError(f"unknown backend {kind!r} (auto, netns or address)")
