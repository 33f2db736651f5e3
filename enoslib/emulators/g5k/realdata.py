"""The default dataset: the real Grid'5000 reference, from a snapshot of the public repository.

``data/reference.json.gz`` is a condensed snapshot of
``github.com/grid5000/reference-repository`` (``data/grid5000/``; commit and date in its
``_meta``): every current site, cluster and node document as the reference API serves
them (real node names and counts, NIC ``device``/``name``, addresses, ``kavlan`` maps,
``ipv6.site_index``, global vlan ids, queues, exotic flags), plus servers and PDUs.

:func:`real_dataset` turns it into :class:`~.reference.ReferenceData` (a subset of sites
and/or clusters, optionally fewer nodes per cluster). The parsed snapshot is cached per
process (one parse, ~0.1 s); each dataset is a fresh copy, so emulators never share
mutable state.

One correction to the data, so that no two sites' networks overlap (each netns-backed
site gets its own production bridge): a site whose ``kavlans.default`` network does not
contain its own ``frontend_ip`` (louvain's is a copy of lille's) gets the /20 around
its frontend, which is where its nodes' addresses are.
"""

from __future__ import annotations

import functools
import gzip
import ipaddress
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .reference import ReferenceData, _link, natural_key

__all__ = [
    "DATA_FILE",
    "default_dataset",
    "environment_names",
    "real_cluster_names",
    "real_dataset",
    "real_site_names",
    "reference_meta",
]

DATA_FILE = Path(__file__).with_name("data") / "reference.json.gz"


@functools.lru_cache(maxsize=1)
def _snapshot() -> dict[str, Any]:
    with gzip.open(DATA_FILE, "rb") as fh:
        return json.loads(fh.read())


@functools.lru_cache(maxsize=None)
def _site_parts(site: str) -> dict[str, Any]:
    """One site's documents as JSON texts, node by node: a dataset parses only what it
    keeps (copying by parsing is much faster than deepcopy)."""
    raw = _snapshot()["sites"][site]
    return {
        "site": json.dumps(raw["site"]),
        "servers": json.dumps(raw.get("servers", {})),
        "pdus": json.dumps(raw.get("pdus", {})),
        "clusters": {
            c: {
                "cluster": json.dumps(entry["cluster"]),
                "uids": sorted(entry["nodes"], key=natural_key),
                "nodes": {uid: json.dumps(doc) for uid, doc in entry["nodes"].items()},
            }
            for c, entry in raw.get("clusters", {}).items()
        },
    }


def reference_meta() -> dict[str, Any]:
    """Provenance of the snapshot: source repository, commit, commit date, counts."""
    return dict(_snapshot()["_meta"])


def real_site_names() -> list[str]:
    """Every site of the reference, sorted (bordeaux has no cluster)."""
    return sorted(_snapshot()["sites"])


def real_cluster_names(site: str | None = None) -> dict[str, list[str]]:
    """``{site: [cluster, ...]}`` of the reference (one site when given)."""
    sites = [site] if site else real_site_names()
    return {s: list(_snapshot()["sites"][s].get("clusters", {})) for s in sites}


@functools.lru_cache(maxsize=1)
def environment_names() -> tuple[str, ...]:
    """Public kadeploy environment names known from the reference repository.

    The repository's list has one typo (``debiab13-min``), fixed here; the testbed
    offers ``debian13-min``.
    """
    names = _snapshot()["environments"]["names_in_wiki_generator"]
    return tuple(("debian13-min" if n == "debiab13-min" else n) for n in names)


def _fix_default_network(site: dict[str, Any]) -> None:
    default = site.get("kavlans", {}).get("default")
    front = site.get("frontend_ip")
    if not default or not front:
        return
    net = ipaddress.ip_network(default["network"])
    if ipaddress.ip_address(front) in net:
        return
    fixed = ipaddress.ip_network(f"{front}/{net.prefixlen}", strict=False)
    default["network"] = str(fixed)
    default["gateway"] = str(fixed.broadcast_address - 1)


