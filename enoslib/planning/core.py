"""Plannings and slots, with execo_g5k.planning's names and shapes, computed exactly.

A *planning* is ``{site: {cluster: {host: {"busy": [(start, end), ...], "free": [...]}}}}``;
a site may also have ``"vlans"`` (``{"kavlan-4": {...}}``), ``"subnets"`` and ``"storage"``
entries of the same shape. Times are POSIX seconds; each ``(start, end)`` means ``[start, end)``.
:func:`~enoslib.planning.get_planning` fetches one from Grid'5000; :func:`make_planning` builds one
from busy periods (tests, other testbeds, what-if studies).

:func:`compute_slots` turns it into *slots* ``(start, end, free)``: for each candidate start,
how many hosts of each element (``"grid5000"``, each site, each cluster) are free during the
whole walltime, and the free vlans. The candidates are the planning's breakpoints, so the
earliest start where enough hosts are free is always among them (a host's count can only go up
where one of its free periods begins): :func:`find_free_slot` answers exactly, with no time
step. ``free`` also carries the planning's :class:`Topology` (which element is a site, a
cluster, a host), so :func:`find_free_slot` and :func:`distribute_hosts` need no API call.

>>> planning = make_planning({"rennes": {"paravance": {"paravance-1": [(0, 100)], "paravance-2": []}}},
...                          starttime=0, endtime=1000)
>>> slot = find_free_slot(compute_slots(planning, 200), {"paravance": 2})
>>> slot.start, slot.resources["paravance"]
(100, 2)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from enoslib.infra.slots import (
    Interval,
    IntervalSet,
    clock_to_seconds,
    render_text_gantt,
    to_seconds,
    to_timestamp,
)

__all__ = ["FreeResources", "Slot", "Topology", "compute_slots", "distribute_hosts", "find_first_slot",
           "find_free_slot", "find_max_slot", "make_planning", "max_resources", "text_gantt", "text_slots"]

SPECIAL = ("vlans", "subnets", "storage")
"""Per-site keys of a planning that are not clusters."""


# --------------------------------------------------------------------------------------------
# What the elements are
# --------------------------------------------------------------------------------------------


class Topology:
    """Which element is a site, a cluster or a host, from a planning (or ``{site: {cluster:
    [hosts]}}``): enough for the slot functions to work offline."""

    def __init__(self, layout: Mapping[str, Mapping[str, Iterable[str]]]) -> None:
        self.layout: dict[str, dict[str, list[str]]] = {
            site: {cluster: list(hosts) for cluster, hosts in clusters.items() if cluster not in SPECIAL}
            for site, clusters in layout.items()
        }
        self.cluster_site = {c: s for s, cs in self.layout.items() for c in cs}
        self.host_cluster = {h: c for cs in self.layout.values() for c, hs in cs.items() for h in hs}
        for host in list(self.host_cluster):  # short names too
            self.host_cluster.setdefault(host.split(".")[0], self.host_cluster[host])

    @classmethod
    def of(cls, planning: Mapping[str, Any]) -> Topology:
        return cls(planning)

    @property
    def sites(self) -> list[str]:
        return list(self.layout)

    @property
    def clusters(self) -> list[str]:
        return list(self.cluster_site)

    def is_site(self, element: str) -> bool:
        return element in self.layout

    def is_cluster(self, element: str) -> bool:
        return element in self.cluster_site

    def is_host(self, element: str) -> bool:
        return element in self.host_cluster

    def site_of(self, element: str) -> str | None:
        if self.is_site(element):
            return element
        cluster = element if self.is_cluster(element) else self.host_cluster.get(element)
        return self.cluster_site.get(cluster) if cluster else None

    def hosts_of(self, site: str) -> list[str]:
        return [h for hs in self.layout.get(site, {}).values() for h in hs]

    def __repr__(self) -> str:
        return f"Topology({ {s: list(cs) for s, cs in self.layout.items()} })"


class FreeResources(dict):  # type: ignore[type-arg]
    """``{element: free hosts}`` (plus ``"kavlan"``) of a slot, with the planning's topology."""

    topology: Topology | None = None


class Slot(NamedTuple):
    """``(start, end, resources)``: unpacks like execo's ``[start, stop, freehosts]``."""

    start: float
    end: float
    resources: FreeResources


_NONE = (None, None, None)


# --------------------------------------------------------------------------------------------
# Building plannings
# --------------------------------------------------------------------------------------------


def _number(t: float) -> float:
    return int(t) if float(t).is_integer() else t  # type: ignore[return-value]


