"""OAR jobs through the Grid'5000 API: the one implementation the provider and the
execo-style toolbox (:mod:`enoslib.g5k`) share.

Jobs are plain dicts as the API returns them, plus ``site``. Nothing here keeps state: callers
record what was submitted (``on_submitted`` is called the moment OAR acknowledges a job, from
the submitting thread) so they can release exactly that.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from enoslib.errors import (
    EnosProviderError,
    EnosReservationError,
    EnosTimeoutError,
    InvalidReservationTime,
    InvalidReservationTooOld,
)
from enoslib.infra.enos_g5k.client import G5kApiError, G5kClient

logger = logging.getLogger(__name__)

PARIS = ZoneInfo("Europe/Paris")
RESERVATION_FORMAT = "%Y-%m-%d %H:%M:%S"
# states in which a job holds, or will hold, resources: a job found in one of them is reloaded
ACTIVE_STATES = ("waiting", "hold", "tolaunch", "toackreservation", "launching", "running")
FAILED_STATES = ("error", "terminated", "finishing", "toerror")
DEFAULT_COMMAND = "sleep 31536000"
_COULD_RUN = re.compile(r"could run at (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")


def to_oar_date(ts: float) -> str:
    """Epoch -> OAR's ``YYYY-MM-DD HH:MM:SS`` in Europe/Paris (Grid'5000's time zone)."""
    return dt.datetime.fromtimestamp(float(ts), PARIS).strftime(RESERVATION_FORMAT)


def from_oar_date(text: str) -> float:
    """OAR's ``YYYY-MM-DD HH:MM:SS`` (Europe/Paris) -> epoch."""
    return dt.datetime.strptime(text.strip(), RESERVATION_FORMAT).replace(tzinfo=PARIS).timestamp()


@dataclass
class JobSpec:
    """One job to submit on one site (what ``POST /sites/{site}/jobs`` takes)."""

    site: str
    resources: str
    walltime: str | None = None
    name: str | None = None
    types: list[str] = field(default_factory=list)
    queue: str | None = None
    project: str | None = None
    reservation: str | None = None
    command: str | None = None
    properties: str | None = None
    directory: str | None = None

    def body(self) -> dict[str, Any]:
        resources = self.resources or "nodes=1"
        if self.walltime and "walltime=" not in resources:
            resources = f"{resources},walltime={self.walltime}"
        body: dict[str, Any] = {"resources": resources, "command": self.command or DEFAULT_COMMAND}
        for key in ("name", "queue", "project", "reservation", "properties", "directory"):
            value = getattr(self, key)
            if value not in (None, ""):
                body[key] = value
        if self.types:
            body["types"] = list(self.types)
        return body


def with_site(job: dict[str, Any], site: str) -> dict[str, Any]:
    """A copy of an OAR job record with its ``site`` filled in."""
    job = dict(job)
    job["site"] = site
    return job


# -- look-ups ----------------------------------------------------------------------------------
def get_job(client: G5kClient, site: str, uid: int | str) -> dict[str, Any]:
    """The OAR job ``uid`` of ``site``, with its site recorded."""
    return with_site(client.get(f"/sites/{site}/jobs/{uid}"), site)


def find_jobs(client: G5kClient, site: str, name: str | None = None, user: str | None = None,
              states: Sequence[str] = ACTIVE_STATES) -> list[dict[str, Any]]:
    """Jobs of ``user`` named ``name`` on ``site`` in ``states``, oldest first."""
    items = client.items(f"/sites/{site}/jobs", name=name, user=user, state=",".join(states), resources="yes",
                         limit=500)
    found = [with_site(j, site) for j in items
             if (name is None or j.get("name") == name) and (not states or j.get("state") in states)]
    return sorted(found, key=lambda j: int(j["uid"]))


def find_jobs_everywhere(client: G5kClient, sites: Iterable[str], name: str | None, user: str | None,
                         states: Sequence[str] = ACTIVE_STATES) -> list[dict[str, Any]]:
    """:func:`find_jobs` on several sites at once (one thread per site)."""
    sites = list(sites)
    if not sites:
        return []
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(16, len(sites))) as pool:
        results = list(pool.map(lambda s: find_jobs(client, s, name, user, states), sites))
    return [job for jobs in results for job in jobs]


