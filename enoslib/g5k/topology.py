"""The Grid'5000 network topology as a networkx graph, execo_g5k.topology style.

Graph nodes: hosts by short name (``kind="node"``, ``power``, ``cores``, ``site``,
``cluster``), network equipments as ``<uid>.<site>`` (``kind="router"`` / ``"switch"``,
``backplane``), their linecards as ``<uid>-lc<i>.<site>`` (``kind="linecard"``, only for
equipments with several linecards in use), RENATER points of presence as ``renater-<site>``
(``kind="renater"``). Edges (keyed by their sorted ends) carry ``bandwidth`` (bit/s),
``active`` (the host adapter is mounted) and, on the backbone, ``latency`` (s).

Everything comes from the reference API (``/sites/<site>/network_equipments``,
``/network_equipments``, nodes), through the same client and cache as :mod:`enoslib.g5k`.

>>> from enoslib.g5k.topology import g5k_graph, treemap   # doctest: +SKIP
>>> gr = g5k_graph(["rennes", "nancy"])                     # doctest: +SKIP
>>> fig = treemap(gr); fig.savefig("g5k.png")               # doctest: +SKIP
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from enoslib.errors import EnosError, EnosMissingExtraError

try:
    import networkx as nx
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise EnosMissingExtraError("networkx", "topology", feature="enoslib.g5k.topology") from exc

from enoslib.g5k.api_utils import (
                                   _backbone,
                                   _site_network,
                                   get_cluster_hosts,
                                   get_g5k_clusters,
                                   get_g5k_sites,
                                   get_host_attributes,
                                   get_host_cluster,
                                   get_host_shortname,
                                   get_host_site,
                                   get_reference,
                                   get_site_hosts,
)
from enoslib.g5k.time_utils import format_date

__all__ = ["arbitrary_latency", "g5k_graph", "treemap"]

arbitrary_latency = 2.25e-3  # backbone latency (s) when the API gives none
EQUIPMENT_KINDS = ("router", "switch", "linecard")


def _key(*ends: str) -> str:
    return "_".join(sorted(ends))


class g5k_graph(nx.MultiGraph):  # noqa: N801 - execo's name
    """The topology of (part of) Grid'5000.

    :param elements: site, cluster or host names (or a list of them) to add; with several
        sites, the backbone linking them is added too
    :param client: the API connection (default: :func:`enoslib.g5k.set_api`'s)
    """

    def __init__(self, elements: str | Iterable[str] | None = None, *, client: Any = None) -> None:
        super().__init__()
        self._client = client
        ref = get_reference(client)
        self.graph["api_commit"] = ref.version
        self.graph["date"] = format_date(time.time())
        if elements:
            if isinstance(elements, str):
                elements = [elements]
            sites = set(get_g5k_sites(client=client))
            for e in elements:
                if e in sites:
                    self.add_site(e)
                elif e in get_g5k_clusters(None, client=client):
                    self.add_cluster(e)
                else:
                    try:
                        self.add_host(get_host_shortname(e))
                    except (ValueError, EnosError) as exc:
                        raise ValueError(f"g5k_graph: {e!r} is neither a site, a cluster nor a host "
                                         f"of the reference API ({exc})") from None
            if len(self.get_sites()) > 1:
                self.add_backbone()

    # -- API data --------------------------------------------------------------------------
    def _network(self, site: str) -> dict[str, dict[str, Any]]:
        return _site_network(site, self._client)

    def _canonical(self, site: str, name: str) -> str | None:
        """The uid of the site equipment named ``name`` (uid or alias)."""
        network = self._network(site)
        if name in network:
            return name
        return next((uid for uid, e in network.items() if name in (e.get("alias") or [])), None)

    def _ports(self, site: str, uid: str) -> Iterable[tuple[int, dict[str, Any], str, str | None, int]]:
        """(linecard index, linecard, peer uid, peer kind, rate) of the used ports of ``uid``."""
        data = self._network(site)[uid]
        for i, lc in enumerate(data.get("linecards") or []):
            for port in (lc or {}).get("ports") or []:
                if not port or "uid" not in port:
                    continue
                peer, kind = port["uid"], port.get("kind") or lc.get("kind")
                if kind == "channel":
                    channel = (data.get("channels") or {}).get(peer) or {}
                    peer, kind = channel.get("uid", peer), channel.get("kind")
                yield i, lc, peer, kind, int(port.get("rate") or lc.get("rate") or 0)

    def _multi_linecards(self, site: str, uid: str) -> bool:
        return len({i for i, *_ in self._ports(site, uid)}) > 1

    def _attach(self, site: str, uid: str, lc_index: int, lc: Mapping[str, Any]) -> str:
        """The graph node a port of ``uid`` hangs from: its linecard, or the equipment."""
        name = f"{uid}.{site}"
        if not self._multi_linecards(site, uid):
            return name
        lc_name = f"{uid}-lc{lc_index}.{site}"
        backplane = self.nodes[name].get("backplane", 0)
        if not self.has_node(lc_name):
            self.add_node(lc_name, kind="linecard", backplane=lc.get("backplane_bps", backplane), site=site)
        self._edge(name, lc_name, bandwidth=backplane)
        return lc_name

    def _peer_attach(self, site: str, uid: str, towards: str) -> str:
        """The node of equipment ``uid`` holding its port to ``towards``."""
        aliases = {towards, *(self._network(site)[towards].get("alias") or [])}
        for i, lc, peer, _, _ in self._ports(site, uid):
            if peer in aliases:
                return self._attach(site, uid, i, lc)
        return f"{uid}.{site}"

    def _edge(self, a: str, b: str, key: str | None = None, **attrs: Any) -> None:
        key = key or _key(a, b)
        if not self.has_edge(a, b, key):
            self.add_edge(a, b, key, active=attrs.pop("active", True), **attrs)

    # -- add / remove ------------------------------------------------------------------------
    def add_host(self, host: Any, data: Mapping[str, Any] | None = None) -> None:
        """Add a host (short or long name, or Host) and the equipments linking it."""
        name = get_host_shortname(host)
        data = dict(data) if data else get_host_attributes(name, client=self._client)
        site = get_host_site(name, client=self._client)
        if site is None:
            raise ValueError(f"no Grid'5000 site for host {host!r}")
        self.add_node(name, kind="node", site=site, cluster=get_host_cluster(name),
                      power=(data.get("performance") or {}).get("core_flops", 0),
                      cores=(data.get("architecture") or {}).get("nb_cores", 0),
                      adapters=self._adapters(data))
        for ad in self.nodes[name]["adapters"]:
            if ad.get("mounted"):
                uid = self._canonical(site, ad["switch"])
                if uid is None:
                    continue
                self.add_equip(uid, site)
        self._prune()

    def rm_host(self, host: Any) -> None:
        """Remove a host (and the equipments left without hosts)."""
        name = get_host_shortname(host)
        if self.has_node(name):
            self.remove_node(name)
        self._prune()

    def add_cluster(self, cluster: str, data: Mapping[str, Any] | None = None) -> None:
        """Add every host of ``cluster``."""
        for h in get_cluster_hosts(cluster, client=self._client):
            self.add_host(h)

    def rm_cluster(self, cluster: str) -> None:
        self.remove_nodes_from([n for n, d in self.get_hosts(cluster=cluster)])
        self._prune()

    def add_site(self, site: str, data: Mapping[str, Any] | None = None) -> None:
        """Add every host of ``site`` (production clusters included)."""
        for h in get_site_hosts(site, None, client=self._client):
            self.add_host(h)

    def rm_site(self, site: str) -> None:
        """Remove the site: its hosts, equipments and RENATER point of presence."""
        self.remove_nodes_from([n for n, d in list(self.nodes(data=True))
                                if d.get("site") == site or n == f"renater-{site}"])
        self._prune()

    def add_equip(self, equip: str, site: str) -> None:
        """Add a network equipment of ``site`` and, recursively, the equipments it links to;
        hosts already in the graph get their links."""
        uid = self._canonical(site, equip)
        if uid is None:
            raise ValueError(f"no network equipment {equip!r} on site {site}")
        data = self._network(site)[uid]
        name = f"{uid}.{site}"
        new = not self.has_node(name)
        if new:
            self.add_node(name, kind=data.get("kind", "switch"), backplane=int(data.get("backplane_bps") or 0),
                          site=site)
        backplane = self.nodes[name]["backplane"]
        multi = self._multi_linecards(site, uid)
        for i, lc, peer, kind, rate in self._ports(site, uid):
            if kind == "node":
                if not self.has_node(peer):
                    continue
                attach = self._attach(site, uid, i, lc)
                for ad in self.nodes[peer].get("adapters", []):
                    if self._canonical(site, ad["switch"]) == uid:
                        self._edge(attach, peer, _key(attach, f"{peer}-{ad['device']}"),
                                   bandwidth=rate if multi else min(rate, backplane) or rate,
                                   active=bool(ad.get("mounted")))
            elif kind in ("switch", "router"):
                target = self._canonical(site, peer)
                if target is None:
                    continue
                if new:
                    self.add_equip(target, site)
                if self.has_node(f"{target}.{site}"):
                    self._edge(self._attach(site, uid, i, lc), self._peer_attach(site, target, uid),
                               bandwidth=rate if multi else min(rate, backplane) or rate)
            elif str(peer).startswith("renater"):
                self.add_node(peer, kind="renater")
                self._edge(self._attach(site, uid, i, lc), peer, bandwidth=rate if multi else min(rate, backplane) or rate)

    def rm_equip(self, equip: str) -> None:
        """Remove an equipment (``uid.site``) and its linecards."""
        uid, _, site = equip.partition(".")
        self.remove_nodes_from([n for n in list(self.nodes) if n == equip or n.startswith(f"{uid}-lc") and
                                n.endswith(f".{site}")])

    def add_backbone(self) -> None:
        """Add the RENATER links between the sites of the graph (only the points of presence on
        a shortest path between two of its sites are kept)."""
        for uid, e in _backbone(self._client).items():
            self.add_node(uid, kind="renater")
            for lc in e.get("linecards") or []:
                for port in lc.get("ports") or []:
                    peer = port.get("uid", "")
                    if peer.startswith("renater-"):
                        self.add_node(peer, kind="renater")
                        self._edge(uid, peer, bandwidth=int(port.get("rate") or lc.get("rate") or 0),
                                   latency=port.get("latency", arbitrary_latency))
        routers = [r for r in (self.get_site_router(s)[0] for s in self.get_sites()) if r]
        used: set[str] = set()
        for i, a in enumerate(routers):
            for b in routers[i + 1:]:
                try:
                    used.update(n for n in nx.shortest_path(self, a, b) if self.nodes[n]["kind"] == "renater")
                except nx.NetworkXNoPath:
                    continue
        self.remove_nodes_from([n for n, _ in self.get_backbone() if n not in used])

    def rm_backbone(self) -> None:
        """Remove every RENATER node."""
        self.remove_nodes_from([n for n, _ in self.get_backbone()])

    def _prune(self) -> None:
        """Drop linecards hanging from nothing else, and switches linking no more than one thing."""
        changed = True
        while changed:
            changed = False
            for n, d in list(self.nodes(data=True)):
                if not self.has_node(n):  # removed with its switch in this pass
                    continue
                kind = d.get("kind")
                neighbours = set(self.neighbors(n)) - {n}
                if kind == "linecard":
                    uid, _, site = n.partition(".")
                    owner = f"{uid.rsplit('-lc', 1)[0]}.{site}"
                    if neighbours <= {owner}:
                        self.remove_node(n)
                        changed = True
                elif kind == "switch":
                    uid, _, site = n.partition(".")
                    own_lcs = {x for x in neighbours if x.startswith(f"{uid}-lc")}
                    if len(neighbours - own_lcs) + sum(1 for lc in own_lcs if set(self.neighbors(lc)) - {n}) <= 1:
                        self.remove_nodes_from([n, *own_lcs])
                        changed = True
                elif kind == "router" and not neighbours:
                    self.remove_node(n)
                    changed = True

    @staticmethod
    def _adapters(data: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [dict(a) for a in data.get("network_adapters") or []
                if a.get("switch") and not a.get("management") and a.get("mountable")
                and a.get("interface", "Ethernet") == "Ethernet"]

    # -- queries -----------------------------------------------------------------------------
    def get_hosts(self, cluster: str | None = None, site: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """The hosts ``(name, data)``, of a cluster or a site when given."""
        return [(n, d) for n, d in self.nodes(data=True) if d.get("kind") == "node"
                and (cluster is None or d.get("cluster") == cluster) and (site is None or d.get("site") == site)]

    def get_clusters(self, site: str | None = None) -> list[str]:
        """The clusters having hosts in the graph."""
        return sorted({d["cluster"] for _, d in self.get_hosts(site=site)})

    def get_sites(self) -> list[str]:
        """The sites having hosts in the graph."""
        return sorted({d["site"] for _, d in self.get_hosts()})

    def get_site_router(self, site: str) -> tuple[str | None, dict[str, Any]]:
        """``(name, data)`` of the site's router, ``(None, {})`` when absent."""
        return next(((n, d) for n, d in self.nodes(data=True) if d.get("kind") == "router"
                     and d.get("site") == site), (None, {}))

    def get_backbone(self) -> list[tuple[str, dict[str, Any]]]:
        """The RENATER nodes ``(name, data)``."""
        return [(n, d) for n, d in self.nodes(data=True) if d.get("kind") == "renater"]

    def get_host_adapters(self, host: Any) -> list[dict[str, Any]]:
        """The mountable Ethernet adapters of a host plugged into an equipment."""
        name = get_host_shortname(host)
        if self.has_node(name):
            return [dict(a) for a in self.nodes[name].get("adapters", [])]
        return self._adapters(get_host_attributes(name, client=self._client))

    def get_equip_hosts(self, equip: str) -> list[str]:
        """The hosts linked to an equipment (``uid.site``), through its linecards too."""
        uid = equip.partition(".")[0]
        around = set(self.neighbors(equip)) if self.has_node(equip) else set()
        around |= {n2 for n in list(around) if n.startswith(f"{uid}-lc") for n2 in self.neighbors(n)}
        return sorted((n for n in around if self.nodes[n].get("kind") == "node"), key=_natural)

    def get_host_neighbours(self, host: Any) -> list[str]:
        """The other hosts on the equipment of the host's first adapter."""
        name = get_host_shortname(host)
        adapters = self.get_host_adapters(name)
        if not adapters:
            return []
        site = self.nodes[name]["site"] if self.has_node(name) else get_host_site(name, client=self._client)
        uid = self._canonical(site, adapters[0]["switch"]) or adapters[0]["switch"]
        return [h for h in self.get_equip_hosts(f"{uid}.{site}") if h != name]


def _natural(name: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


# -- drawing -----------------------------------------------------------------------------------
_NODES_LEGEND: dict[str, dict[str, Any]] = {
    "renater": {"color": "#9CF7BC", "shape": "p", "size": 200},
    "router": {"color": "#BFDFF2", "shape": "8", "size": 300, "width": 0.5},
    "switch": {"color": "#F5C9CD", "shape": "s", "size": 100, "width": 0.2},
    "host": {"color": "#F0F7BE", "shape": "o", "size": 30, "width": 0.2},
    "cluster": {"color": "#F0F7BE", "shape": "d", "size": 200, "width": 0.8},
    "linecard": {"color": "w", "shape": "^", "size": 10, "width": 0.1},
    "default": {"color": "#000000", "shape": "o", "size": 100},
}
_EDGES_LEGEND: dict[Any, dict[str, Any]] = {
    100_000_000: {"width": 0.2, "color": "#666666"},
    1_000_000_000: {"width": 0.4, "color": "#666666"},
    10_000_000_000: {"width": 1.0, "color": "#111111"},
    25_000_000_000: {"width": 2.0, "color": "#111111"},
    40_000_000_000: {"width": 3.0, "color": "#111111"},
    100_000_000_000: {"width": 4.0, "color": "#111111"},
    "default": {"width": 0.8, "color": "#000000"},
}


def _short(n: str) -> str:
    return n.split(".")[0]


def _layout(gr: Any, prog: str) -> dict[Any, Any]:
    try:
        from networkx.drawing.nx_pydot import graphviz_layout

        return graphviz_layout(gr, prog=prog)
    except Exception:  # no pydot or no graphviz binary: a deterministic force layout
        return nx.spring_layout(gr, seed=0, iterations=100)


def treemap(gr: g5k_graph, nodes_legend: Mapping[str, Mapping[str, Any]] | None = None,
            edges_legend: Mapping[Any, Mapping[str, Any]] | None = None,
            nodes_labels: Mapping[str, Mapping[str, Any]] | None = None, layout: str = "neato",
            compact: bool = False) -> Any:
    """Draw the topology; returns a matplotlib Figure (no display needed).

    :param nodes_legend: per kind (``renater``, ``router``, ``switch``, ``host``, ``cluster``,
        ``linecard``): ``{"color", "shape", "size", "width"}``
    :param edges_legend: per bandwidth (bit/s): ``{"width", "color"}``
    :param nodes_labels: per kind: ``{"font_size", "font_weight", "str_func"}``
    :param layout: the graphviz program placing nodes (when pydot and graphviz are
        installed; otherwise a seeded spring layout)
    :param compact: one node per cluster and equipment instead of one per host
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise EnosMissingExtraError("matplotlib", "topology", feature="treemap") from exc
    legend = {k: dict(v) for k, v in _NODES_LEGEND.items()}
    for k, v in (nodes_legend or {}).items():
        legend.setdefault(k, {}).update(v)
    edges = {k: dict(v) for k, v in _EDGES_LEGEND.items()}
    edges.update({k: dict(v) for k, v in (edges_legend or {}).items()})
    labels: dict[str, dict[str, Any]] = {k: {"font_size": 8 if k != "host" else 6, "font_weight":
                                             "bold" if k == "router" else "normal"} for k in legend}
    for k, v in (nodes_labels or {}).items():
        labels.setdefault(k, {}).update(v)

    g = nx.MultiGraph()
    for n, d in gr.nodes(data=True):
        g.add_node(n, **{**d, "kind": "host" if d.get("kind") == "node" else d.get("kind", "default")})
    g.add_edges_from(gr.edges(keys=True, data=True))
    if compact:
        for n, d in list(g.nodes(data=True)):
            if d["kind"] != "host":
                continue
            for _, peer, data in list(g.edges(n, data=True)):
                group = f"{d.get('cluster', _short(n))}\n({re.sub(r'-lc[0-9]+$', '', _short(peer))})"
                g.add_node(group, kind="cluster")
                if not g.has_edge(group, peer):
                    g.add_edge(group, peer, bandwidth=data.get("bandwidth"))
            g.remove_node(n)

    fig = Figure(figsize=(10, 10))
    ax = fig.add_subplot(111)
    pos = _layout(g, layout)
    for kind in sorted({d["kind"] for _, d in g.nodes(data=True)}):
        style = legend.get(kind, legend["default"])
        nx.draw_networkx_nodes(g, pos, ax=ax, nodelist=[n for n, d in g.nodes(data=True) if d["kind"] == kind],
                               node_shape=style.get("shape", "o"), node_color=style.get("color", "#000000"),
                               node_size=style.get("size", 100), linewidths=style.get("width", 0.8))
    by_style: dict[Any, list[tuple[str, str]]] = {}
    for a, b, d in g.edges(data=True):
        by_style.setdefault(d.get("bandwidth") if d.get("bandwidth") in edges else "default", []).append((a, b))
    for bw, edgelist in by_style.items():
        nx.draw_networkx_edges(g, pos, ax=ax, edgelist=edgelist, width=edges[bw].get("width", 0.8),
                               edge_color=edges[bw].get("color", "#000000"))
    for kind, style in labels.items():
        func: Callable[[str], str] = style.get("str_func", _short)
        nodes = {n: func(n) for n, d in g.nodes(data=True) if d["kind"] == kind}
        if nodes:
            nx.draw_networkx_labels(g, pos, ax=ax, labels=nodes, font_size=style.get("font_size", 8),
                                    font_weight=style.get("font_weight", "normal"))
    ax.set_axis_off()
    ax.text(0.01, 0.0, f"Created by enoslib.g5k.topology\n{gr.graph.get('date', '')}\n"
                       f"API version {gr.graph.get('api_commit', '')}", transform=ax.transAxes, fontsize=7)
    fig.tight_layout()
    return fig
