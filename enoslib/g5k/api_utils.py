"""Reference API look-ups, execo_g5k style, backed by the on-disk reference cache.

The first call for a site or cluster asks the API; later calls (and later processes) read the
cache as long as the reference version does not change.

>>> get_cluster_site("paravance")                      # doctest: +SKIP
'rennes'
>>> group_hosts(["paravance-1.rennes.grid5000.fr", "grisou-3.nancy.grid5000.fr"])  # doctest: +SKIP
{'nancy': {'grisou': ['grisou-3.nancy.grid5000.fr']}, 'rennes': {'paravance': [...]}}
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterable
from typing import Any

from enoslib.infra.enos_g5k.client import as_client
from enoslib.infra.enos_g5k.reference import Reference, natural_sort
from enoslib.objects import Host

__all__ = [
    "APIConnection",
    "canonical_host_name",
    "filter_clusters",
    "get_cluster_attributes",
    "get_cluster_hosts",
    "get_cluster_jobtypes",
    "get_cluster_network_equipments",
    "get_cluster_queues",
    "get_cluster_site",
    "get_g5k_clusters",
    "get_g5k_hosts",
    "get_g5k_sites",
    "get_host_attributes",
    "get_host_cluster",
    "get_hosts_metric",
    "get_host_interface",
    "get_host_longname",
    "get_host_network_equipments",
    "get_host_shortname",
    "get_host_site",
    "get_kavlan_host_name",
    "get_network_equipment_attributes",
    "get_network_equipment_site",
    "get_reference",
    "get_resource_attributes",
    "get_site_attributes",
    "get_site_clusters",
    "get_site_hosts",
    "get_site_network_equipments",
    "group_hosts",
]

_refs: dict[int, Reference] = {}
_lock = threading.Lock()
_NAME = re.compile(r"^(?P<node>[a-zA-Z]+[0-9]*-[0-9]+)(?P<nic>-(?!kavlan-[0-9]+)(?!ipv6)[a-z0-9]+)?"
                   r"(?P<vlan>-kavlan-[0-9]+)?(?P<v6>-ipv6)?(?P<domain>\..+)?$")


def get_reference(client: Any = None) -> Reference:
    """The reference cache of ``client`` (default connection when None); one per client."""
    c = as_client(client)
    with _lock:
        if id(c) not in _refs:
            _refs[id(c)] = Reference(c)
        return _refs[id(c)]


def _address(host: Any) -> str:
    return host.address if isinstance(host, Host) else str(host)


def _queues_match(cluster: dict[str, Any], queues: str | Iterable[str] | None) -> bool:
    if queues in (None, "all"):
        return True
    wanted = {queues} if isinstance(queues, str) else set(queues)  # type: ignore[arg-type]
    return bool(wanted & set(cluster.get("queues") or ["default"]))


def get_g5k_sites(*, client: Any = None) -> list[str]:
    """The names of the Grid'5000 sites."""
    return get_reference(client).sites()


def get_site_clusters(site: str, queues: str | Iterable[str] | None = "default", *, client: Any = None) -> list[str]:
    """Clusters of a site serving one of ``queues`` (``"all"`` or None: every cluster)."""
    clusters = get_reference(client).clusters(site)
    return natural_sort(c for c, data in clusters.items() if _queues_match(data, queues))


def get_g5k_clusters(queues: str | Iterable[str] | None = "default", *, client: Any = None) -> list[str]:
    """Every cluster of Grid'5000 in the given queues (None: any queue)."""
    return [c for s in get_g5k_sites(client=client) for c in get_site_clusters(s, queues, client=client)]


def get_cluster_hosts(cluster: str, *, client: Any = None) -> list[str]:
    """FQDNs of a cluster's nodes, in natural order (paravance-2 before paravance-10)."""
    ref = get_reference(client)
    site = ref.cluster_site(cluster)
    return [f"{uid}.{site}.grid5000.fr" for uid in ref.nodes(cluster)]


def get_site_hosts(site: str, queues: str | Iterable[str] | None = "default", *, client: Any = None) -> list[str]:
    """The hosts of a site in the given queues (None: any queue)."""
    return [h for c in get_site_clusters(site, queues, client=client) for h in get_cluster_hosts(c, client=client)]


