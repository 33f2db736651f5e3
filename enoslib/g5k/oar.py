"""OAR jobs, execo_g5k style, over the Grid'5000 REST API.

Same names and shapes as ``execo_g5k.oar``: jobs are ``(job_id, frontend)`` pairs, where the
frontend is a site name (``"rennes"``; None means the default site). Everything goes through
the API (no SSH to frontends), with the implementation the G5k provider uses.

>>> jobs = oarsub([(OarSubmission("{cluster='paravance'}/nodes=2", walltime=3600), "rennes")])
>>> wait_oar_job_start(*jobs[0])
>>> hosts = get_oar_job_nodes(*jobs[0])
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import netaddr

from enoslib.errors import EnosError
from enoslib.g5k.config import default_site, g5k_configuration
from enoslib.g5k.time_utils import format_oar_date, format_oar_duration, get_seconds, get_unixts
from enoslib.infra.enos_g5k import oar as _oar
from enoslib.infra.enos_g5k.client import G5kClient, as_client
from enoslib.objects import Host

logger = logging.getLogger(__name__)

__all__ = [
    "OarSubmission",
    "get_current_oar_jobs",
    "get_oar_job_info",
    "get_oar_job_kavlan",
    "get_oar_job_nodes",
    "get_oar_job_subnets",
    "oardel",
    "oarsub",
    "oarsubgrid",
    "wait_oar_job_start",
]

# OAR's own spelling of the states (the API lower-cases them)
_OAR_STATES = {s.lower(): s for s in ("Waiting", "Hold", "toLaunch", "toError", "toAckReservation", "Launching",
                                      "Running", "Suspended", "Resuming", "Finishing", "Terminated", "Error")}


class OarSubmission:
    """A job to submit (execo_g5k's POD class).

    ``resources``: OAR ``-l`` without walltime, a string or a list joined with ``+``;
    ``walltime``: seconds, timedelta or ``"H:MM:SS"``; ``job_type``: one type or a list;
    ``sql_properties``: OAR ``-p``; ``reservation_date``: any date; ``additional_options``:
    not supported by the REST API (an error when given); ``command``: default sleeps a year.
    """

    def __init__(self, resources: str | Sequence[str] | None = None, walltime: Any = None,
                 job_type: str | Sequence[str] | None = None, sql_properties: str | None = None,
                 queue: str | None = None, reservation_date: Any = None, directory: str | None = None,
                 project: str | None = None, name: str | None = None, additional_options: str | None = None,
                 command: str | None = None) -> None:
        self.resources = resources
        self.walltime = walltime
        self.job_type = job_type
        self.sql_properties = sql_properties
        self.queue = queue
        self.reservation_date = reservation_date
        self.directory = directory
        self.project = project
        self.name = name
        self.additional_options = additional_options
        self.command = command

    def to_spec(self, site: str) -> _oar.JobSpec:
        if self.additional_options:
            raise ValueError(f"additional_options {self.additional_options!r}: the REST API takes no raw "
                             "oarsub options; use the OarSubmission fields")
        resources = self.resources or "nodes=1"
        if not isinstance(resources, str):
            resources = "+".join(resources)
        types = [self.job_type] if isinstance(self.job_type, str) else list(self.job_type or [])
        return _oar.JobSpec(
            site=site, resources=resources,
            walltime=format_oar_duration(self.walltime) if self.walltime is not None else None,
            name=self.name, types=types, queue=self.queue, project=self.project,
            reservation=format_oar_date(self.reservation_date) if self.reservation_date is not None else None,
            command=self.command, properties=self.sql_properties, directory=self.directory)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if v is not None)
        return f"OarSubmission({fields})"


def _job_id(oar_job_id: Any) -> int:
    if oar_job_id is None:
        oar_job_id = os.environ.get("OAR_JOB_ID")
        if oar_job_id is None:
            raise ValueError("no oar job id given and no OAR_JOB_ID environment variable")
    return int(oar_job_id)


def oarsub(job_specs: Iterable[tuple[OarSubmission, str | None]], frontend_connection_params: Any = None,
           timeout: Any = False, abort_on_error: bool = False, *, client: Any = None) -> list[tuple[int | None, str]]:
    """Submit jobs (in parallel); ``[(job_id or None on failure, site), ...]`` in order.
    With ``abort_on_error`` the first failure is raised (the jobs submitted stay)."""
    c = as_client(client)
    specs = [(spec, default_site(frontend)) for spec, frontend in job_specs]
    results: list[tuple[int | None, str]] = [(None, site) for _, site in specs]

    def one(i: int) -> None:
        spec, site = specs[i]
        try:
            job = _oar.submit(c, spec.to_spec(site), user=c.login)
            results[i] = (int(job["uid"]), site)
        except EnosError as exc:
            logger.error("%s: oarsub failed: %s", site, exc)
            if abort_on_error:
                raise

    _oar.run_parallel([lambda i=i: one(i) for i in range(len(specs))])
    return results


def oardel(job_specs: Iterable[tuple[int, str | None]], frontend_connection_params: Any = None,
           timeout: Any = False, *, client: Any = None) -> None:
    """Delete jobs, ignoring every error (unknown, already deleted, not yours ...)."""
    c = as_client(client)

    def one(job_id: int, site: str) -> None:
        try:
            _oar.delete_job(c, site, job_id)
        except EnosError as exc:
            logger.debug("%s: oardel %s ignored: %s", site, job_id, exc)

    todo = [(int(j), default_site(f)) for j, f in job_specs if j]
    _oar.run_parallel([lambda j=j, s=s: one(j, s) for j, s in todo])


def get_current_oar_jobs(frontends: Iterable[str | None] | None = None, start_between: Any = None,
                         end_between: Any = None, frontend_connection_params: Any = None, timeout: Any = False,
                         abort_on_error: bool = False, *, client: Any = None) -> list[tuple[int, str]]:
    """The caller's active jobs ``[(job_id, site)]`` on ``frontends`` (None: the default site;
    ``"all"``: every site), optionally those starting / ending in ``(low, high)``."""
    c = as_client(client)
    if frontends == "all":
        from enoslib.g5k.api_utils import get_g5k_sites

        sites = get_g5k_sites(client=c)
    else:
        sites = [default_site(f) for f in (frontends or [None])]
    jobs = _oar.find_jobs_everywhere(c, sites, None, c.login)

    def within(value: float | None, bounds: Any) -> bool:
        if bounds is None:
            return True
        low, high = (get_unixts(b) for b in bounds)
        return value is not None and (low is None or value >= low) and (high is None or value <= high)

    out = []
    for job in jobs:
        start = job.get("started_at") or job.get("scheduled_at")
        end = start + job["walltime"] if start else None
        if within(start, start_between) and within(end, end_between):
            out.append((int(job["uid"]), job["site"]))
    return out


def get_oar_job_info(oar_job_id: Any = None, frontend: str | None = None, frontend_connection_params: Any = None,
                     timeout: Any = False, nolog_exit_code: bool = False, nolog_timeout: bool = False,
                     nolog_error: bool = False, *, client: Any = None) -> dict[str, Any]:
    """``start_date``, ``walltime``, ``scheduled_start``, ``state`` (OAR spelling: Running ...),
    ``name`` of a job, plus ``site``, ``types``, ``assigned_nodes`` and the raw API answer
    under ``api``."""
    job = _oar.get_job(as_client(client), default_site(frontend), _job_id(oar_job_id))
    info: dict[str, Any] = {"state": _OAR_STATES.get(job.get("state", ""), job.get("state")),
                            "name": job.get("name"), "site": job["site"], "types": job.get("types", []),
                            "assigned_nodes": _oar.job_nodes(job), "api": job}
    if job.get("walltime") is not None:
        info["walltime"] = int(job["walltime"])
    if job.get("started_at"):
        info["start_date"] = float(job["started_at"])
    if job.get("scheduled_at"):
        info["scheduled_start"] = float(job["scheduled_at"])
    return info


def wait_oar_job_start(oar_job_id: Any = None, frontend: str | None = None, frontend_connection_params: Any = None,
                       timeout: float | None = None, prediction_callback: Callable[[float], Any] | None = None,
                       *, client: Any = None) -> bool:
    """Wait until the job runs: True, or False if it ended (error, terminated) or ``timeout``
    seconds passed. ``prediction_callback(start)`` is called whenever the predicted start changes."""
    c = as_client(client)
    site, uid = default_site(frontend), _job_id(oar_job_id)
    deadline = None if timeout is None else c.now() + float(get_seconds(timeout) or 0)
    prediction = None
    while True:
        job = _oar.get_job(c, site, uid)
        start = job.get("started_at") or job.get("scheduled_at")
        if start and start != prediction:
            prediction = start
            if prediction_callback is not None:
                prediction_callback(float(start))
        if job["state"] == "running":
            return True
        if job["state"] in _oar.FAILED_STATES:
            return False
        now = c.now()
        if deadline is not None and now >= deadline:
            return False
        delay = min(_oar.poll_delay(job, now), float(g5k_configuration.get("polling_interval") or 20))
        if deadline is not None:
            delay = max(0.0, min(delay, deadline - now))
        c.sleep(delay)


def _running_job(c: G5kClient, oar_job_id: Any, frontend: str | None, timeout: Any) -> dict[str, Any]:
    site, uid = default_site(frontend), _job_id(oar_job_id)
    timeout = None if timeout is False else timeout
    if not wait_oar_job_start(uid, site, timeout=timeout, client=c):
        job = _oar.get_job(c, site, uid)
        raise EnosError(f"{site}: job {uid} is {job.get('state')}, not running")
    return _oar.get_job(c, site, uid)


def get_oar_job_nodes(oar_job_id: Any = None, frontend: str | None = None, frontend_connection_params: Any = None,
                      timeout: Any = False, *, client: Any = None) -> list[Host]:
    """The job's nodes (waits for the job to start), sorted."""
    job = _running_job(as_client(client), oar_job_id, frontend, timeout)
    return [Host(n, extra={"ansible_host_key_checking": False}) for n in sorted(_oar.job_nodes(job))]  # reinstalled nodes


