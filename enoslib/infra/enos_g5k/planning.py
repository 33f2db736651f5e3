"""When could a configuration run? Computed from the API's status endpoints.

Each demand of the configuration becomes a :class:`~enoslib.infra.slots.CapacityTimeline`:

* nodes of a cluster: capacity = nodes not dead/suspected/absent; busy = their reservations
  (best-effort ones do not count: OAR kills them for us);
* exact servers: the same, restricted to the listed servers;
* vlans of a type (kavlan-local, kavlan, kavlan-global) and /22 subnets of a site: capacity
  from the site status, busy = the vlans/subnets held by the site's jobs.

The times when the whole configuration fits are the intersection of their ``available``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from enoslib.infra.enos_g5k.client import G5kClient
from enoslib.infra.enos_g5k.configuration import KAVLAN_TYPES, G5kConf
from enoslib.infra.enos_g5k.oar import job_subnets, job_vlans
from enoslib.infra.slots import CapacityTimeline, Interval, IntervalSet

logger = logging.getLogger(__name__)

UNUSABLE = ("dead", "suspected", "absent")


def vlan_type(vlan_id: str | int) -> str:
    """KaVLAN type by Grid'5000's numbering: 1-3 local, 4-9 routed, the others global."""
    n = int(vlan_id)
    return "kavlan-local" if 1 <= n <= 3 else "kavlan" if 4 <= n <= 9 else "kavlan-global"


@dataclass
class Demand:
    """``amount`` units of a resource pool during the whole reservation."""

    name: str
    timeline: CapacityTimeline
    amount: int


def _span(r: Mapping[str, Any]) -> tuple[float, float] | None:
    start = r.get("started_at") or r.get("scheduled_at")
    walltime = r.get("walltime")
    if not start or not walltime:
        return None
    return float(start), float(start) + float(walltime)


def _node_reservations(nodes: Mapping[str, Mapping[str, Any]]) -> list[tuple[float, float, int]]:
    busy = []
    for status in nodes.values():
        for r in status.get("reservations", []):
            if r.get("queue") == "besteffort" or "besteffort" in (r.get("types") or []):
                continue
            if r.get("state") in ("error", "terminated"):
                continue
            span = _span(r)
            if span and span[1] > span[0]:
                busy.append((span[0], span[1], 1))
    return busy


def demands(client: G5kClient, conf: G5kConf, cluster_site: Mapping[str, str]) -> list[Demand]:
    """Every demand of ``conf``, with the timelines of the resources it needs."""
    per_cluster: dict[str, int] = defaultdict(int)
    server_groups: list[tuple[str, list[str], int]] = []
    for m in conf.machine_specs():
        per_cluster[m["cluster"]] += m["nodes"]
        if m.get("servers"):
            server_groups.append((m["cluster"], m["servers"], m["nodes"]))
    out: list[Demand] = []
    statuses: dict[str, dict[str, Any]] = {}
    for cluster, amount in per_cluster.items():
        site = cluster_site[cluster]
        status = client.get(f"/sites/{site}/clusters/{cluster}/status", disks="no", job_details="no")
        nodes = {f: s for f, s in (status.get("nodes") or {}).items() if s.get("hard") not in UNUSABLE}
        statuses[cluster] = nodes
        out.append(Demand(f"{cluster} nodes", CapacityTimeline(len(nodes), _node_reservations(nodes)), amount))
    for cluster, servers, amount in server_groups:
        nodes = {f: s for f, s in statuses[cluster].items() if f in servers}
        out.append(Demand(f"servers of {cluster}", CapacityTimeline(len(nodes), _node_reservations(nodes)), amount))
    networks: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for n in conf.network_specs():
        if n["type"] in KAVLAN_TYPES:
            networks[n["site"]][n["type"]] += 1
        elif n["type"] in ("slash_22", "slash_16"):
            networks[n["site"]]["subnets"] += 1 if n["type"] == "slash_22" else 64
    for site, wanted in networks.items():
        status = client.get(f"/sites/{site}/status", disks="no", job_details="no", waiting="no")
        capacity: dict[str, int] = defaultdict(int)
        for vid, v in (status.get("vlans") or {}).items():
            if v.get("hard", "alive") not in UNUSABLE:
                capacity[v.get("type") or vlan_type(vid)] += 1
        capacity["subnets"] = sum(1 for s in (status.get("subnets") or {}).values() if s.get("hard", "alive") not in UNUSABLE)
        busy: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
        for job in client.items(f"/sites/{site}/jobs", state="waiting,launching,running", resources="yes", limit=500):
            span = _span(job)
            if not span or span[1] <= span[0]:
                continue
            kinds: dict[str, int] = defaultdict(int)
            for vid in job_vlans(job):
                kinds[vlan_type(vid)] += 1
            kinds["subnets"] += len(job_subnets(job))
            for kind, count in kinds.items():
                if count:
                    busy[kind].append((span[0], span[1], count))
        for kind, amount in wanted.items():
            out.append(Demand(f"{site} {kind}", CapacityTimeline(capacity[kind], busy[kind]), amount))
    return out


def availability(demand_list: Iterable[Demand], start: float, end: float) -> IntervalSet:
    """The parts of ``[start, end)`` during which every demand is met (free windows; a
    reservation of duration ``d`` fits in those at least ``d`` long)."""
    window = Interval(start, end)
    result = IntervalSet([window])
    for d in demand_list:
        result = result.intersection(d.timeline.available(d.amount, window))
        if not result:
            logger.debug("no slot: %s (%s needed)", d.name, d.amount)
            break
    return result