def get_g5k_hosts(queues: str | Iterable[str] | None = "default", *, client: Any = None) -> list[str]:
    """Every host of Grid'5000 in the given queues (None: any queue)."""
    return [h for s in get_g5k_sites(client=client) for h in get_site_hosts(s, queues, client=client)]


def get_cluster_site(cluster: str, *, client: Any = None) -> str:
    """The site a cluster belongs to."""
    return get_reference(client).cluster_site(cluster)


def canonical_host_name(host: Any) -> Any:
    """Drop the NIC, kavlan and ipv6 parts: ``paravance-1-eth1-kavlan-4.rennes.grid5000.fr`` ->
    ``paravance-1.rennes.grid5000.fr`` (a Host gives a Host, a string a string)."""
    m = _NAME.match(_address(host))
    name = m["node"] + (m["domain"] or "") if m else _address(host)
    return Host(name, user=host.user, port=host.port, keyfile=host.keyfile) if isinstance(host, Host) else name


def get_host_interface(host: Any) -> str | None:
    """The NIC a name designates (``eth1`` in ``paravance-1-eth1...``; ``eth0`` when none)."""
    m = _NAME.match(_address(host))
    if not m:
        return None
    return m["nic"][1:] if m["nic"] else "eth0"


def get_host_shortname(host: Any) -> str:
    """A host's short name (``paravance-3.rennes.grid5000.fr`` -> ``paravance-3``)."""
    return str(canonical_host_name(_address(host))).split(".")[0]


def get_host_cluster(host: Any) -> str:
    """The cluster of a host (``paravance-3`` -> ``paravance``)."""
    return get_host_shortname(host).rsplit("-", 1)[0]


def get_host_site(host: Any, *, client: Any = None) -> str | None:
    """The site of a host, from its name or its cluster; None when unknown."""
    parts = str(canonical_host_name(_address(host))).split(".")
    if len(parts) >= 2 and parts[1] != "grid5000":
        return parts[1]
    try:
        return get_cluster_site(get_host_cluster(host), client=client)
    except Exception:  # noqa: BLE001 - unknown cluster: unknown site
        return None


def get_host_longname(host: Any, *, client: Any = None) -> str | None:
    """A host's fully qualified name (``paravance-3.rennes.grid5000.fr``), None when its site is unknown."""
    site = get_host_site(host, client=client)
    return f"{get_host_shortname(host)}.{site}.grid5000.fr" if site else None


def get_kavlan_host_name(host: Any, vlanid: Any) -> str:
    """The name of ``host`` (NIC part kept) in vlan ``vlanid``."""
    m = _NAME.match(_address(host))
    if not m:
        raise ValueError(f"{_address(host)!r} is not a Grid'5000 host name")
    return f"{m['node']}{m['nic'] or ''}-kavlan-{vlanid}{m['domain'] or ''}"


def group_hosts(hosts: Iterable[Any], *, client: Any = None) -> dict[str, dict[str, list[Any]]]:
    """``{site: {cluster: [hosts]}}``."""
    def site(h: Any) -> str:
        return get_host_site(h, client=client) or ""

    grouped: dict[str, dict[str, list[Any]]] = {}
    for s, site_hosts in itertools.groupby(sorted(hosts, key=site), key=site):
        grouped[s] = {c: list(ch) for c, ch in itertools.groupby(sorted(site_hosts, key=get_host_cluster),
                                                                  key=get_host_cluster)}
    return grouped


def get_host_attributes(host: Any, *, client: Any = None) -> dict[str, Any]:
    """The reference description of a node (``architecture``, ``network_adapters`` ...)."""
    return get_reference(client).node(get_host_shortname(host))


def get_cluster_attributes(cluster: str, *, client: Any = None) -> dict[str, Any]:
    """The reference API description of a cluster (a dict)."""
    return get_reference(client).cluster(cluster)


def get_site_attributes(site: str, *, client: Any = None) -> dict[str, Any]:
    """The reference API description of a site (a dict)."""
    return get_reference(client).site(site)


def get_cluster_queues(cluster: str, *, client: Any = None) -> list[str]:
    """The OAR queues a cluster belongs to (``default``, ``production`` ...)."""
    return list(get_cluster_attributes(cluster, client=client).get("queues") or [])