def _site_links(prefix: str, site: str) -> list[dict[str, str]]:
    base = f"{prefix}/sites/{site}"
    links = [_link(base)]
    for rel in ("clusters", "servers", "pdus", "status", "jobs", "deployments", "vlans",
                "metrics", "versions"):
        links.append(_link(f"{base}/{rel}", rel, "collection"))
    return links


def real_dataset(
    sites: Iterable[str] | Mapping[str, Any] | None = None,
    *,
    nodes_per_cluster: int | None = None,
    prefix: str = "/stable",
) -> ReferenceData:
    """The real reference, or part of it.

    Args:
        sites: None (every site), site names, or ``{site: clusters}`` where clusters is a
            list of cluster names or a ``{cluster: n_nodes | None}`` mapping (the first n
            nodes in natural order; None: all).
        nodes_per_cluster: keep at most that many nodes of each cluster (the first ones),
            for clusters without an explicit count.
        prefix: the API prefix used in ``links``.

    Raises:
        ValueError: an unknown site or cluster (the message lists the known ones).
    """
    known = real_site_names()
    if sites is None:
        wanted: dict[str, Any] = {s: None for s in known}
    elif isinstance(sites, Mapping):
        wanted = dict(sites)
    else:
        wanted = {s: None for s in sites}
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise ValueError(
            f"unknown Grid'5000 site(s) {', '.join(unknown)} (known: {', '.join(known)})"
        )
    ref = ReferenceData(kernel_names=True)
    for site, clusters in wanted.items():
        parts = _site_parts(site)
        site_doc = json.loads(parts["site"])
        _fix_default_network(site_doc)
        site_doc["links"] = _site_links(prefix, site)
        available = parts["clusters"]
        if clusters is None:
            counts: dict[str, int | None] = {c: None for c in available}
        elif isinstance(clusters, Mapping):
            counts = {str(c): (None if n is None else int(n)) for c, n in clusters.items()}
        else:
            counts = {str(c): None for c in clusters}
        missing = [c for c in counts if c not in available]
        if missing:
            raise ValueError(
                f"site {site} has no cluster {', '.join(missing)} "
                f"(known: {', '.join(available) or 'none'})"
            )
        ref.sites[site] = site_doc
        ref.clusters[site], ref.nodes[site] = {}, {}
        for cluster, count in counts.items():
            entry = available[cluster]
            doc = json.loads(entry["cluster"])
            doc["links"] = [
                _link(f"{prefix}/sites/{site}/clusters/{cluster}"),
                _link(f"{prefix}/sites/{site}/clusters/{cluster}/nodes", "nodes", "collection"),
                _link(f"{prefix}/sites/{site}/clusters/{cluster}/status", "status", "collection"),
            ]
            uids = list(entry["uids"])
            limit = count if count is not None else nodes_per_cluster
            if limit is not None:
                if count is not None and count > len(uids):
                    raise ValueError(
                        f"cluster {cluster} of {site} has {len(uids)} nodes, {count} asked"
                    )
                uids = uids[: max(0, limit)]
            nodes = {}
            for uid in uids:
                node = json.loads(entry["nodes"][uid])
                node["links"] = [_link(f"{prefix}/sites/{site}/clusters/{cluster}/nodes/{uid}")]
                nodes[uid] = node
            ref.clusters[site][cluster] = doc
            ref.nodes[site][cluster] = nodes
        servers = json.loads(parts["servers"])
        for uid, server in servers.items():
            server["links"] = [_link(f"{prefix}/sites/{site}/servers/{uid}")]
        ref.servers[site] = dict(sorted(servers.items(), key=lambda kv: natural_key(kv[0])))
        pdus = json.loads(parts["pdus"])
        for uid, pdu in pdus.items():
            pdu["links"] = [_link(f"{prefix}/sites/{site}/pdus/{uid}")]
        ref.pdus[site] = dict(sorted(pdus.items(), key=lambda kv: natural_key(kv[0])))
    ref.reindex()
    return ref


def default_dataset(
    nodes_per_cluster: int | None = None,
    prefix: str = "/stable",
    sites: Iterable[str] | None = None,
) -> ReferenceData:
    """The emulator's default: the real reference (every site, or ``sites``)."""
    return real_dataset(sites, nodes_per_cluster=nodes_per_cluster, prefix=prefix)
