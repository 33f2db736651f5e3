"""Reference API data: sites, clusters, nodes, servers.

:func:`legacy_dataset` builds a generated Grid'5000-shaped dataset
(rennes/paravance+parasilo+roazhon4, nancy/grisou+gros+graffiti,
lyon/nova+pyxis; the emulator's default is the real reference of
:mod:`.realdata`); :func:`make_dataset` builds any layout from a
``{site: {cluster: n_nodes}}`` mapping (known cluster names get their real
shape, others a generic x86 one); :meth:`ReferenceData.from_snapshot` loads
a JSON dump (the shape ``GET /?deep=1`` returns, or python-grid5000's
``dump_ref_api()``).

Addresses are derived, not random: node ``i`` of the ``c``-th cluster of a
site (c from 0) gets ``<network> + (c+1)*256 + i`` in the production network
(secondary NICs and vlans shift ``c`` further), so the same name always maps
to the same address and the network's first /24 is never a node's.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .shapes import CLUSTER_SHAPES, DEFAULT_LAYOUT, GENERIC_SHAPE, SITE_NETWORKS, ClusterShape

__all__ = [
    "CLUSTER_SHAPES",
    "DEFAULT_LAYOUT",
    "ClusterShape",
    "NodeRef",
    "ReferenceData",
    "legacy_dataset",
    "make_dataset",
    "natural_key",
    "vlan_type",
]

DOMAIN = "grid5000.fr"
REF_VERSION = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"


def natural_key(name: str) -> tuple:
    """Sort key putting ``paravance-2`` before ``paravance-10``."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def vlan_type(vlan_id: int) -> str:
    """KaVLAN type by Grid'5000 numbering convention (1-3 local, 4-9 routed, else global)."""
    if 1 <= vlan_id <= 3:
        return "kavlan-local"
    if 4 <= vlan_id <= 9:
        return "kavlan"
    return "kavlan-global"


@dataclass(frozen=True)
class NodeRef:
    """Where a node lives: ``site``, ``cluster``, short ``uid`` and ``fqdn``."""

    site: str
    cluster: str
    uid: str
    fqdn: str


def _link(href: str, rel: str = "self", kind: str = "item") -> dict[str, str]:
    return {"rel": rel, "href": href, "type": f"application/vnd.grid5000.{kind}+json"}


def _addr(network: str, offset: int) -> str | None:
    net = ipaddress.ip_network(network)
    return str(net.network_address + offset) if 0 < offset < net.num_addresses - 1 else None