def get_oar_job_kavlan(oar_job_id: Any = None, frontend: str | None = None, frontend_connection_params: Any = None,
                       timeout: Any = False, *, client: Any = None) -> list[int]:
    """The vlan ids of the job (waits for the job to start)."""
    job = _running_job(as_client(client), oar_job_id, frontend, timeout)
    return sorted(int(v) for v in _oar.job_vlans(job))


def get_oar_job_subnets(oar_job_id: Any = None, frontend: str | None = None, frontend_connection_params: Any = None,
                        timeout: Any = False, *, client: Any = None) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """``([(ip, mac), ...], params)`` of the job's subnets; params has ``ip_prefix``,
    ``broadcast``, ``netmask``, ``gateway``, ``network``, ``dns_hostname``, ``dns_ip``."""
    from enoslib.infra.enos_g5k.objects import subnet_mac
    from enoslib.infra.enos_g5k.reference import Reference

    c = as_client(client)
    job = _running_job(c, oar_job_id, frontend, timeout)
    subnets = sorted(netaddr.IPNetwork(s) for s in _oar.job_subnets(job))
    if not subnets:
        return [], {}
    pairs = [(str(ip), subnet_mac(str(ip))) for s in subnets for ip in s.iter_hosts()]
    ref = Reference(c)
    site = job["site"]
    g5ksubnet = ref.site(site).get("g5ksubnet") or {}
    merged = netaddr.cidr_merge(subnets)
    routed = netaddr.IPNetwork(g5ksubnet["network"]) if g5ksubnet.get("network") else merged[0]
    params = {"ip_prefix": str(merged[0]), "broadcast": str(routed.broadcast), "netmask": str(routed.netmask),
              "gateway": g5ksubnet.get("gateway"), "network": str(routed.cidr),
              "dns_hostname": f"dns.{site}.grid5000.fr", "dns_ip": ref.dns(site)}
    return pairs, params


def oarsubgrid(job_specs: Iterable[tuple[OarSubmission, str | None]], reservation_date: Any = None,
               walltime: Any = None, job_type: str | Sequence[str] | None = None, queue: str | None = None,
               directory: str | None = None, additional_options: str | None = None,
               frontend_connection_params: Any = None, timeout: Any = False, *, client: Any = None
               ) -> list[tuple[int, str]]:
    """Submit one job per site at once, with common reservation date, walltime, types, queue and
    directory (overriding the specs'). All or nothing: if one fails, the others are deleted and
    ``[]`` is returned."""
    c = as_client(client)
    specs = []
    for spec, frontend in job_specs:
        for key, value in (("reservation_date", reservation_date), ("walltime", walltime), ("job_type", job_type),
                           ("queue", queue), ("directory", directory), ("additional_options", additional_options)):
            setattr(spec, key, value)
        specs.append((spec, frontend))
    jobs = oarsub(specs, client=c)
    if any(j is None for j, _ in jobs):
        oardel([(j, s) for j, s in jobs if j is not None], client=c)
        return []
    return [(int(j), s) for j, s in jobs if j is not None]