# -- submission ------------------------------------------------------------------------------
def submit(client: G5kClient, spec: JobSpec, *, user: str | None = None) -> dict[str, Any]:
    """Submit one job. If the answer is lost (5xx, timeout), the job is looked up by name
    before retrying, so a retry never duplicates it. Raises :class:`InvalidReservationTime`
    (with OAR's next possible start), :class:`InvalidReservationTooOld` or
    :class:`EnosReservationError`."""
    body = spec.body()

    def reconcile() -> dict[str, Any] | None:
        found = find_jobs(client, spec.site, spec.name, user)
        return found[-1] if found else None

    try:
        job = client.post(f"/sites/{spec.site}/jobs", body, reconcile=reconcile if spec.name else None)
    except G5kApiError as exc:
        raise reservation_error(exc, spec.site) from exc
    if not isinstance(job, dict) or "uid" not in job:
        raise EnosProviderError(f"{spec.site}: the API accepted the job but did not return it: {job!r}")
    logger.info("%s: job %s submitted (%s)", spec.site, job["uid"], body["resources"])
    return with_site(job, spec.site)


def reservation_error(exc: G5kApiError, site: str) -> EnosProviderError:
    """The enoslib error for an API error answered to a job submission (a 'could run at' hint
    becomes ``InvalidReservationTime``)."""
    text = exc.body or str(exc)
    if exc.status is not None and 400 <= exc.status < 500:
        m = _COULD_RUN.search(text)
        if m:
            return InvalidReservationTime(f"{site}: {text}", next_time=from_oar_date(m.group(1)))
        if "too old" in text.lower():
            return InvalidReservationTooOld(f"{site}: {text}")
        return EnosReservationError(f"{site}: OAR refused the job: {text}")
    return exc


def delete_job(client: G5kClient, site: str, uid: int | str) -> bool:
    """Delete a job; False when it was already gone (killed, finished, unknown)."""
    try:
        client.delete(f"/sites/{site}/jobs/{uid}")
        logger.info("%s: job %s deleted", site, uid)
        return True
    except G5kApiError as exc:
        text = exc.body or str(exc)
        if exc.status == 404 or "already killed" in text or "already been killed" in text:
            return False
        raise


def submit_all(client: G5kClient, specs: Sequence[JobSpec], *, user: str | None = None,
               on_submitted: Callable[[dict[str, Any]], None] | None = None,
               cancelled: threading.Event | None = None) -> list[dict[str, Any]]:
    """Submit jobs in parallel (one thread per job). ``on_submitted`` sees each job the moment
    it exists. When one submission fails, the others still finish (so nothing is left
    unrecorded) and the first error is raised."""
    results: list[dict[str, Any] | None] = [None] * len(specs)

    def one(i: int) -> None:
        if cancelled is not None and cancelled.is_set():
            raise EnosProviderError(f"{specs[i].site}: submission cancelled")
        job = submit(client, specs[i], user=user)
        results[i] = job
        if on_submitted is not None:
            on_submitted(job)

    run_parallel([lambda i=i: one(i) for i in range(len(specs))], cancelled)
    return [j for j in results if j is not None]


def run_parallel(tasks: Sequence[Callable[[], Any]], cancelled: threading.Event | None = None) -> list[Any]:
    """Run tasks in threads and wait for all of them, even on Ctrl-C (then ``cancelled`` is
    set so tasks not started yet give up). Raises the first error, after all finished.

    Even a single task runs in a thread: Ctrl-C then interrupts the waiting, never a request
    in flight whose outcome (a job created or not) would be unknown."""
    if not tasks:
        return []
    from enoslib._signals import sigint_deferred

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(16, len(tasks)))
    futures = []
    try:
        # Ctrl-C is held while the threads start: landing inside ``pool.submit`` (a thread
        # start waits for the new thread, long on a loaded machine) it would leave a started
        # thread unknown to ``shutdown``, posting a job nobody records
        with sigint_deferred("starting the requests; Ctrl-C takes effect once they are sent"):
            for t in tasks:
                futures.append(pool.submit(t))
        concurrent.futures.wait(futures)
    except BaseException:
        if cancelled is not None:
            cancelled.set()
        with sigint_deferred():  # in-flight requests end and get recorded, even on a 2nd Ctrl-C
            pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    for f in futures:
        error = f.exception()
        if error is not None:
            raise error
    return [f.result() for f in futures]


