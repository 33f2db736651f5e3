"""The Grid'5000 usage charter's time periods.

Charter rules apply on working days from 9:00 to 19:00 (Europe/Paris); nights, week-ends and
French public holidays are free of them.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from enoslib.g5k.time_utils import get_unixts
from enoslib.infra.enos_g5k.oar import PARIS

__all__ = ["easter_sunday", "french_holidays", "g5k_charter_remaining", "g5k_charter_time", "get_next_charter_period"]

DAY_START, DAY_END = 9, 19
FIXED_HOLIDAYS = ((1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25))


def easter_sunday(year: int) -> dt.date:
    """Gregorian Easter (the "anonymous" computus of Meeus/Butcher)."""
    golden = year % 19
    century, year_in = divmod(year, 100)
    leap_c, rem_c = divmod(century, 4)
    correction = (century + 8) // 25
    moon = (century - correction + 1) // 3
    epact = (19 * golden + century - leap_c - moon + 15) % 30
    leap_y, rem_y = divmod(year_in, 4)
    weekday = (32 + 2 * rem_c + 2 * leap_y - epact - rem_y) % 7
    shift = (golden + 11 * epact + 22 * weekday) // 451
    month, day = divmod(epact + weekday - 7 * shift + 114, 31)
    return dt.date(year, month, day + 1)


@functools.lru_cache(maxsize=64)
def french_holidays(year: int) -> frozenset[dt.date]:
    """The French public holidays of ``year`` (outside the Grid'5000 charter's working days)."""
    easter = easter_sunday(year)
    movable = (easter + dt.timedelta(days=1), easter + dt.timedelta(days=39), easter + dt.timedelta(days=50))
    return frozenset({dt.date(year, m, d) for m, d in FIXED_HOLIDAYS} | set(movable))


def _working_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in french_holidays(day.year)


def _paris(t: Any) -> dt.datetime:
    ts = get_unixts(t)
    if ts is None:
        raise ValueError("a date is needed")
    return dt.datetime.fromtimestamp(ts, PARIS)


def g5k_charter_time(t: Any) -> bool:
    """Whether the charter applies at ``t`` (any date the toolbox accepts)."""
    moment = _paris(t)
    return _working_day(moment.date()) and DAY_START <= moment.hour < DAY_END


def get_next_charter_period(start: Any, end: Any) -> tuple[float, float] | tuple[None, None]:
    """The first charter period overlapping ``[start, end]``, clipped to it, as epochs;
    ``(None, None)`` when there is none."""
    begin, finish = _paris(start), _paris(end)
    if finish <= begin:
        return None, None
    day = begin.date()
    while True:
        opening = dt.datetime.combine(day, dt.time(DAY_START), PARIS)
        closing = dt.datetime.combine(day, dt.time(DAY_END), PARIS)
        if opening > finish:
            return None, None
        if _working_day(day) and closing > begin:
            return max(begin, opening).timestamp(), min(finish, closing).timestamp()
        day += dt.timedelta(days=1)


CHARTER_CORE_HOURS = 2  # per core of a cluster, during a day's charter period


def g5k_charter_remaining(sites: Any, day: Any, user: str | None = None, *, client: Any = None) -> dict[str, float]:
    """Charter time left to ``user`` on ``day``, per cluster of ``sites``, in core-seconds.

    The budget of a cluster is 2 hours of all its cores; every job of the user (besteffort
    excluded), past or planned, that overlaps the day's charter period (9:00-19:00, working
    days) uses the cores of its nodes on that cluster times its walltime. Jobs come from the
    OAR API: the jobs list (nodes of started jobs) and the clusters' status (nodes planned for
    waiting reservations); execo reads the OAR database instead. ``user``: the API login.
    """
    from enoslib.g5k.api_utils import get_host_cluster, get_host_shortname, get_reference, get_site_clusters
    from enoslib.infra.enos_g5k import oar as _oar
    from enoslib.infra.enos_g5k.client import as_client

    c = as_client(client)
    user = user or c.login
    date = day.date() if isinstance(day, dt.datetime) else day
    if not isinstance(date, dt.date):
        date = _paris(day).date()
    opening = dt.datetime.combine(date, dt.time(DAY_START), PARIS).timestamp()
    closing = dt.datetime.combine(date, dt.time(DAY_END), PARIS).timestamp()
    ref = get_reference(c)

    def cores(node: str) -> int:
        cluster = get_host_cluster(node)
        data = ref.nodes(cluster).get(get_host_shortname(node)) or {}
        return int((data.get("architecture") or {}).get("nb_cores", 0))

    remaining: dict[str, float] = {}
    for site in [sites] if isinstance(sites, str) else list(sites):
        clusters = get_site_clusters(site, None, client=c)
        usage: dict[tuple[Any, str], dict[str, Any]] = {}  # (job, node) -> job or reservation
        if _working_day(date):
            for job in _oar.find_jobs(c, site, user=user, states=()):
                for node in _oar.job_nodes(job):
                    usage[(job["uid"], node)] = job
            for cluster in clusters:
                status = c.get(f"/sites/{site}/clusters/{cluster}/status", disks="no", job_details="no")
                for node, state in (status.get("nodes") or {}).items():
                    for r in state.get("reservations") or []:
                        if r.get("user") == user:
                            usage.setdefault((r.get("uid"), node), r)
        used: dict[str, float] = {}
        for (_, node), job in usage.items():
            start = job.get("started_at") or job.get("scheduled_at")
            walltime = float(job.get("walltime") or 0)
            if not start or "besteffort" in (job.get("types") or []) or job.get("state") == "error":
                continue
            if start < closing and start + walltime > opening:
                cluster = get_host_cluster(node)
                used[cluster] = used.get(cluster, 0.0) + cores(node) * walltime
        for cluster in clusters:
            total = sum(cores(n) for n in ref.nodes(cluster))
            remaining[cluster] = max(0.0, total * CHARTER_CORE_HOURS * 3600.0 - used.get(cluster, 0.0))
    return remaining
