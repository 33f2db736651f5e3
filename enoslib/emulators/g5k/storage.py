"""Storage access rules: NFS openings of home / group storage for a job's nodes.

``POST /sites/{s}/storage/{server}/{name}/access`` with ``{"ipv4": [...],
"termination": {"job": id, "site": s}}`` (or ``{"until": ts}``); ``GET`` the
same path returns the rules keyed by id. Rules bound to a job vanish when it
ends; ``until`` rules when the virtual clock passes that time. Bookkeeping only.
"""

from __future__ import annotations

import ipaddress
import itertools
from typing import Any

from .jobs import ACTIVE, Job, JobError
from .oar import Scheduler

__all__ = ["Storage"]


class Storage:
    """Access rules per (site, server, name). Callers hold the emulator lock."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.rules: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        scheduler.listeners.append(self._on_job)

    def create(self, site: str, server: str, name: str, user: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise JobError(400, "Expected a JSON object with ipv4 and termination")
        if server == "home" and name != user:
            raise JobError(403, f"{user} cannot open the home of {name}")
        ips = body.get("ipv4")
        if not isinstance(ips, list) or not ips:
            raise JobError(400, "ipv4 must be a non-empty list of addresses")
        try:
            ips = [str(ipaddress.IPv4Address(ip)) for ip in ips]
        except ValueError as exc:
            raise JobError(400, f"bad ipv4 address: {exc}") from None
        term = body.get("termination") or {}
        if "job" in term:
            job = self.scheduler.jobs.get(int(term["job"])) if str(term["job"]).isdigit() else None
            if (
                job is None
                or job.site != term.get("site", site)
                or job.user != user
                or job.state not in ACTIVE
            ):
                raise JobError(400, f"termination job {term['job']} is not an active job of {user}")
            rule_id = f"G5k-{server}_{name}_j_{job.uid}-{job.site}_{next(self._ids)}"
        elif "until" in term:
            rule_id = f"G5k-{server}_{name}_u_{int(term['until'])}_{next(self._ids)}"
        else:
            raise JobError(400, "termination must give a job (and site) or an until date")
        export = f"/export/home/{name}" if server == "home" else f"/export/group/{name}"
        host = (
            f"srv-data.{site}.grid5000.fr" if server == "home" else f"{server}.{site}.grid5000.fr"
        )
        rule = {"ipv4": ips, "termination": term, "nfs_address": f"{host}:{export}"}
        self.rules.setdefault((site, server, name), {})[rule_id] = rule
        return {"id": rule_id, **rule}

    def list(self, site: str, server: str, name: str, now: float) -> dict[str, dict[str, Any]]:
        rules = self.rules.get((site, server, name), {})
        for rid in [r for r, v in rules.items() if v["termination"].get("until", now + 1) <= now]:
            del rules[rid]
        return dict(rules)

    def delete(self, site: str, server: str, name: str, user: str, rule_id: str) -> None:
        if server == "home" and name != user:
            raise JobError(403, f"{user} cannot change the home of {name}")
        if self.rules.get((site, server, name), {}).pop(rule_id, None) is None:
            raise JobError(404, f"No access rule {rule_id}")

    def _on_job(self, what: str, job: Job) -> None:
        if what != "ended":
            return
        for rules in self.rules.values():
            for rid in [
                r for r, v in rules.items() if str(v["termination"].get("job")) == str(job.uid)
            ]:
                del rules[rid]