def _element_planning(busy: Iterable[tuple[Any, Any]], start: float, end: float) -> dict[str, list[tuple[float, float]]]:
    window = Interval(start, end)
    taken = IntervalSet([Interval(to_timestamp(s), to_timestamp(e)) for s, e in busy if e > s]).clip(window)
    free = taken.complement(window)
    return {"busy": [(_number(i.start), _number(i.end)) for i in taken],
            "free": [(_number(i.start), _number(i.end)) for i in free]}


def make_planning(busy: Mapping[str, Mapping[str, Mapping[str, Iterable[tuple[Any, Any]]]]],
                  starttime: Any, endtime: Any) -> dict[str, dict[str, dict[str, dict[str, list[tuple[float, float]]]]]]:
    """A planning from busy periods: ``{site: {cluster or "vlans"...: {element: [(start, end)]}}}``.
    Busy periods are merged and cut to ``[starttime, endtime)``; ``free`` is the rest."""
    s, e = to_timestamp(starttime), to_timestamp(endtime)
    return {site: {kind: {el: _element_planning(periods, s, e) for el, periods in elements.items()}
                   for kind, elements in kinds.items()}
            for site, kinds in busy.items()}


def _elements(planning: Mapping[str, Any]) -> Iterable[tuple[str, str, str, Mapping[str, Any]]]:
    for site, kinds in planning.items():
        for kind, elements in kinds.items():
            for element, el_planning in elements.items():
                yield site, kind, element, el_planning


def _limits(planning: Mapping[str, Any]) -> list[float]:
    """Every breakpoint of the planning except the last one (the planning's end)."""
    points = {t for *_, pl in _elements(planning) for key in ("busy", "free") for period in pl.get(key, ())
              for t in period}
    return sorted(points)[:-1]


def _without(planning: Mapping[str, Any], excluded: Iterable[str] | None) -> dict[str, Any]:
    """A copy of ``planning`` without the excluded sites, clusters, kinds and elements."""
    out = set(excluded or ())
    return {site: {kind: {el: pl for el, pl in elements.items() if el not in out and el.split(".")[0] not in out}
                   for kind, elements in kinds.items() if kind not in out}
            for site, kinds in planning.items() if site not in out}


def _vlan_id(name: str) -> int | None:
    tail = str(name).rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


# --------------------------------------------------------------------------------------------
# Slots
# --------------------------------------------------------------------------------------------


def compute_slots(planning: Mapping[str, Any], walltime: Any, excluded_elements: Iterable[str] | None = None,
                  include_hosts: bool = False) -> list[Slot]:
    """The slots of ``planning`` for a reservation of ``walltime`` (seconds, timedelta or
    ``"H:MM:SS"``): one per breakpoint, with the hosts free during the whole walltime counted per
    element (``"grid5000"``, sites, clusters; each host too with ``include_hosts``) and the
    vlans: ``"kavlan"`` is the number of free vlans below 10 (local and routed) for a one-site
    planning, the list of sites with a free global vlan for several sites (as in execo).
    Subnets and storage are not counted. The planning is not modified (execo's is)."""
    length = _walltime(walltime)
    planning = _without(planning, excluded_elements)
    topology = Topology({s: {c: list(hs) for c, hs in cs.items()} for s, cs in planning.items()})
    sites = list(planning)
    one_site = len(sites) == 1
    limits = _limits(planning)
    # sweep: each element's start set is a union of intervals; +1 where one begins, -1 after it ends
    events: list[tuple[tuple[float, int], int, int]] = []  # ((time, order), +1/-1, element index)
    owners: list[tuple[str, str, str]] = []
    for site, kind, element, pl in _elements(planning):
        if kind in ("subnets", "storage"):
            continue
        if kind == "vlans":
            vid = _vlan_id(element)
            if vid is None or (one_site and vid >= 10) or (not one_site and vid < 10):
                continue
        index = len(owners)
        owners.append((site, kind, element))
        free = IntervalSet([Interval(to_timestamp(a), to_timestamp(b)) for a, b in pl.get("free", ()) if b > a])
        for iv in free.windows_of_length(length):
            events.append(((iv.start, 0 if iv.closed_start else 2), 1, index))
            events.append(((iv.end, 2 if iv.closed_end else 0), -1, index))
    events.sort(key=lambda ev: ev[0])
    free_now = [0] * len(owners)
    has_vlans = any("vlans" in planning[s] for s in sites)
    slots: list[Slot] = []
    cursor = 0
    for limit in limits:
        probe = (limit, 1)
        while cursor < len(events) and events[cursor][0] < probe:
            free_now[events[cursor][2]] += events[cursor][1]
            cursor += 1
        counts = FreeResources({"grid5000": 0})
        counts.update({s: 0 for s in sites})
        for s in sites:
            counts.update({c: 0 for c in planning[s] if c not in SPECIAL})
        kavlan: Any = 0 if one_site else []
        for (site, kind, element), n in zip(owners, free_now):
            if kind == "vlans":
                if n > 0:
                    if one_site:
                        kavlan += 1
                    elif site not in kavlan:
                        kavlan.append(site)
                continue
            if n > 0:
                counts["grid5000"] += 1
                counts[site] += 1
                counts[kind] += 1
            if include_hosts:
                counts[element] = 1 if n > 0 else 0
        if has_vlans:
            counts["kavlan"] = kavlan
        counts.topology = topology
        slots.append(Slot(_number(limit), _number(limit + length), counts))
    return slots


