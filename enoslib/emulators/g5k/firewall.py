"""Reconfigurable firewall: IPv6 openings bound to a job, removed when it ends.

Only nodes of the job may be targeted (as ``<node>-ipv6.<site>.grid5000.fr``,
or the node name itself); ``port`` must be absent when ``proto`` is ``all``.
Openings are bookkeeping only: no packet filter is touched.
"""

from __future__ import annotations

import itertools
from typing import Any

from .jobs import FINAL, Job, JobError
from .oar import Scheduler
from .reference import ReferenceData

__all__ = ["Firewall"]

PROTOS = ("tcp", "udp", "tcp+udp", "all")


class Firewall:
    """Openings per (site, job). Callers hold the emulator lock."""

    def __init__(self, ref: ReferenceData, scheduler: Scheduler) -> None:
        self.ref, self.scheduler = ref, scheduler
        self.openings: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        scheduler.listeners.append(self._on_job)

    def _job(self, site: str, job_id: str, user: str) -> Job:
        job = self.scheduler.jobs.get(int(job_id)) if str(job_id).isdigit() else None
        if job is None or job.site != site:
            raise JobError(404, f"Job {job_id} does not exist on site {site}")
        if job.user != user:
            raise JobError(403, f"Job {job_id} does not belong to {user}")
        return job

    def create(self, site: str, job_id: str, user: str, rules: Any) -> list[dict[str, Any]]:
        job = self._job(site, job_id, user)
        if job.state != "running":
            raise JobError(400, f"Job {job.uid} is not running (state: {job.state})")
        if not isinstance(rules, list) or not rules:
            raise JobError(400, "Expected a non-empty JSON array of openings")
        mine = {n.fqdn for n in job.nodes}
        created = []
        for rule in rules:
            if not isinstance(rule, dict):
                raise JobError(400, "Each opening must be a JSON object")
            proto = rule.get("proto", "tcp+udp")
            if proto not in PROTOS:
                raise JobError(400, f"proto must be one of {', '.join(PROTOS)}")
            port = rule.get("port")
            if proto == "all" and port is not None:
                raise JobError(400, "port must not be given when proto is 'all'")
            ports = [] if port is None else (port if isinstance(port, list) else [port])
            if any(not isinstance(p, int) or not 0 < p < 65536 for p in ports):
                raise JobError(400, "port must be an integer (or a list of them) in 1..65535")
            addrs = rule.get("addr") or [n.replace(".", "-ipv6.", 1) for n in sorted(mine)]
            addrs = addrs if isinstance(addrs, list) else [addrs]
            for addr in addrs:
                found = self.ref.resolve(str(addr))
                if found is None or found[0].fqdn not in mine:
                    raise JobError(403, f"{addr} is not a node of job {job.uid}")
            src = rule.get("src_addr")
            opening = {
                "id": next(self._ids),
                "addr": addrs,
                "port": ports,
                "proto": proto,
                "src_addr": src if src is None or isinstance(src, list) else [src],
            }
            self.openings.setdefault((site, job.uid), []).append(opening)
            created.append(opening)
        return created

    def list(self, site: str, job_id: str, user: str) -> list[dict[str, Any]]:
        job = self._job(site, job_id, user)
        return list(self.openings.get((site, job.uid), []))

    def delete(self, site: str, job_id: str, user: str) -> None:
        job = self._job(site, job_id, user)
        self.openings.pop((site, job.uid), None)

    def _on_job(self, what: str, job: Job) -> None:
        if what == "ended" or job.state in FINAL:
            self.openings.pop((job.site, job.uid), None)