# -- waiting -----------------------------------------------------------------------------------
def poll_delay(job: dict[str, Any], now: float) -> float:
    """How long to sleep before looking at a job again: long while its start is far, short
    when it is near or unknown (every site answers in a few seconds once running)."""
    start = job.get("scheduled_at") or 0
    if job.get("state") == "launching":
        return 2.0
    if start and start > now:
        return max(2.0, min(300.0, (start - now) / 2))
    return 5.0


def wait_running(client: G5kClient, jobs: Sequence[dict[str, Any]], *, timeout: float | None = None,
                 progress: bool = True, on_update: Callable[[dict[str, Any]], None] | None = None
                 ) -> list[dict[str, Any]]:
    """Poll until every job runs; the jobs as last seen. A job in error or terminated raises
    :class:`EnosReservationError`; ``timeout`` (seconds of ``client.now``) raises
    :class:`EnosTimeoutError`."""
    current = {(j["site"], int(j["uid"])): j for j in jobs}
    deadline = None if timeout is None else client.now() + timeout
    # the jobs given were just read (submitted, listed or fetched): look again only after a sleep,
    # except those not running whose details are missing
    stale = [k for k, j in current.items() if j.get("state") not in ("running", *FAILED_STATES)
             and "state" not in j]
    with _Progress(progress, len(current)) as bar:
        while True:
            for key in stale:
                job = get_job(client, *key)
                current[key] = job
                if on_update is not None:
                    on_update(job)
            for key, job in current.items():
                if job.get("state") in FAILED_STATES:
                    raise EnosReservationError(
                        f"{key[0]}: job {key[1]} is {job['state']} instead of running"
                        + (f": {job.get('message')}" if job.get("message") else ""))
            bar.update(list(current.values()), client.now())
            pending = [k for k, j in current.items() if j.get("state") != "running"]
            if not pending:
                return list(current.values())
            stale = pending
            now = client.now()
            if deadline is not None and now >= deadline:
                raise EnosTimeoutError(f"jobs {', '.join(f'{s}:{u}' for s, u in pending)} not running "
                                       f"after {timeout:.0f}s")
            delay = min(poll_delay(current[k], now) for k in pending)
            if deadline is not None:
                delay = max(0.0, min(delay, deadline - now))
            client.sleep(delay)


class _Progress:
    """A rich live line per job while waiting (nothing when display is off)."""

    def __init__(self, enabled: bool, n: int) -> None:
        from enoslib.config import get_config

        self.enabled = enabled and get_config().get("display") == "rich"
        self.progress: Any = None
        self.tasks: dict[tuple[str, int], Any] = {}

    def __enter__(self) -> _Progress:  # noqa: PYI034
        if self.enabled:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                     transient=True)
            self.progress.start()
        return self

    def update(self, jobs: list[dict[str, Any]], now: float) -> None:
        if self.progress is None:
            return
        for job in jobs:
            key = (job["site"], int(job["uid"]))
            state = job.get("state", "?")
            start = job.get("scheduled_at")
            eta = ""
            if state == "waiting" and start:
                eta = f", start in {max(0, int(start - now))}s" if start > now else ", starting"
            text = f"{key[0]} job {key[1]}: {state}{eta}"
            if key not in self.tasks:
                self.tasks[key] = self.progress.add_task(text, total=None)
            self.progress.update(self.tasks[key], description=text)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


# -- what a running job holds ----------------------------------------------------------------
def job_nodes(job: dict[str, Any]) -> list[str]:
    """Node FQDNs of a job, de-duplicated, in OAR order (the head node first)."""
    nodes = list(job.get("assigned_nodes") or [])
    if not nodes:
        nodes = [c.split("/")[0] for c in job.get("resources_by_type", {}).get("cores", [])]
    return list(dict.fromkeys(nodes))


def job_vlans(job: dict[str, Any]) -> list[str]:
    """The VLAN ids given to an OAR job."""
    return [str(v) for v in job.get("resources_by_type", {}).get("vlans", [])]


def job_subnets(job: dict[str, Any]) -> list[str]:
    """The subnets given to an OAR job."""
    return [str(s) for s in job.get("resources_by_type", {}).get("subnets", [])]


def job_disks(job: dict[str, Any]) -> list[str]:
    """The disks given to an OAR job."""
    return [str(d) for d in job.get("resources_by_type", {}).get("disks", [])]
