"""execo_g5k.oargrid's functions, for scripts written against oargrid (gone from Grid'5000).

An "oargrid job" here is a group of OAR jobs submitted at once with
:func:`~enoslib.g5k.oar.oarsubgrid` (all or nothing), under a small integer id kept in a
registry file of the enoslib cache (one per API), so that later calls and later processes find
the group again. ``ssh_key`` is always None: the jobs use your own keys.

>>> grid_id, _ = oargridsub([(OarSubmission("nodes=2"), "rennes"), (OarSubmission("nodes=1"), "lyon")],
...                         walltime=3600)                                       # doctest: +SKIP
>>> hosts = get_oargrid_job_nodes(grid_id)                                       # doctest: +SKIP
>>> oargriddel([grid_id])                                                        # doctest: +SKIP
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from enoslib.config import cache_dir
from enoslib.g5k.oar import (
                             OarSubmission,
                             get_current_oar_jobs,
                             get_oar_job_info,
                             get_oar_job_nodes,
                             oardel,
                             oarsubgrid,
                             wait_oar_job_start,
)
from enoslib.infra.enos_g5k.client import as_client
from enoslib.infra.enos_g5k.reference import api_key
from enoslib.objects import Host

__all__ = [
    "get_current_oargrid_jobs", "get_oargrid_job_info", "get_oargrid_job_nodes", "get_oargrid_job_oar_jobs",
    "oargriddel", "oargridsub", "wait_oargrid_job_start",
]


@contextmanager
def _registry(client: Any) -> Iterator[dict[str, Any]]:
    """The registry ``{"next": id, "jobs": {id: [[oar_job_id, site], ...]}}``, locked, saved on exit."""
    path = Path(cache_dir("g5k", "oargrid")) / f"{api_key(as_client(client).uri)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            data = json.loads(path.read_text()) if path.exists() else {}
        except ValueError:
            data = {}
        data.setdefault("next", 1)
        data.setdefault("jobs", {})
        before = json.dumps(data, sort_keys=True)
        yield data
        if json.dumps(data, sort_keys=True) != before:
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, indent=1)
            os.replace(tmp, path)


def _jobs(oargrid_job_id: Any, client: Any) -> list[tuple[int, str]]:
    with _registry(client) as reg:
        found = reg["jobs"].get(str(int(oargrid_job_id)))
    if found is None:
        raise ValueError(f"no oargrid job {oargrid_job_id} (submitted with enoslib.g5k.oargridsub on this API)")
    return [(int(j), str(s)) for j, s in found]


def oargridsub(job_specs: Iterable[tuple[OarSubmission, str | None]], reservation_date: Any = None,
               walltime: Any = None, job_type: str | Sequence[str] | None = None, queue: str | None = None,
               directory: str | None = None, additional_options: str | None = None,
               frontend_connection_params: Any = None, timeout: Any = False, *, client: Any = None
               ) -> tuple[int, None] | tuple[None, None]:
    """Submit the jobs of every site together; ``(oargrid_job_id, None)``, or ``(None, None)``
    when one submission failed (the others are then deleted)."""
    jobs = oarsubgrid(job_specs, reservation_date, walltime, job_type, queue, directory, additional_options,
                      client=client)
    if not jobs:
        return None, None
    with _registry(client) as reg:
        grid_id = int(reg["next"])
        reg["next"] = grid_id + 1
        reg["jobs"][str(grid_id)] = [[j, s] for j, s in jobs]
    return grid_id, None


def oargriddel(job_ids: Iterable[Any], frontend_connection_params: Any = None, timeout: Any = False, *,
               client: Any = None) -> None:
    """Delete oargrid jobs (their OAR jobs); unknown ids are ignored."""
    for grid_id in job_ids:
        with _registry(client) as reg:
            jobs = reg["jobs"].pop(str(int(grid_id)), [])
        oardel([(int(j), s) for j, s in jobs], client=client)


def get_oargrid_job_oar_jobs(oargrid_job_id: Any = None, frontend_connection_params: Any = None,
                             timeout: Any = False, *, client: Any = None) -> list[tuple[int, str]]:
    """``[(oar_job_id, site)]`` of an oargrid job."""
    return _jobs(oargrid_job_id, client)


def get_current_oargrid_jobs(start_between: Any = None, end_between: Any = None, frontend_connection_params: Any = None,
                             timeout: Any = False, *, client: Any = None) -> list[int]:
    """The ids of the oargrid jobs whose OAR jobs are all still current (and within the bounds)."""
    with _registry(client) as reg:
        groups = {int(k): [(int(j), str(s)) for j, s in v] for k, v in reg["jobs"].items()}
    sites = sorted({s for jobs in groups.values() for _, s in jobs})
    if not sites:
        return []
    current = set(get_current_oar_jobs(sites, start_between, end_between, client=client))
    return sorted(g for g, jobs in groups.items() if jobs and all(j in current for j in jobs))


def get_oargrid_job_info(oargrid_job_id: Any = None, frontend_connection_params: Any = None, timeout: Any = False,
                         *, client: Any = None) -> dict[str, Any]:
    """``start_date`` (the latest start of its jobs), ``walltime``, and the per-job infos under ``jobs``."""
    infos = [get_oar_job_info(j, s, client=client) for j, s in _jobs(oargrid_job_id, client)]
    info: dict[str, Any] = {"jobs": infos}
    starts = [i.get("start_date", i.get("scheduled_start")) for i in infos]
    if starts and all(s is not None for s in starts):
        info["start_date"] = max(starts)
    walltimes = [i["walltime"] for i in infos if "walltime" in i]
    if walltimes:
        info["walltime"] = min(walltimes)
    return info


def wait_oargrid_job_start(oargrid_job_id: Any = None, frontend_connection_params: Any = None, timeout: Any = False,
                           *, client: Any = None,
                           prediction_callback: Callable[[float], Any] | None = None) -> bool:
    """Wait until every OAR job of the oargrid job runs; False if one ended instead."""
    wait = None if timeout in (False, None) else float(timeout)
    return all(wait_oar_job_start(j, s, timeout=wait, prediction_callback=prediction_callback, client=client)
               for j, s in _jobs(oargrid_job_id, client))


def get_oargrid_job_nodes(oargrid_job_id: Any, frontend_connection_params: Any = None, timeout: Any = False, *,
                          client: Any = None) -> list[Host]:
    """The hosts of every OAR job of the oargrid job (waits for them to start), sorted."""
    hosts = [h for j, s in _jobs(oargrid_job_id, client) for h in get_oar_job_nodes(j, s, client=client)]
    return sorted(hosts, key=lambda h: h.address)
