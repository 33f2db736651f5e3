"""The Grid'5000 reference API (sites, clusters, nodes), cached on disk.

The reference describes hardware; it changes a few times a month and every change bumps its
``version`` (a git sha, returned with every collection). Entries are stored under
``<cache_dir>/g5k/reference/<api>/<version>/`` (``<api>`` is a hash of the API URI, so an
emulator's data never mixes with the real testbed's), filled lazily: one site's clusters, one
cluster's nodes at a time. Checking the version costs one request (``GET /sites``, which also
gives the site list); everything else is read from disk when the version did not change.

An index of ``cluster -> site`` (and of exotic clusters) is kept next to it, readable without
any network access: configurations use it to check sites offline "when known".

The setting ``g5k_cache`` (EnOSlib's) switches the disk off: with False or None nothing is read
from or written to it (a cache on NFS shared by concurrent runs); a Reference still keeps in
memory what it read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from enoslib.config import cache_dir, get_config
from enoslib.errors import EnosProviderError

if TYPE_CHECKING:
    from enoslib.infra.enos_g5k.client import G5kClient

logger = logging.getLogger(__name__)

NODE_NAME = re.compile(r"^(?P<cluster>[a-z][a-z0-9]*)-(?P<index>[0-9]+)(?P<rest>-[a-z0-9-]+)?(\.(?P<site>[a-z][a-z0-9-]*))?(\.grid5000\.fr)?\.?$")


def api_key(uri: str) -> str:
    """A short stable key naming an API URI (for per-API cache files)."""
    return hashlib.sha1(uri.rstrip("/").encode()).hexdigest()[:12]


def split_node_name(name: str) -> tuple[str, str | None, str]:
    """``paravance-1-kavlan-4.rennes.grid5000.fr`` -> ("paravance-1", "rennes", "paravance")."""
    m = NODE_NAME.match(name)
    if not m:
        raise ValueError(f"{name!r} is not a Grid'5000 node name (cluster-N[.site[.grid5000.fr]])")
    return f"{m['cluster']}-{m['index']}", m["site"], m["cluster"]


def disk_cache() -> bool:
    """Whether the reference is cached on disk (the setting ``g5k_cache``, on by default)."""
    return bool(get_config().get("g5k_cache"))


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, separators=(",", ":"))
    os.replace(tmp, path)  # atomic: concurrent readers see the old or the new file, never half


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class Reference:
    """Read access to the reference API of one API endpoint, through the disk cache.

    >>> ref = Reference(client)
    >>> ref.cluster_site("paravance")                         # doctest: +SKIP
    'rennes'
    """

    def __init__(self, client: G5kClient, root: Path | None = None) -> None:
        self.client = client
        self.root = (root or cache_dir("g5k", "reference")) / api_key(client.uri)
        self._version: str | None = None
        self._sites: dict[str, dict[str, Any]] | None = None
        self._mem: dict[str, Any] = {}
        self._lock = threading.RLock()

    # -- version and sites ------------------------------------------------------------------
    def _load_sites(self) -> None:
        if self._sites is not None:
            return
        data = self.client.get("/sites")
        items = data.get("items", []) if isinstance(data, dict) else list(data)
        self._version = str((data.get("version") if isinstance(data, dict) else None) or "unversioned")
        self._sites = {s["uid"]: s for s in items}

    @property
    def version(self) -> str:
        with self._lock:
            self._load_sites()
        return self._version or "unversioned"

    @property
    def dir(self) -> Path:
        return self.root / (self._version or "unversioned")

    def sites(self) -> list[str]:
        with self._lock:
            self._load_sites()
            return sorted(self._sites or {})

    def site(self, site: str) -> dict[str, Any]:
        with self._lock:
            self._load_sites()
            try:
                return (self._sites or {})[site]
            except KeyError:
                raise EnosProviderError(
                    f"no Grid'5000 site {site!r} (sites: {', '.join(self.sites())})") from None

    # -- clusters and nodes ----------------------------------------------------------------
    def _cached(self, name: str, fetch: Any) -> Any:
        with self._lock:
            self._load_sites()
            if name in self._mem:
                return self._mem[name]
            path = self.dir / f"{name}.json"
            data = _read_json(path) if disk_cache() else None
            if data is None:
                data = fetch()
                if disk_cache():
                    _write_json(path, data)
            self._mem[name] = data
            return data

    def clusters(self, site: str) -> dict[str, dict[str, Any]]:
        """The clusters of a site, production ones included, by name."""
        self.site(site)
        data = self._cached(f"clusters-{site}", lambda: {
            c["uid"]: c for c in self.client.items(f"/sites/{site}/clusters", queues="all")})
        self._index(site, data)
        return data

    def nodes(self, cluster: str) -> dict[str, dict[str, Any]]:
        """The nodes of a cluster by short name (``paravance-1``), in natural order."""
        site = self.cluster_site(cluster)
        return self._cached(f"nodes-{site}-{cluster}", lambda: {
            n["uid"]: n for n in sorted(self.client.items(f"/sites/{site}/clusters/{cluster}/nodes"),
                                        key=lambda n: _natural(n["uid"]))})

    def node(self, name: str) -> dict[str, Any]:
        short, _, cluster = split_node_name(name)
        try:
            return self.nodes(cluster)[short]
        except KeyError:
            raise EnosProviderError(f"no node {short!r} in cluster {cluster!r}") from None

    def cluster(self, cluster: str) -> dict[str, Any]:
        return self.clusters(self.cluster_site(cluster))[cluster]

    def cluster_site(self, cluster: str) -> str:
        known = self.known_sites().get(cluster)  # look there first: one site's clusters, not all
        if known is not None and known in self.sites() and cluster in self.clusters(known):
            return known
        for site in self.sites():
            if cluster in self.clusters(site):
                return site
        raise EnosProviderError(f"no Grid'5000 cluster {cluster!r} on any site ({', '.join(self.sites())})")

    def dns(self, site: str) -> str | None:
        """The IPv4 address of the site's DNS server (None when the API does not say)."""
        def fetch() -> dict[str, Any]:
            from enoslib.infra.enos_g5k.client import G5kApiError

            try:
                return self.client.get(f"/sites/{site}/servers/dns")
            except G5kApiError as exc:
                if exc.status == 404:
                    return {}
                raise

        server = self._cached(f"dns-{site}", fetch)
        return ((server.get("network_adapters") or {}).get("default") or {}).get("ip")

    def is_exotic(self, cluster: str) -> bool:
        return bool(self.cluster(cluster).get("exotic", False))

    # -- offline index --------------------------------------------------------------------
    def _index(self, site: str, clusters: dict[str, dict[str, Any]]) -> None:
        if not disk_cache():
            return
        path = self.root / "index.json"
        index = _read_json(path) or {}
        changed = False
        for name, c in clusters.items():
            entry = {"site": site, "exotic": bool(c.get("exotic", False))}
            if index.get(name) != entry:
                index[name] = entry
                changed = True
        if changed:
            _write_json(path, index)

    def known_sites(self) -> dict[str, str]:
        if not disk_cache():
            return {}
        return {c: e["site"] for c, e in (_read_json(self.root / "index.json") or {}).items()}


def known_cluster_sites(root: Path | None = None) -> dict[str, str]:
    """``cluster -> site`` from every cached API, without network access (clusters cached under
    different APIs with different sites are left out: unknown)."""
    if not disk_cache():
        return {}
    base = root or cache_dir("g5k", "reference")
    found: dict[str, set[str]] = {}
    for index in base.glob("*/index.json"):
        for cluster, entry in (_read_json(index) or {}).items():
            found.setdefault(cluster, set()).add(entry.get("site"))
    return {c: next(iter(s)) for c, s in found.items() if len(s) == 1}


def _natural(name: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def natural_sort(names: Iterable[str]) -> list[str]:
    """Names sorted with their numbers compared as numbers (``node-2`` before ``node-10``)."""
    return sorted(names, key=_natural)