def _walltime(walltime: Any) -> float:
    if isinstance(walltime, str):
        parsed = clock_to_seconds(walltime)
        if parsed is None:
            raise ValueError(f"walltime {walltime!r} is not seconds nor H:MM:SS")
        seconds = parsed
    else:
        seconds = to_seconds(walltime)
    if seconds <= 0:
        raise ValueError(f"walltime must be positive, got {walltime!r}")
    return seconds


def max_resources(planning: Mapping[str, Any]) -> dict[str, int]:
    """How many hosts each element (``grid5000``, sites, clusters) has in the planning."""
    out = {"grid5000": 0}
    for site, kinds in planning.items():
        out[site] = 0
        for kind, elements in kinds.items():
            if kind in SPECIAL:
                continue
            out[kind] = len(elements)
            out[site] += len(elements)
            out["grid5000"] += len(elements)
    return out


def _vlan_ok(slot: Slot, wanted: Mapping[str, Any]) -> bool:
    if "kavlan" not in wanted:
        return True
    free = slot.resources.get("kavlan", 0)
    return bool(free) if isinstance(free, list) else free > 0


def _wanted_total(slot: Slot, wanted: Mapping[str, Any]) -> int:
    return sum(n for el, n in slot.resources.items() if el in wanted and el != "kavlan" and isinstance(n, int))


def find_first_slot(slots: Iterable[Slot], resources_wanted: Mapping[str, Any]) -> Slot | tuple[None, None, None]:
    """The first slot where some host of the wanted elements is free (and a vlan, if
    ``"kavlan"`` is wanted); ``(None, None, None)`` if none."""
    for slot in slots:
        if _wanted_total(slot, resources_wanted) > 0 and _vlan_ok(slot, resources_wanted):
            return slot
    return _NONE


def find_max_slot(slots: Iterable[Slot], resources_wanted: Mapping[str, Any]) -> Slot | tuple[None, None, None]:
    """The (first) slot with the most free hosts in the wanted elements; ``(None, None, None)``
    if none has any."""
    best: Slot | tuple[None, None, None] = _NONE
    most = 0
    for slot in slots:
        total = _wanted_total(slot, resources_wanted)
        if total > most and _vlan_ok(slot, resources_wanted):
            best, most = slot, total
    return best


def find_free_slot(slots: Iterable[Slot], resources_wanted: dict[str, Any]) -> Slot | tuple[None, None, None]:
    """The first slot with enough free hosts in every wanted element, e.g.
    ``{"grid5000": 50, "lyon": 20, "stremi": 10}``; ``(None, None, None)`` if none.

    As in execo: a cluster's hosts are counted on top of its site's when both are wanted (20 in
    lyon *besides* the 10 of its cluster stremi), and when ``"kavlan"`` is wanted, the slot's
    free vlans are written back into ``resources_wanted["kavlan"]`` (for :func:`get_jobs_specs`).
    Exact: the earliest such start is always a breakpoint of the planning, hence a slot.
    """
    topology: Topology | None = None
    real: dict[str, Any] = {}
    for slot in slots:
        if topology is None:
            topology = slot.resources.topology or Topology({})
            real = dict(resources_wanted)
            for element, n in resources_wanted.items():
                site = topology.site_of(element) if topology.is_cluster(element) else None
                if site is not None and site in resources_wanted:
                    real[site] += n
        enough = all(slot.resources.get(el, 0) >= n for el, n in real.items()
                     if el != "kavlan" and isinstance(n, (int, float)))
        if enough and _vlan_ok(slot, resources_wanted):
            if "kavlan" in resources_wanted:
                resources_wanted["kavlan"] = slot.resources.get("kavlan")
            return slot
    return _NONE


# --------------------------------------------------------------------------------------------
# Distributing hosts
# --------------------------------------------------------------------------------------------