def _mac(*parts: object) -> str:
    digest = hashlib.sha1("/".join(map(str, parts)).encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


def _site_networks(site: str, position: int) -> dict[str, Any]:
    if site in SITE_NETWORKS:
        return SITE_NETWORKS[site]
    k = 3 + position  # keep clear of the three known sites
    return {
        "index": k,
        "prod": f"172.16.{(k * 16) % 256}.0/20",
        "subnet": f"10.{100 + 4 * k}.0.0/14",
        "kavlan": f"10.{40 + 4 * k}.0.0/14",
        "global": 17 + k,
        "name": site.capitalize(),
    }


def _site_json(site: str, position: int, prefix: str) -> dict[str, Any]:
    nets = _site_networks(site, position)
    routed = list(ipaddress.IPv4Network(nets["kavlan"]).subnets(new_prefix=18))
    # Local vlans are 192.168.192.0/20... on every real site; we give each site its own
    # /20s (rennes keeps the real ones) so namespace-backed labs of several sites never overlap.
    local_base = int(ipaddress.ip_address("192.168.192.0")) - (nets["index"] % 5) * 3 * 4096
    kavlans: dict[str, dict[str, str]] = {}
    prod = ipaddress.ip_network(nets["prod"])
    kavlans["default"] = {"network": str(prod), "gateway": str(prod.broadcast_address - 1)}
    for vid in (1, 2, 3):
        net = ipaddress.IPv4Network((local_base + (vid - 1) * 4096, 20))
        kavlans[str(vid)] = {"network": str(net), "gateway": str(net.broadcast_address - 1)}
    for j, vid in enumerate(range(4, 10)):
        kavlans[str(vid)] = {
            "network": str(routed[j]),
            "gateway": str(routed[j].broadcast_address - 1),
        }
    gnet = routed[6]
    kavlans[str(nets["global"])] = {
        "network": str(gnet),
        "gateway": str(gnet.broadcast_address - 1),
    }
    subnet = ipaddress.ip_network(nets["subnet"])
    return {
        "uid": site,
        "type": "site",
        "name": nets["name"],
        "description": f"Grid'5000 {nets['name']} site (emulated)",
        "email_contact": f"{site}-staff@lists.{DOMAIN}",
        "frontend_ip": str(prod.network_address + 4095 - 10),
        "latitude": 48.0 - nets["index"],
        "longitude": 1.0 + nets["index"],
        "location": f"{nets['name']}, France",
        "production": True,
        "kavlans": kavlans,
        "kavlan_ip_range": nets["kavlan"],
        "g5ksubnet": {"network": str(subnet), "gateway": str(subnet.broadcast_address - 1)},
        "virt_ip_range": str(subnet),
        "ipv6": {
            "site_index": 0x10 + nets["index"],
            "prefix": f"2001:660:4406:{0x700 + nets['index'] * 0x100:x}::/56",
        },
        "web": f"https://www.{DOMAIN}/w/{nets['name']}:Home",
        "links": [
            _link(f"{prefix}/sites/{site}"),
            _link(f"{prefix}/sites/{site}/clusters", "clusters", "collection"),
        ],
    }


def _node_json(
    site: dict[str, Any],
    cluster: str,
    ci: int,
    n_clusters: int,
    i: int,
    shape: ClusterShape,
    prefix: str,
) -> dict[str, Any]:
    uid = f"{cluster}-{i}"
    fqdn = f"{uid}.{site['uid']}.{DOMAIN}"
    prod = site["kavlans"]["default"]["network"]
    v6prefix = ipaddress.ip_network(site["ipv6"]["prefix"])
    adapters: list[dict[str, Any]] = []
    kavlan: dict[str, dict[str, str]] = {}
    for n, nic in enumerate(shape.nics):
        primary = n == 0
        ad: dict[str, Any] = {
            "device": nic.device,
            "name": nic.name,
            "interface": "Ethernet",
            "enabled": nic.mountable,
            "mountable": nic.mountable,
            "mounted": primary,
            "management": False,
            "kavlan": nic.kavlan,
            "mac": _mac(fqdn, nic.device),
            "rate": nic.rate,
            "switch": f"gw-{site['uid']}",
            "switch_port": f"port-{ci}-{i}-{n}",
            "vendor": "Intel" if nic.driver.startswith("i") else "Other",
            "model": nic.driver,
            "driver": nic.driver,
            "bridged": False,
            "network_address": fqdn
            if primary
            else (f"{uid}-{nic.device}.{site['uid']}.{DOMAIN}" if nic.mountable else ""),
        }
        if primary:
            # (ci + 1): the first /24 stays free, so a lab bridge may take the first
            # address of the network as its gateway without stealing a node's address
            ad["ip"] = _addr(prod, (ci + 1) * 256 + i)
            ad["ip6"] = str(v6prefix.network_address + (ci << 8) + i)
        adapters.append(ad)
        if nic.kavlan and nic.mountable:
            per_vlan: dict[str, str] = {}
            for vid, net in site["kavlans"].items():
                if vid == "default":
                    continue
                a = _addr(net["network"], (n * n_clusters + ci + 1) * 256 + i)
                if a:
                    per_vlan[f"kavlan-{vid}"] = a
            kavlan[nic.device] = per_vlan
    adapters.append(
        {
            "device": "bmc",
            "interface": "Ethernet",
            "enabled": True,
            "mountable": False,
            "mounted": False,
            "management": True,
            "kavlan": False,
            "mac": _mac(fqdn, "bmc"),
            "network_address": f"{uid}-bmc.{site['uid']}.{DOMAIN}",
            "rate": 1_000_000_000,
        }
    )
    cores = shape.procs * shape.cores_per_proc
    return {
        "uid": uid,
        "type": "node",
        "exotic": shape.exotic,
        "nodeset": cluster,
        "architecture": {
            "nb_cores": cores,
            "nb_threads": cores * shape.threads_per_core,
            "nb_procs": shape.procs,
            "platform_type": shape.platform,
            "cpu_core_numbering": "contiguous",
        },
        "processor": {
            "vendor": shape.cpu_vendor,
            "model": shape.cpu_model,
            "version": shape.cpu_version,
            "clock_speed": shape.clock_speed,
            "ht_capable": shape.threads_per_core > 1,
            "instruction_set": shape.platform,
            "other_description": f"{shape.cpu_model} @ {shape.clock_speed / 1e9:.2f}GHz",
        },
        "main_memory": {"ram_size": shape.ram_gib * 1024**3, "virtual_size": None},
        "network_adapters": adapters,
        "kavlan": kavlan,
        "storage_devices": [
            {
                "device": d,
                "by_id": f"/dev/disk/by-id/wwn-{_mac(fqdn, d)}",
                "by_path": f"/dev/disk/by-path/pci-0000:00:1f.2-ata-{k + 1}",
                "size": size,
                "storage": kind,
                "interface": "SATA",
                "vendor": "Generic",
                "model": f"{kind}-{size // 10**9}G",
                "reservation": k > 0,
            }
            for k, (d, size, kind) in enumerate(shape.disks)
        ],
        "gpu_devices": {
            f"nvidia{g}": {
                "vendor": "Nvidia",
                "model": "GeForce GTX 1080 Ti",
                "device": f"/dev/nvidia{g}",
            }
            for g in range(shape.gpus)
        },
        "supported_job_types": {
            "deploy": True,
            "besteffort": True,
            "max_walltime": 0,
            "queues": list(shape.queues),
            "virtual": "ivt",
        },
        "operating_system": {"ht_enabled": True, "pstate_driver": "intel_pstate"},
        "bios": {"vendor": "Dell Inc.", "version": "2.4.3"},
        "chassis": {
            "manufacturer": shape.model.split()[0],
            "name": shape.model,
            "serial": hashlib.sha1(fqdn.encode()).hexdigest()[:7].upper(),
        },
        "links": [_link(f"{prefix}/sites/{site['uid']}/clusters/{cluster}/nodes/{uid}")],
    }


@dataclass
class ReferenceData:
    """The whole reference API, as plain JSON-ready dicts, plus name indexes."""

    sites: dict[str, dict[str, Any]] = field(default_factory=dict)
    clusters: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    nodes: dict[str, dict[str, dict[str, dict[str, Any]]]] = field(default_factory=dict)
    servers: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    pdus: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: real hosts name their NICs as the reference's ``name`` (eno1...), else eth0...
    kernel_names: bool = False

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        """Rebuild the fqdn index (call after editing the dicts by hand)."""
        self._by_fqdn: dict[str, NodeRef] = {}
        self._by_uid: dict[str, NodeRef] = {}
        for site, clusters in self.nodes.items():
            for cluster, nodes in clusters.items():
                for uid in nodes:
                    ref = NodeRef(site, cluster, uid, f"{uid}.{site}.{DOMAIN}")
                    self._by_fqdn[ref.fqdn] = ref
                    self._by_uid.setdefault(uid, ref)
        self._global_tables: dict[str, dict[tuple[str, str], str]] = {}

    # ---- lookups -------------------------------------------------------
    def node_refs(self, site: str | None = None) -> Iterator[NodeRef]:
        """Every node (of one site), in cluster then natural order."""
        for ref in self._by_fqdn.values():
            if site is None or ref.site == site:
                yield ref

    def node(self, ref: NodeRef) -> dict[str, Any]:
        return self.nodes[ref.site][ref.cluster][ref.uid]

    def cluster_of(self, ref: NodeRef) -> dict[str, Any]:
        return self.clusters[ref.site][ref.cluster]

    def resolve(self, name: str) -> tuple[NodeRef, str | None, str | None] | None:
        """Map any node name form to ``(node, nic_device, vlan_id)``.

        Accepts ``paravance-1``, ``paravance-1.rennes.grid5000.fr``,
        ``paravance-1-eth1.rennes...``, ``paravance-1-kavlan-4.rennes...``,
        ``paravance-1-eth1-kavlan-4.rennes...`` and ``paravance-1-ipv6.rennes...``.
        Returns None for unknown names.
        """
        host, _, domain = name.partition(".")
        site = domain.split(".")[0] if domain else None
        m = re.fullmatch(r"(.+?)(?:-(eth\d+|ib\d+))?(?:-kavlan-(\d+))?(?:-ipv6)?", host)
        if not m:
            return None
        uid, nic, vlan = m.group(1), m.group(2), m.group(3)
        ref = self._by_fqdn.get(f"{uid}.{site}.{DOMAIN}") if site else self._by_uid.get(uid)
        if ref is None:
            return None
        return ref, nic, vlan

    def primary_ip(self, ref: NodeRef) -> str | None:
        """The address of the node's primary (mounted Ethernet) NIC."""
        adapters = self.node(ref)["network_adapters"]
        for a in adapters:
            if a.get("mounted") and a.get("interface") == "Ethernet" and not a.get("management"):
                return a.get("ip")
        return adapters[0].get("ip") if adapters else None

    def vlan_site(self, vlan: str) -> str | None:
        """The site whose kavlan pool defines ``vlan`` (None if no site does)."""
        return next((s for s, js in self.sites.items() if str(vlan) in js.get("kavlans", {})), None)

    @staticmethod
    def is_global(vlan: str) -> bool:
        return str(vlan).isdigit() and vlan_type(int(vlan)) == "kavlan-global"

    def vlan_ip(self, ref: NodeRef, vlan: str, nic: str = "eth0") -> str | None:
        """The NIC's address in ``vlan``; global vlans of other sites included."""
        own = self.node(ref).get("kavlan", {}).get(nic, {}).get(f"kavlan-{vlan}")
        if own or not self.is_global(vlan):
            return own
        owner = self.vlan_site(vlan)
        if owner is None or owner == ref.site:
            return own
        return self._global_table(str(vlan)).get((ref.fqdn, nic))

    def _global_table(self, vlan: str) -> dict[tuple[str, str], str]:
        """Addresses of other sites' NICs in the global vlan ``vlan``.

        A global vlan spans every site but its network is the owning site's:
        its own nodes keep their reference addresses, the kavlan-capable NICs
        of other sites' nodes take the next free addresses after the network's
        first /24 (no .0 / .255), in site / cluster / node / NIC order (never a clash).
        """
        table = self._global_tables.get(vlan)
        if table is not None:
            return table
        table = {}
        owner = self.vlan_site(vlan)
        if owner is not None:
            net = ipaddress.ip_network(self.sites[owner]["kavlans"][vlan]["network"])
            taken = {str(net.broadcast_address - 1)}
            gateway = self.sites[owner]["kavlans"][vlan].get("gateway")
            if gateway:
                taken.add(str(gateway))
            for r in self.node_refs(owner):
                for per_vlan in self.node(r).get("kavlan", {}).values():
                    if per_vlan.get(f"kavlan-{vlan}"):
                        taken.add(per_vlan[f"kavlan-{vlan}"])
            candidates = (
                str(net.network_address + k)
                for k in range(256, net.num_addresses - 1)
                if k % 256 not in (0, 255) and str(net.network_address + k) not in taken
            )
            for r in self.node_refs():
                if r.site == owner:
                    continue
                for a in self.node(r).get("network_adapters", []):
                    if a.get("kavlan") and a.get("mountable") and not a.get("management"):
                        addr = next(candidates, None)
                        if addr is None:
                            break
                        table[(r.fqdn, a["device"])] = addr
        self._global_tables[vlan] = table
        return table

    def add_foreign_global_addresses(self) -> None:
        """Write other sites' global vlan addresses into every node's ``kavlan`` map."""
        globals_ = [
            (s, v)
            for s, js in self.sites.items()
            for v in js.get("kavlans", {})
            if self.is_global(v)
        ]
        tables = {v: self._global_table(v) for _, v in globals_}
        for r in self.node_refs():
            per_nic = self.node(r).get("kavlan")
            if per_nic is None:
                continue
            for owner, v in globals_:
                if owner == r.site:
                    continue
                for nic, per_vlan in per_nic.items():
                    addr = tables[v].get((r.fqdn, nic))
                    if addr:
                        per_vlan.setdefault(f"kavlan-{v}", addr)

    # ---- snapshots ------------------------------------------------------
    def to_snapshot(self) -> dict[str, Any]:
        """Nested dict shaped like ``GET /?deep=1`` (python-grid5000's ``Grid5000Offline`` reads it)."""
        sites = {}
        for s, site in self.sites.items():
            d = copy.deepcopy(site)
            d["clusters"] = {}
            for c, cl in self.clusters.get(s, {}).items():
                cd = copy.deepcopy(cl)
                cd["nodes"] = copy.deepcopy(self.nodes.get(s, {}).get(c, {}))
                d["clusters"][c] = cd
            d["servers"] = copy.deepcopy(self.servers.get(s, {}))
            if self.pdus.get(s):
                d["pdus"] = copy.deepcopy(self.pdus[s])
            sites[s] = d
        return {
            "items": {"sites": sites},
            "uid": "grid5000",
            "type": "grid",
            "version": REF_VERSION,
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(json.dumps(self.to_snapshot(), indent=1))

    @classmethod
    def from_snapshot(cls, data: Mapping[str, Any] | str | os.PathLike[str]) -> ReferenceData:
        """Load a dump: a dict, or a path to a JSON file.

        Collections may be dicts keyed by uid or lists of items with ``uid``;
        the top level may be ``{"items": {"sites": ...}}`` or ``{"sites": ...}``.
        """
        loaded: Mapping[str, Any] = (
            data if isinstance(data, Mapping) else json.loads(Path(data).read_text())
        )
        root = loaded.get("items", loaded)

        def items(coll: Any) -> dict[str, dict[str, Any]]:
            if coll is None:
                return {}
            if isinstance(coll, Mapping) and "items" in coll:
                coll = coll["items"]
            if isinstance(coll, list):
                return {str(x["uid"]): dict(x) for x in coll}
            return {str(k): dict(v) for k, v in coll.items()}

        ref = cls()
        for s, site in items(root.get("sites")).items():
            clusters = items(site.pop("clusters", None))
            servers = items(site.pop("servers", None))
            pdus = items(site.pop("pdus", None))
            for k in [
                k
                for k, v in site.items()
                if isinstance(v, (list, dict))
                and k not in ("kavlans", "g5ksubnet", "ipv6", "links", "compilation_server")
            ]:
                if (
                    isinstance(site[k], dict)
                    and all(isinstance(v, dict) and "uid" in v for v in site[k].values())
                    and site[k]
                ):
                    site.pop(k)  # other nested collections of a deep dump (pdus, ...)
            ref.sites[s] = site
            ref.servers[s] = servers
            ref.pdus[s] = pdus
            ref.clusters[s] = {}
            ref.nodes[s] = {}
            for c, cluster in clusters.items():
                nodes = items(cluster.pop("nodes", None))
                ref.clusters[s][c] = cluster
                ref.nodes[s][c] = dict(sorted(nodes.items(), key=lambda kv: natural_key(kv[0])))
        ref.reindex()
        return ref


def make_dataset(
    layout: Mapping[str, Mapping[str, int] | list[str]] | None = None,
    *,
    nodes_per_cluster: int | None = None,
    prefix: str = "/stable",
    shapes: Mapping[str, ClusterShape] | None = None,
) -> ReferenceData:
    """Build a dataset from ``{site: {cluster: n_nodes}}`` (or ``{site: [cluster, ...]}``).

    A cluster listed without a count gets its real size, capped by
    ``nodes_per_cluster`` when given. Known cluster names (see
    :data:`CLUSTER_SHAPES`) keep their real hardware; ``shapes`` adds or
    overrides shapes.
    """
    layout = DEFAULT_LAYOUT if layout is None else layout
    all_shapes = {**CLUSTER_SHAPES, **(shapes or {})}
    ref = ReferenceData()
    for position, (site, clusters) in enumerate(layout.items()):
        site_js = _site_json(site, position, prefix)
        ref.sites[site] = site_js
        dns_ip = str(
            ipaddress.ip_network(site_js["kavlans"]["default"]["network"]).network_address
            + 4096
            - 20
        )
        ref.servers[site] = {
            "dns": {
                "uid": "dns",
                "type": "server",
                "kind": "virtual",
                "network_adapters": {"default": {"ip": dns_ip}},
                "links": [_link(f"{prefix}/sites/{site}/servers/dns")],
            }
        }
        sizes = dict(clusters) if isinstance(clusters, Mapping) else {c: None for c in clusters}
        ref.clusters[site], ref.nodes[site] = {}, {}
        for ci, (cluster, count) in enumerate(sizes.items()):
            shape = all_shapes.get(cluster, GENERIC_SHAPE)
            n = shape.nodes if count is None else int(count)
            if nodes_per_cluster is not None and count is None:
                n = min(n, nodes_per_cluster)
            if not 0 < n < 255:
                raise ValueError(f"cluster {cluster}: 1..254 nodes supported, got {n}")
            ref.clusters[site][cluster] = {
                "uid": cluster,
                "type": "cluster",
                "model": shape.model,
                "created_at": shape.created_at,
                "kavlan": any(x.kavlan for x in shape.nics),
                "exotic": shape.exotic,
                "queues": list(shape.queues),
                "priority": str(200 - ci),
                "metrics": [
                    {
                        "name": "bmc_node_power_watt",
                        "description": "Power from BMC",
                        "period": 5000,
                        "optional_period": 1000,
                        "scale_factor": 1.0,
                        "source": {"protocol": "ipmi", "id": "power"},
                    }
                ],
                "links": [
                    _link(f"{prefix}/sites/{site}/clusters/{cluster}"),
                    _link(f"{prefix}/sites/{site}/clusters/{cluster}/nodes", "nodes", "collection"),
                ],
            }
            ref.nodes[site][cluster] = {
                f"{cluster}-{i}": _node_json(site_js, cluster, ci, len(sizes), i, shape, prefix)
                for i in range(1, n + 1)
            }
    ref.reindex()
    ref.add_foreign_global_addresses()
    return ref


def legacy_dataset(
    nodes_per_cluster: int | None = None,
    prefix: str = "/stable",
    sites: list[str] | None = None,
) -> ReferenceData:
    """The generated three-site layout of :data:`DEFAULT_LAYOUT` (paravance, grisou...).

    Clusters retired from the testbed, kept for tests written against them (``sites``:
    some of rennes, nancy, lyon); the emulator's default is the real reference
    (:func:`.realdata.real_dataset`).
    """
    layout = {s: DEFAULT_LAYOUT[s] for s in (sites or DEFAULT_LAYOUT)}
    return make_dataset(layout, nodes_per_cluster=nodes_per_cluster, prefix=prefix)