def get_cluster_jobtypes(cluster: str, *, client: Any = None) -> list[str]:
    """Job types the cluster's nodes accept (from the first node's ``supported_job_types``)."""
    ref = get_reference(client)
    nodes = ref.nodes(cluster)
    if not nodes:
        return []
    supported = next(iter(nodes.values())).get("supported_job_types") or {}
    return sorted(k for k, v in supported.items() if v is True)



# -- network equipments, resources, queues --------------------------------------------------
def _site_network(site: str, client: Any = None) -> dict[str, dict[str, Any]]:
    """The network equipments of ``site`` by uid (cached like the rest of the reference)."""
    ref = get_reference(client)
    ref.site(site)
    return ref._cached(f"network-{site}", lambda: {
        e["uid"]: e for e in ref.client.items(f"/sites/{site}/network_equipments")})


def _backbone(client: Any = None) -> dict[str, dict[str, Any]]:
    """The backbone (RENATER) equipments by uid."""
    ref = get_reference(client)
    return ref._cached("network-backbone", lambda: {e["uid"]: e for e in ref.client.items("/network_equipments")})


def _resolve_equipment(equip: str, client: Any = None) -> tuple[str | None, str, dict[str, Any]]:
    """``(site or None for the backbone, uid, attributes)`` of an equipment named by its uid
    (``sw-1``, ``renater-lyon``), its alias (``gw-rennes``) or ``uid.site``."""
    name = str(equip)
    backbone = _backbone(client)
    if name in backbone:
        return None, name, backbone[name]
    uid, _, where = name.partition(".")
    sites = [where] if where in get_g5k_sites(client=client) else get_g5k_sites(client=client)
    for site in sites:
        network = _site_network(site, client)
        for candidate in (name, uid):
            if candidate in network:
                return site, candidate, network[candidate]
        for e in network.values():
            if name in (e.get("alias") or []):
                return site, e["uid"], e
    raise ValueError(f"no Grid'5000 network equipment {name!r} on {', '.join(sites)} nor in the backbone")


def get_site_network_equipments(site: str, *, client: Any = None) -> list[str]:
    """The uids of the network equipments of ``site``."""
    return natural_sort(_site_network(site, client))


def get_network_equipment_attributes(equip: str, *, client: Any = None) -> dict[str, Any]:
    """The reference description of a network equipment (``kind``, ``linecards`` ...)."""
    return _resolve_equipment(equip, client)[2]


def get_network_equipment_site(equip: str, *, client: Any = None) -> str | None:
    """The site of a network equipment (None for a backbone one)."""
    return _resolve_equipment(equip, client)[0]


def get_host_network_equipments(host: Any, *, client: Any = None) -> list[str]:
    """The equipments (uids) the host's mountable adapters are plugged into."""
    found: list[str] = []
    for ad in get_host_attributes(host, client=client).get("network_adapters") or []:
        switch = ad.get("switch")
        if switch and ad.get("mountable") and not ad.get("management") and switch not in found:
            found.append(switch)
    return found


def get_cluster_network_equipments(cluster: str, *, client: Any = None) -> list[str]:
    """The equipments (uids) the cluster's nodes are plugged into."""
    found: dict[str, None] = {}
    for node in get_reference(client).nodes(cluster):
        found.update(dict.fromkeys(get_host_network_equipments(node, client=client)))
    return list(found)


def get_resource_attributes(path: str, *, client: Any = None) -> dict[str, Any]:
    """Any reference API document, by path (``/sites/rennes/clusters/paravance``)."""
    return as_client(client).get("/" + str(path).lstrip("/"))


def filter_clusters(clusters: Iterable[str], queues: str | Iterable[str] | None = "default", *,
                    client: Any = None) -> list[str]:
    """The clusters (of ``clusters``) having one of the ``queues`` (``"all"`` / None: every one)."""
    return [c for c in clusters if _queues_match(get_cluster_attributes(c, client=client), queues)]