def distribute_hosts(resources_available: Mapping[str, Any], resources_wanted: Mapping[str, Any],
                     excluded_elements: Iterable[str] | None = None, ratio: float | None = None, *,
                     topology: Topology | None = None) -> FreeResources:
    """How many hosts to take where: ``{cluster or site: n, "kavlan": ...}``.

    ``resources_available``: a slot's resources (:func:`find_free_slot` ``[2]``), whose topology
    is used (or pass ``topology``); ``resources_wanted``: ``{cluster: n, site: n, "grid5000": n}``,
    0 or a negative number meaning "all available there". Wanted clusters come first, then
    wanted sites, then the ``grid5000`` count is spread over the sites one host at a time (round
    robin). Excluded sites and clusters are not used. ``ratio`` keeps that fraction (rounded
    down) of each count. Unlike execo, ``resources_available`` is not modified, and hosts given
    to a wanted cluster or site are not offered again to ``grid5000``.
    """
    topo = topology or getattr(resources_available, "topology", None)
    if topo is None:
        raise ValueError("distribute_hosts needs the topology: pass a slot's resources (from compute_slots) "
                         "or topology=Topology.of(planning)")
    avail = {k: v for k, v in resources_available.items()}
    excluded = set(excluded_elements or ())
    out: dict[str, Any] = {}

    def take(element: str, n: int) -> None:
        keys = {element, "grid5000", topo.site_of(element) or element}
        for key in keys:
            if isinstance(avail.get(key), int):
                avail[key] -= n

    for cluster in [c for c in excluded if topo.is_cluster(c)]:
        take(cluster, avail.get(cluster, 0))
    for element, n in resources_wanted.items():
        if topo.is_cluster(element) and element not in excluded and topo.site_of(element) not in excluded:
            count = n if n > 0 else avail.get(element, 0)
            out[element] = count
            take(element, count)
    for site in [s for s in excluded if topo.is_site(s)]:
        if isinstance(avail.get(site), int):
            avail["grid5000"] = avail.get("grid5000", 0) - avail[site]
            avail[site] = 0
    for element, n in resources_wanted.items():
        if topo.is_site(element) and element not in excluded:
            count = n if n > 0 else avail.get(element, 0)
            out[element] = out.get(element, 0) + count
            take(element, count)
    if "grid5000" in resources_wanted:
        wanted = resources_wanted["grid5000"]
        total = wanted if wanted > 0 else avail.get("grid5000", 0)
        sites = [s for s in topo.sites if s not in excluded and avail.get(s, 0) > 0]
        placed, turn = 0, 0
        while placed < total and sites:
            site = sites[turn % len(sites)]
            if avail.get(site, 0) <= 0:
                sites.remove(site)  # the next site takes this turn
                continue
            out[site] = out.get(site, 0) + 1
            take(site, 1)
            placed, turn = placed + 1, turn + 1
    if "kavlan" in resources_wanted:
        out["kavlan"] = resources_available.get("kavlan")
    if ratio is not None:
        out = {k: (math.floor(v * ratio) if isinstance(v, (int, float)) and k != "kavlan" else v)
               for k, v in out.items()}
    result = FreeResources(out)
    result.topology = topo  # get_jobs_specs needs no API call then
    return result


# --------------------------------------------------------------------------------------------
# Text renderings (terminals, logs)
# --------------------------------------------------------------------------------------------


def text_gantt(planning: Mapping[str, Any], width: int = 100, starttime: Any = None, endtime: Any = None) -> str:
    """The planning as text, one line per host/vlan (``#`` free, ``.`` busy, ``+`` partly)."""
    rows: dict[str, IntervalSet] = {}
    spans: list[float] = []
    for site, kind, element, pl in _elements(planning):
        free = IntervalSet([Interval(to_timestamp(a), to_timestamp(b)) for a, b in pl.get("free", ()) if b > a])
        label = element.split(".")[0] if kind not in SPECIAL else f"{site}:{element}"
        rows[label] = free
        spans += [t for period in [*pl.get("free", ()), *pl.get("busy", ())] for t in period]
    if not rows:
        return "(empty planning)"
    start = to_timestamp(starttime) if starttime is not None else min(spans)
    end = to_timestamp(endtime) if endtime is not None else max(spans)
    return render_text_gantt(rows, Interval(start, end), width=width)


def text_slots(slots: Iterable[Slot], elements: Iterable[str] | None = None) -> str:
    """The slots as a text table: start, end and the free hosts of ``elements`` (default: every
    element but hosts)."""
    from enoslib.infra.slots import format_time

    slots = list(slots)
    if not slots:
        return "(no slots)"
    topo = slots[0].resources.topology
    columns = list(elements) if elements is not None else [
        k for k in slots[0].resources if not (topo and topo.is_host(k))]
    header = ["start", "end", *columns]
    lines = [[format_time(s.start), format_time(s.end),
              *(str(s.resources.get(c, "")) for c in columns)] for s in slots]
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *lines])
