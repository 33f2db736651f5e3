"""Grid'5000 plannings from the REST API (execo_g5k.planning's ``get_planning`` and friends).

The Grid'5000 code (client, reference cache, OAR helpers, the execo-style toolbox) is imported
inside the functions, so ``import enoslib.planning`` stays cheap and works without the g5k extra.
The API connection is the one of :func:`enoslib.g5k.set_api` unless ``client=`` is given.

>>> planning = get_planning(["rennes"], vlan=True)              # doctest: +SKIP
>>> slots = compute_slots(planning, "2:00:00")                  # doctest: +SKIP
>>> start, end, free = find_free_slot(slots, {"paravance": 4})  # doctest: +SKIP
>>> get_jobs_specs(distribute_hosts(free, {"paravance": 4}), name="exp")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from enoslib.planning.core import Topology, compute_slots, make_planning

__all__ = ["g5k_topology", "get_hosts_jobs", "get_jobs_specs", "get_planning"]

logger = logging.getLogger(__name__)

UNUSABLE = ("dead", "absent", "suspected")
JOB_END_MARGIN = 121
"""Seconds added to the end of every job, as execo does: OAR takes a while to kill a job at the
end of its walltime, and a reservation that starts right at that end may be refused or delayed."""


def _client(client: Any) -> Any:
    from enoslib.infra.enos_g5k.client import as_client

    return as_client(client)


def _span(r: Mapping[str, Any], margin: float) -> tuple[float, float] | None:
    start = r.get("started_at") or r.get("scheduled_at")
    walltime = r.get("walltime")
    if not start or not walltime:
        return None
    return float(start), float(start) + float(walltime) + margin


def _besteffort(r: Mapping[str, Any]) -> bool:
    return r.get("queue") == "besteffort" or "besteffort" in (r.get("types") or [])


def _resolve(elements: Iterable[str], queues: Any, client: Any) -> tuple[list[str], set[str], set[str]]:
    """(sites, wanted clusters, wanted hosts) of the elements; empty sets mean "all"."""
    from enoslib.g5k import api_utils as ref

    elements = list(elements)
    all_sites = ref.get_g5k_sites(client=client)
    if "grid5000" in elements:
        return list(all_sites), set(), set()
    sites: list[str] = []
    clusters: set[str] = set()
    hosts: set[str] = set()
    whole_sites = [e for e in elements if e in all_sites]
    known_clusters = set(ref.get_g5k_clusters(queues=None, client=client))
    for element in elements:
        if element in all_sites:
            site = element
        elif element in known_clusters:
            site = ref.get_cluster_site(element, client=client)
            clusters.add(element)
        else:
            found = ref.get_host_site(element, client=client)
            if found is None:
                raise ValueError(f"{element!r} is neither 'grid5000', a site, a cluster nor a host of Grid'5000")
            site = found
            hosts.add(ref.get_host_longname(element, client=client) or element)
        if site not in sites:
            sites.append(site)
    if whole_sites:  # a whole site asked for: its clusters and hosts are all wanted there
        clusters |= {c for s in whole_sites for c in ref.get_site_clusters(s, queues, client=client)}
    return sites, clusters, hosts


def _site_busy(c: Any, site: str, clusters: list[str], wanted_clusters: set[str], wanted_hosts: set[str],
               vlan: bool, subnet: bool, storage: bool, ignore_besteffort: bool, margin: float) -> dict[str, Any]:
    from enoslib.infra.enos_g5k.oar import job_subnets, job_vlans

    busy: dict[str, Any] = {}
    for cluster in clusters:
        status = c.get(f"/sites/{site}/clusters/{cluster}/status", disks="no", job_details="no")
        hosts: dict[str, list[tuple[float, float]]] = {}
        for fqdn, node in (status.get("nodes") or {}).items():
            if node.get("hard") in UNUSABLE:
                continue
            if (wanted_clusters or wanted_hosts) and cluster not in wanted_clusters and fqdn not in wanted_hosts:
                continue
            periods = []
            for r in node.get("reservations") or []:
                if r.get("state") in ("error", "terminated") or (ignore_besteffort and _besteffort(r)):
                    continue
                span = _span(r, margin)
                if span and span[1] > span[0]:
                    periods.append(span)
            hosts[fqdn] = periods
        if hosts:
            busy[cluster] = hosts
    if vlan or subnet:
        status = c.get(f"/sites/{site}/status", disks="no", job_details="no", waiting="no")
        vlans: dict[str, list[tuple[float, float]]] = {f"kavlan-{v}": [] for v, s in (status.get("vlans") or {}).items()
                 if s.get("hard", "alive") not in UNUSABLE} if vlan else {}
        subnets: dict[str, list[tuple[float, float]]] = {x: [] for x, s in (status.get("subnets") or {}).items()
                   if s.get("hard", "alive") not in UNUSABLE} if subnet else {}
        for job in c.items(f"/sites/{site}/jobs", state="waiting,launching,running", resources="yes", limit=500):
            if ignore_besteffort and _besteffort(job):
                continue
            span = _span(job, margin)
            if not span:
                continue
            for v in job_vlans(job):
                vlans.setdefault(f"kavlan-{v}", []).append(span)
            for x in job_subnets(job):
                subnets.setdefault(x, []).append(span)
        if vlan:
            busy["vlans"] = vlans
        if subnet:
            busy["subnets"] = subnets
    if storage:
        busy["storage"] = {}  # storage reservations are not in the API's status: left empty
    return busy


def get_planning(elements: Iterable[str] = ("grid5000",), vlan: bool = False, subnet: bool = False,
                 storage: bool = False, out_of_chart: bool = False, starttime: Any = None, endtime: Any = None,
                 ignore_besteffort: bool = True, queues: Any = "default", *, client: Any = None,
                 job_end_margin: float = JOB_END_MARGIN) -> dict[str, Any]:
    """The planning of Grid'5000 elements (``"grid5000"``, sites, clusters, hosts), as
    ``{site: {cluster: {host: {"busy": [...], "free": [...]}}, "vlans": ..., "subnets": ...}}``.

    ``starttime`` defaults to now + 1 minute, ``endtime`` to 4 weeks later. ``out_of_chart``:
    the charter's periods (working days 9:00-19:00, Europe/Paris) count as busy. Best-effort
    jobs count as free unless ``ignore_besteffort=False``. Each job's end is extended by
    ``job_end_margin`` seconds (execo's 121 s). Dead/absent/suspected nodes are left out.
    ``storage`` gives an empty entry (not in the status API). Sites are asked in parallel.
    """
    from enoslib.g5k import api_utils as ref
    from enoslib.g5k.time_utils import get_unixts

    c = _client(client)
    start = int((get_unixts(starttime) if starttime is not None else None) or c.now() + 60)  # whole seconds
    end = int((get_unixts(endtime) if endtime is not None else None) or start + 4 * 7 * 86_400 + 60)
    sites, wanted_clusters, wanted_hosts = _resolve(elements, queues, c)
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}

    def one(site: str) -> None:
        try:
            clusters = ref.get_site_clusters(site, queues, client=c)
            if wanted_clusters or wanted_hosts:
                from enoslib.g5k.api_utils import get_host_cluster

                keep = wanted_clusters | {get_host_cluster(h) for h in wanted_hosts}
                clusters = [x for x in clusters if x in keep]
            results[site] = _site_busy(c, site, clusters, wanted_clusters, wanted_hosts, vlan, subnet, storage,
                                       ignore_besteffort, job_end_margin)
        except Exception as exc:  # noqa: BLE001 - execo leaves unreachable sites out; so do we, loudly
            errors[site] = exc

    threads = [threading.Thread(target=one, args=(s,), daemon=True) for s in sites]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for site, exc in errors.items():
        logger.warning("%s left out of the planning: %s", site, exc)
    if errors and not results:
        raise next(iter(errors.values()))
    busy = {site: results[site] for site in sites if site in results}
    if out_of_chart:
        charter = _charter_periods(start, end)
        for kinds in busy.values():
            for elements_ in kinds.values():
                for periods in elements_.values():
                    periods.extend(charter)
    return make_planning(busy, start, end)


def _charter_periods(start: float, end: float) -> list[tuple[float, float]]:
    from enoslib.g5k.charter import get_next_charter_period

    periods: list[tuple[float, float]] = []
    cursor = start
    while True:
        s, e = get_next_charter_period(cursor, end)
        if s is None or e is None:
            return periods
        periods.append((s, e))
        cursor = e


def g5k_topology(resources: Iterable[str], *, client: Any = None) -> Topology:
    """The topology of the sites of ``resources`` (sites, clusters, hosts), from the reference."""
    from enoslib.g5k import api_utils as ref

    c = _client(client)
    sites = ref.get_g5k_sites(client=c)
    wanted: list[str] = []
    for element in resources:
        site = element if element in sites else None
        if site is None and element in set(ref.get_g5k_clusters(queues=None, client=c)):
            site = ref.get_cluster_site(element, client=c)
        if site is None and element not in ("grid5000", "kavlan"):
            site = ref.get_host_site(element, client=c)
        if site and site not in wanted:
            wanted.append(site)
    return Topology({s: {cl: ref.get_cluster_hosts(cl, client=c) for cl in ref.get_site_clusters(s, None, client=c)}
                     for s in wanted})


def get_jobs_specs(resources: Mapping[str, Any], excluded_elements: Iterable[str] | None = None,
                   name: str | None = None, *, topology: Topology | None = None, client: Any = None) -> list[Any]:
    """One ``(OarSubmission, site)`` per site for ``resources`` (``{site|cluster|host: n,
    "kavlan": ...}``, e.g. from :func:`~enoslib.planning.distribute_hosts`), never on the
    excluded elements. A ``"kavlan"`` entry asks a routed vlan (one site) or a global vlan on the
    first site listed in it (several sites). The topology comes from ``resources`` when it is a
    slot's, else ``topology=``, else the reference API."""
    from enoslib.g5k.oar import OarSubmission

    topo = topology or getattr(resources, "topology", None) or g5k_topology(resources, client=client)
    excluded = set(excluded_elements or ())
    sites: list[str] = []
    for element, n in resources.items():
        if element in ("kavlan", "grid5000") or element in excluded:
            continue
        site = topo.site_of(element)
        if site and site not in excluded and site not in sites and (not isinstance(n, int) or n > 0):
            sites.append(site)
    kavlan = resources.get("kavlan")
    global_vlan = len(sites) > 1
    vlan_site = (kavlan[0] if isinstance(kavlan, list) and kavlan else sites[0] if sites else None) \
        if "kavlan" in resources else None
    specs = []
    for site in sites:
        site_hosts = topo.hosts_of(site)
        bad_hosts = sorted(h for h in site_hosts if h in excluded or h.split(".")[0] in excluded)
        bad_clusters = sorted(c for c in topo.layout.get(site, {}) if c in excluded)
        not_hosts = [f"host NOT IN ({', '.join(repr(h) for h in bad_hosts)})"] if bad_hosts else []
        not_clusters = [f"cluster NOT IN ({', '.join(repr(c) for c in bad_clusters)})"] if bad_clusters else []
        groups = []
        explicit = [h for h in resources if topo.is_host(h) and topo.site_of(h) == site and h not in excluded
                    and topo.host_cluster.get(h) not in excluded]
        if explicit:
            groups.append(f"{{host IN ({', '.join(repr(h) for h in explicit)})}}/nodes={len(explicit)}")
        for cluster in [c for c in resources if topo.is_cluster(c) and topo.site_of(c) == site and c not in excluded]:
            if resources[cluster] > 0:
                groups.append("{" + " AND ".join([f"cluster='{cluster}'", *not_hosts]) + f"}}/nodes={resources[cluster]}")
        if isinstance(resources.get(site), int) and resources[site] > 0:
            constraints = not_hosts + not_clusters
            groups.append(("{" + " AND ".join(constraints) + "}/" if constraints else "") + f"nodes={resources[site]}")
        if vlan_site == site:
            groups.append(f"{{type='{'kavlan-global' if global_vlan else 'kavlan'}'}}/vlan=1")
        if groups:
            specs.append((OarSubmission(resources="+".join(groups), name=name), site))
    return specs


def get_hosts_jobs(hosts: Iterable[Any], walltime: Any, out_of_chart: bool = False, *,
                   client: Any = None) -> list[Any]:
    """Job specs reserving exactly ``hosts`` (names or Hosts) at the first time they are all
    free for ``walltime``: ``[(OarSubmission, site), ...]`` (empty if they never are, within
    the default 4 weeks)."""
    from enoslib.g5k.api_utils import get_host_longname
    from enoslib.g5k.oar import OarSubmission

    names = [getattr(h, "address", h) for h in hosts]
    c = _client(client)
    longnames = [get_host_longname(h, client=c) or h for h in names]
    planning = get_planning(longnames, out_of_chart=out_of_chart, client=c)
    wanted = {h: 1 for h in longnames}
    for slot in compute_slots(planning, walltime, include_hosts=True):
        if all(slot.resources.get(h, 0) >= n for h, n in wanted.items()):
            topo = slot.resources.topology
            specs = []
            for site in topo.sites:  # type: ignore[union-attr]
                mine = [h for h in longnames if topo.site_of(h) == site]  # type: ignore[union-attr]
                if mine:
                    res = f"{{host IN ({', '.join(repr(h) for h in mine)})}}/nodes={len(mine)}"
                    specs.append((OarSubmission(resources=res, walltime=walltime, reservation_date=slot.start), site))
            return specs
    logger.warning("%s are never all free for %s in the planning", ", ".join(longnames), walltime)
    return []