class _Answer:
    """What :class:`APIConnection` returns: the parsed JSON, with the bits of a
    ``requests.Response`` execo scripts use (``json()``, ``status_code``, ``text``)."""

    status_code = 200

    def __init__(self, data: Any) -> None:
        self.data = data

    def json(self) -> Any:
        return self.data

    @property
    def text(self) -> str:
        import json

        return json.dumps(self.data)

    content = text


class APIConnection:
    """execo's small REST helper over the Grid'5000 API: ``get(relative_uri)`` and
    ``post(relative_uri, json)``, through the project's client (retries, explicit URI).

    ``base_uri`` / ``username`` / ``password`` default to the connection of
    :func:`enoslib.g5k.set_api` (or ``~/.python-grid5000.yaml``); ``additional_args`` are
    query parameters added to every request; ``headers`` and ``timeout`` are accepted for
    compatibility.
    """

    def __init__(self, base_uri: str | None = None, username: str | None = None, password: str | None = None,
                 headers: Any = None, additional_args: dict[str, Any] | None = None, timeout: float = 300,
                 *, client: Any = None) -> None:
        if base_uri is not None:
            from enoslib.infra.enos_g5k.client import G5kClient

            self.client = G5kClient(base_uri, username, password)
        else:
            self.client = as_client(client)
        self.base_uri = self.client.uri
        self.additional_args = dict(additional_args or {})

    def get(self, relative_uri: str) -> _Answer:
        return _Answer(self.client.get("/" + relative_uri.lstrip("/"), **self.additional_args))

    def post(self, relative_uri: str, json: Any) -> _Answer:
        return _Answer(self.client.post("/" + relative_uri.lstrip("/"), json))


# -- metrology (Kwollect) -------------------------------------------------------------------------
def get_hosts_metric(hosts: Iterable[Any], metric: str, from_ts: Any = None, to_ts: Any = None,
                     resolution: Any = 1, *, client: Any = None) -> dict[Any, list[tuple[float, Any]]]:
    """Values of ``metric`` (e.g. ``"wattmetre_power_watt"``) measured on ``hosts``, from the
    sites' metrology API (Kwollect): ``{host: [(timestamp, value), ...]}`` in time order.

    ``from_ts`` / ``to_ts``: any date :func:`~enoslib.g5k.time_utils.get_unixts` reads (default:
    the API's, the last few minutes); ``resolution``: at most one value per that many seconds
    (the first of each interval), any duration :func:`~enoslib.g5k.time_utils.get_seconds`
    reads. Hosts are Grid'5000 node names (short or fully qualified) or Hosts; one request per
    site.
    """
    from enoslib.g5k.time_utils import get_seconds, get_unixts

    api = get_reference(client).client
    step = get_seconds(resolution) or 0.0
    by_site: dict[str, list[Any]] = {}
    for host in hosts:
        site = get_host_site(host, client=client)
        if site is None:
            raise ValueError(f"{host!r} is not a Grid'5000 node name")
        by_site.setdefault(site, []).append(host)
    query: dict[str, str] = {"metrics": metric}
    for key, value in (("start_time", from_ts), ("end_time", to_ts)):
        if value is not None:
            query[key] = str(get_unixts(value))
    out: dict[Any, list[tuple[float, Any]]] = {}
    for site, site_hosts in by_site.items():
        short = {get_host_shortname(h): h for h in site_hosts}
        answer = api.get(f"/sites/{site}/metrics", nodes=",".join(short), **query)
        items = answer.get("items", []) if isinstance(answer, dict) else answer
        values: dict[str, list[tuple[float, Any]]] = {name: [] for name in short}
        for item in items:
            if item.get("metric_id") == metric and item.get("device_id") in values:
                values[item["device_id"]].append((_utc(item["timestamp"]), item["value"]))
        for name, series in values.items():
            series.sort(key=lambda tv: tv[0])
            kept: list[tuple[float, Any]] = []
            for t, v in series:
                if not kept or step <= 0 or t >= kept[-1][0] + step:
                    kept.append((t, v))
            out[short[name]] = kept
    return out


def _utc(timestamp: Any) -> float:
    """An API timestamp (ISO 8601, UTC when no offset is given, or epoch seconds) as epoch seconds."""
    import datetime as dt

    if isinstance(timestamp, (int, float)):
        return float(timestamp)
    when = dt.datetime.fromisoformat(str(timestamp).replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()
