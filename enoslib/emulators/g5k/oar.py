"""OAR-like batch scheduler on the virtual clock.

Semantics kept from OAR/Grid'5000:

* whole-node exclusivity; vlans and /22 subnets are per-site pools;
* advance reservations get their resources at submission and are refused
  with ``Reservation not valid --> KO (This reservation could run at
  <Europe/Paris time>)`` when they do not fit (or ``Reservation too old``);
* batch jobs are planned FIFO with conservative backfilling; their
  ``scheduled_at`` is the predicted start;
* best-effort jobs only use idle nodes and are killed (state ``error``,
  event ``BESTEFFORT_KILL``) when a normal job needs their nodes;
* waiting -> launching (``launch_delay``) -> running -> terminated at the
  end of the walltime (or when a ``sleep N`` command ends); a deleted job
  ends in ``error``; per-user node quotas; ``night``/``exotic``/``deploy``
  job types and queues restrict the eligible nodes.

Every method expects the caller to hold the emulator lock.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Callable, Iterable
from typing import Any

from .jobs import (
    ACTIVE,
    FINAL,
    HOLDING,
    PARIS,
    Allocation,
    Job,
    JobError,
    format_paris,
    night_windows,
    parse_reservation,
)
from .reference import NodeRef, ReferenceData, vlan_type
from .resources import (
    NodeGroup,
    ResourceError,
    SubnetGroup,
    VlanGroup,
    node_properties,
    parse_filter,
    parse_request,
    parse_walltime,
)

# the job model is re-exported: callers think "OAR", not "which module"
__all__ = [
    "ACTIVE",
    "FINAL",
    "HOLDING",
    "PARIS",
    "Job",
    "JobError",
    "Scheduler",
    "format_paris",
    "parse_reservation",
]

QUEUES = ("default", "production", "testing", "besteffort", "admin")
DEFAULT_WALLTIME = 3600
TOO_OLD_TOLERANCE = 60.0  # seconds a "now-ish" reservation may lag behind the clock


class Scheduler:
    """Jobs of every site, planned on one virtual clock."""

    def __init__(
        self,
        ref: ReferenceData,
        *,
        schedule_delay: float = 1.0,
        launch_delay: float = 3.0,
        kill_delay: float = 1.0,
        quotas: dict[str, int] | None = None,
        default_quota: int | None = None,
        fault_hooks: Any = None,
        first_uid: int = 1_900_001,
    ) -> None:
        self.ref = ref
        self.schedule_delay = schedule_delay  # OAR's scheduling cycle: no job starts sooner
        self.launch_delay = launch_delay
        self.kill_delay = kill_delay
        self.quotas = dict(quotas or {})
        self.default_quota = default_quota
        self.faults = fault_hooks
        self.jobs: dict[int, Job] = {}
        self._ids = itertools.count(first_uid)
        self.hard: dict[str, str] = {}  # fqdn -> hard state (alive when absent)
        self.comment: dict[str, str] = {}
        self.listeners: list[Callable[[str, Job], None]] = []
        self._props = {
            r.fqdn: node_properties(ref.node(r), ref.cluster_of(r), r.site) for r in ref.node_refs()
        }
        self._cores = {r.fqdn: ref.node(r)["architecture"]["nb_cores"] for r in ref.node_refs()}
        self.node_props_names = frozenset(next(iter(self._props.values()), {}).keys()) | {"type"}
        self._plan: dict[int, tuple[float, Allocation]] = {}
        # Planning is the expensive part: redo it only when something changed
        # (dirty) or when the clock reaches a time the last plan depends on.
        self._dirty = True
        self._plan_valid_until = float("inf")
        self._eligible_cache: dict[tuple[int, int, bool], list[NodeRef]] = {}
        self._subnets = {site: self._subnet_list(site) for site in ref.sites}

    # ------------------------------------------------------------------ resources
    def vlan_pool(self, site: str) -> list[str]:
        return sorted(
            (k for k in self.ref.sites[site].get("kavlans", {}) if k != "default"), key=int
        )

    def subnet_pool(self, site: str) -> list[str]:
        """The site's /22 subnets, in order."""
        return self._subnets[site]

    def _subnet_list(self, site: str) -> list[str]:
        net = self.ref.sites[site].get("g5ksubnet", {}).get("network")
        return [str(s) for s in ipaddress.ip_network(net).subnets(new_prefix=22)] if net else []

    def _candidates(self, job: Job, index: int, group: NodeGroup, existence: bool) -> list[NodeRef]:
        """Nodes of the site a group may use, ignoring occupancy (cached per job and group)."""
        key = (job.uid, index, existence)
        if key not in self._eligible_cache:
            self._eligible_cache[key] = [
                r
                for r in self.ref.node_refs(job.site)
                if self._eligible(job, group, r, self._props[r.fqdn], existence)
            ]
        return self._eligible_cache[key]

    def _eligible(
        self,
        job: Job,
        group: NodeGroup,
        ref: NodeRef,
        props: dict[str, Any],
        existence: bool = False,
    ) -> bool:
        hard = self.hard.get(ref.fqdn, "alive")
        if hard == "dead" or (not existence and hard != "alive"):
            return False
        queues = self.ref.cluster_of(ref).get("queues", ["default"])
        if job.queue not in ("besteffort", "admin") and job.queue not in queues:
            return False
        explicit = bool(group.filter.properties & {"cluster", "host", "network_address"})
        if props["exotic"] == "YES" and "exotic" not in job.types and not explicit:
            return False
        if "deploy" in job.types and props["deploy"] != "YES":
            return False
        return group.filter(props) and (job.prop_filter is None or job.prop_filter(props))

    def _allocate(
        self, job: Job, start: float, end: float, busy: Iterable[Job], existence: bool = False
    ) -> Allocation | None:
        """Pick resources for ``job`` over [start, end) avoiding ``busy`` jobs' resources."""
        used_nodes: set[str] = set()
        used_vlans: set[str] = set()
        used_subnets: set[str] = set()
        if not existence:
            for other in busy:
                a, b, alloc = self._span(other)
                if alloc and a < end and start < b:
                    used_nodes.update(n.fqdn for n in alloc.nodes)
                    used_vlans.update(alloc.vlans)
                    used_subnets.update(alloc.subnets)
        out = Allocation()
        for index, group in enumerate(job.request.groups):
            if isinstance(group, NodeGroup):
                cands = [
                    r
                    for r in self._candidates(job, index, group, existence)
                    if r.fqdn not in used_nodes
                ]
                pools = (
                    [
                        [r for r in cands if r.cluster == c]
                        for c in dict.fromkeys(r.cluster for r in cands)
                    ]
                    if group.one_cluster
                    else [cands]
                )
                chosen = None
                for pool in pools:
                    if group.count == "BEST" and pool:
                        chosen = pool
                    elif group.count == "ALL":
                        everything = self._candidates(job, index, group, True)
                        chosen = pool if pool and len(pool) == len(everything) else None
                    elif isinstance(group.count, int) and len(pool) >= group.count:
                        chosen = pool[: group.count]
                    if chosen:
                        break
                if not chosen:
                    return None
                out.nodes.extend(chosen)
                used_nodes.update(r.fqdn for r in chosen)
                if group.with_disks:
                    out.disks.extend(
                        f"{d['device']}.{r.fqdn}"
                        for r in chosen
                        for d in self.ref.node(r).get("storage_devices", [])
                        if d.get("reservation")
                    )
            elif isinstance(group, VlanGroup):
                free = [
                    v
                    for v in self.vlan_pool(job.site)
                    if v not in used_vlans
                    and group.filter({"type": vlan_type(int(v)), "vlan": v, "site": job.site})
                ]
                if len(free) < group.count:
                    return None
                out.vlans.extend(free[: group.count])
                used_vlans.update(free[: group.count])
            elif isinstance(group, SubnetGroup):
                blocks = self.subnet_pool(job.site)
                step = 2 ** (22 - group.prefix)  # /22 blocks per asked subnet
                picked: list[str] = []
                for _ in range(group.count):
                    for i in range(0, len(blocks) - step + 1, step):
                        block = blocks[i : i + step]
                        if not used_subnets.intersection(block):
                            picked.extend(block)
                            used_subnets.update(block)
                            break
                    else:
                        return None
                out.subnets.extend(picked)
        return out

    def _span(self, job: Job) -> tuple[float, float, Allocation | None]:
        """[start, end) and resources of a holding job, or of a planned waiting one."""
        if job.uid in self._plan:
            start, alloc = self._plan[job.uid]
            return start, start + job.walltime, alloc
        return (*job.interval(), job.alloc)

    def _find_slot(
        self, job: Job, earliest: float, busy: list[Job], horizon: float = 400 * 86400
    ) -> tuple[float, Allocation] | None:
        times = {earliest}
        for other in busy:
            _, b, _ = self._span(other)
            if b > earliest:
                times.add(b)
        windows = night_windows(earliest, earliest + 60 * 86400) if "night" in job.types else None
        if windows:
            times.update(a for a, _ in windows if a > earliest)
        for t in sorted(times):
            if t > earliest + horizon:
                break
            if windows is not None and not any(
                a <= t and t + job.walltime <= b for a, b in windows
            ):
                continue
            alloc = self._allocate(job, t, t + job.walltime, busy)
            if alloc:
                return t, alloc
        return None

    # ------------------------------------------------------------------ submission
    def submit(self, site: str, user: str, spec: dict[str, Any], now: float) -> Job:
        """Validate and register a job (raises :class:`JobError` as OAR/the API would)."""
        invalid = "The job you are trying to submit is not valid: "
        types = spec.get("types") or []
        types = [types] if isinstance(types, str) else [str(t) for t in types]
        queue = str(spec.get("queue") or ("besteffort" if "besteffort" in types else "default"))
        if queue not in QUEUES:
            raise JobError(400, f"{invalid}queue {queue!r} does not exist")
        if queue == "besteffort" and "besteffort" not in types:
            types.append("besteffort")
        command = spec.get("command")
        if not command and not spec.get("reservation"):
            raise JobError(400, f"{invalid}a command is required (or a reservation date)")
        try:
            request = parse_request(str(spec.get("resources") or "nodes=1"), self.node_props_names)
            walltime = request.walltime
            if spec.get("walltime") not in (None, ""):
                walltime = parse_walltime(spec["walltime"])
            prop_filter = parse_filter(str(spec.get("properties") or ""), self.node_props_names)
        except ResourceError as exc:
            raise JobError(400, f"{invalid}{exc}") from None
        if walltime is not None and walltime <= 0:
            raise JobError(400, f"{invalid}walltime must be positive")
        reservation = end = None
        if spec.get("reservation") not in (None, ""):
            reservation, end = parse_reservation(spec["reservation"], now)
            if end is not None:
                walltime = int(end - reservation)
            if reservation < now - TOO_OLD_TOLERANCE:
                raise JobError(
                    400, f"{invalid}Reservation too old: {format_paris(reservation)} is in the past"
                )
            reservation = max(reservation, now)
        job = Job(
            uid=-1,  # a real id only once OAR accepts the job
            site=site,
            user=user,
            request=request,
            resources=str(spec.get("resources") or "nodes=1"),
            walltime=int(walltime or DEFAULT_WALLTIME),
            types=types,
            queue=queue,
            name=spec.get("name"),
            project=spec.get("project"),
            command=str(command or ""),
            properties=str(spec.get("properties") or ""),
            directory=str(spec.get("directory") or f"/home/{user}"),
            submitted_at=now,
            reservation=reservation,
        )
        job.prop_filter, job.cores = prop_filter, self._cores
        try:
            self._admit(job, now)
        finally:
            self._forget(job)  # cached under the temporary uid
        job.uid = next(self._ids)
        self.jobs[job.uid] = job
        self._dirty = True
        self._notify("submitted", job)
        return job

    def _admit(self, job: Job, now: float) -> None:
        """OAR's admission: resources exist, quota, and an advance reservation fits."""
        invalid = "The job you are trying to submit is not valid: "
        possible = self._allocate(job, 0, 0, [], existence=True)
        if possible is None:
            raise JobError(
                400,
                f"{invalid}[ADMISSION RULE] There are not enough resources "
                f"for your request ({job.resources})",
            )
        quota = self.quotas.get(job.user, self.default_quota)
        if quota is not None and len(possible.nodes) > quota:
            raise JobError(
                400,
                f"{invalid}[ADMISSION RULE] quota exceeded: {len(possible.nodes)} nodes "
                f"asked, {quota} allowed for {job.user}",
            )
        if job.reservation is None:
            job.message = "FIFO scheduling OK"
            return
        start = job.reservation
        busy = [j for j in self._holders(job.site) if not j.besteffort]
        alloc = self._allocate(job, start, start + job.walltime, busy)
        if alloc is None:
            slot = self._find_slot(job, start, busy)
            hint = f" (This reservation could run at {format_paris(slot[0])})" if slot else ""
            raise JobError(400, f"{invalid}[ADMISSION RULE] Reservation not valid --> KO{hint}")
        job.alloc, job.scheduled_at = alloc, start
        job.message = "Reservation valid --> OK"

    # ------------------------------------------------------------------ life cycle
    def _holders(self, site: str) -> list[Job]:
        """Jobs owning resources now or in the future (running + accepted reservations)."""
        return [
            j
            for j in self.jobs.values()
            if j.site == site
            and (j.state in HOLDING or (j.state == "waiting" and j.reservation is not None))
        ]

    def _notify(self, what: str, job: Job) -> None:
        for listener in self.listeners:
            listener(what, job)

    def _forget(self, job: Job) -> None:
        for key in [k for k in self._eligible_cache if k[0] == job.uid]:
            del self._eligible_cache[key]

    def _finish(self, job: Job, state: str, when: float) -> None:
        self._dirty = True
        self._forget(job)
        job.state, job.stopped_at = state, when
        if state == "terminated" and job.exit_code is None:
            job.exit_code = 0
        self._plan.pop(job.uid, None)
        self._notify("ended", job)

    def _launch(self, job: Job, alloc: Allocation, when: float) -> None:
        self._dirty = True
        self._forget(job)
        fewer = self.faults.take_fewer_nodes() if self.faults else 0
        if fewer and len(alloc.nodes) > 1:
            alloc.nodes = alloc.nodes[: max(1, len(alloc.nodes) - fewer)]
        job.alloc, job.state, job.started_at, job.scheduled_at = alloc, "launching", when, when
        job.running_at = when + self.launch_delay
        job.end_at = when + job.walltime
        m = re.fullmatch(r"\s*sleep\s+(\d+)\s*", job.command or "")
        if m:
            job.end_at = min(job.end_at, job.running_at + int(m.group(1)))
        elif (job.command or "").strip() in ("true", ":", "exit 0"):
            job.end_at = min(job.end_at, job.running_at + 1)
        job.fail_launch = bool(self.faults and self.faults.take_job_error(job.uid))
        self._plan.pop(job.uid, None)
        self._notify("launching", job)

    def delete(self, job: Job, user: str, now: float) -> None:
        if job.user != user:
            raise JobError(403, f"You are not the owner of job {job.uid} (owner: {job.user})")
        if job.state in FINAL or job.state == "finishing":
            raise JobError(400, f"Impossible to delete job {job.uid}: This job was already killed")
        job.event(now, "FRAG_JOB_REQUEST", f"User {user} requested to frag the job {job.uid}")
        if job.state == "waiting":
            self._finish(job, "error", now)
        else:
            job.state, job.kill_at = "finishing", now + self.kill_delay
        self._dirty = True

    def fail(self, job: Job, now: float, message: str) -> None:
        """Put an unfinished job in ``error`` immediately (fault injection)."""
        if job.state in FINAL:
            return
        job.event(now, "SWITCH_INTO_ERROR_STATE", message)
        job.message = message
        self._finish(job, "error", now)

    def change_walltime(self, job: Job, new: int, now: float) -> bool:
        """Grant a new walltime to a started job if its nodes are free for it."""
        if new <= 0 or job.started_at is None:
            return False
        start = job.started_at
        new = max(new, int(now - start) + 1)
        if new > job.walltime:
            others = [j for j in self._holders(job.site) if j.uid != job.uid and not j.besteffort]
            mine = {n.fqdn for n in job.nodes}
            for other in others:
                a, b, alloc = self._span(other)
                if (
                    alloc
                    and a < start + new
                    and b > start + job.walltime
                    and mine.intersection(n.fqdn for n in alloc.nodes)
                ):
                    return False
        job.walltime_granted += new - job.walltime
        command_end = (
            job.end_at if job.end_at is not None and job.end_at < start + job.walltime else None
        )
        job.walltime = new
        job.end_at = min(start + new, command_end) if command_end else start + new
        self._dirty = True
        return True

    def set_hard_state(self, fqdn: str, hard: str, comment: str = "") -> None:
        self.hard[fqdn] = hard
        self.comment[fqdn] = comment
        self._eligible_cache.clear()
        self._dirty = True

    def next_event(self, after: float) -> float | None:
        times = []
        for j in self.jobs.values():
            if j.state == "finishing" and j.kill_at is not None:
                times.append(j.kill_at)
            elif j.state == "running" and j.end_at is not None:
                times.append(j.end_at)
            elif j.state == "launching" and j.running_at is not None:
                times.append(j.running_at)
            elif j.state == "waiting" and j.reservation is not None:
                times.append(j.reservation)
            elif j.state == "waiting":
                times.append(j.submitted_at + self.schedule_delay)
        times.extend(start for start, _ in self._plan.values())
        future = [t for t in times if t > after]
        return min(future) if future else None

    def step(self, now: float) -> None:
        """Apply every transition due at ``now`` and (re)plan waiting jobs."""
        for job in sorted(self.jobs.values(), key=lambda j: j.uid):
            if job.state == "finishing" and job.kill_at is not None and job.kill_at <= now:
                self._finish(job, "error", job.kill_at)
            elif job.state == "running" and job.end_at is not None and job.end_at <= now:
                self._finish(job, "terminated", job.end_at)
            elif job.state == "launching" and job.running_at is not None and job.running_at <= now:
                if job.fail_launch:
                    job.event(
                        job.running_at,
                        "PROLOGUE_ERROR",
                        "Error during the job prologue (fault injected by the emulator)",
                    )
                    job.message = "The job failed while launching"
                    self._finish(job, "error", job.running_at)
                else:
                    job.state = "running"
                    self._dirty = True
                    self._notify("running", job)
                    if job.end_at is not None and job.end_at <= now:
                        self._finish(job, "terminated", job.end_at)
        for job in sorted(self.jobs.values(), key=lambda j: j.uid):
            if job.state == "waiting" and job.reservation is not None and job.reservation <= now:
                if job.alloc and any(
                    self.hard.get(n.fqdn, "alive") == "dead" for n in job.alloc.nodes
                ):
                    alive = [n for n in job.alloc.nodes if self.hard.get(n.fqdn, "alive") != "dead"]
                    job.alloc.nodes = alive
                self._preempt(job, job.reservation)
                self._launch(job, job.alloc or Allocation(), job.reservation)
        if self._dirty or now >= self._plan_valid_until:
            self._dirty = False
            self._plan_valid_until = float("inf")
            for site in self.ref.sites:
                self._plan_site(site, now)

    def _preempt(self, job: Job, when: float) -> None:
        mine = {n.fqdn for n in job.nodes}
        for other in list(self.jobs.values()):
            if (
                other.besteffort
                and other.state in HOLDING
                and other.site == job.site
                and mine.intersection(n.fqdn for n in other.nodes)
            ):
                other.event(when, "BESTEFFORT_KILL", f"kill the besteffort job {other.uid}")
                other.message = "Besteffort job killed to let a normal job start"
                self._finish(other, "error", when)

    def _user_nodes(self, user: str) -> int:
        return sum(
            len(j.nodes) for j in self.jobs.values() if j.user == user and j.state in HOLDING
        )

    def _plan_site(self, site: str, now: float) -> None:
        waiting = sorted(
            (
                j
                for j in self.jobs.values()
                if j.site == site and j.state == "waiting" and j.reservation is None
            ),
            key=lambda j: (j.besteffort, j.uid),
        )
        for j in waiting:
            self._plan.pop(j.uid, None)
        planned: list[Job] = []
        for job in waiting:
            base = [j for j in self._holders(site) if (job.besteffort or not j.besteffort)]
            busy = base + planned
            eligible_at = job.submitted_at + self.schedule_delay
            if eligible_at > now:
                self._plan_valid_until = min(self._plan_valid_until, eligible_at)
            if job.besteffort:
                ready = now >= eligible_at
                alloc = self._allocate(job, now, now + 1, busy) if ready else None
                slot = (now, alloc) if alloc else None
            else:
                slot = self._find_slot(job, max(now, job.submitted_at + self.schedule_delay), busy)
            if slot is None:
                job.scheduled_at = None
                continue
            start, alloc = slot
            quota = self.quotas.get(job.user, self.default_quota)
            if (
                start <= now
                and quota is not None
                and self._user_nodes(job.user) + len(alloc.nodes) > quota
            ):
                job.message = f"Quota limitation reached for {job.user} ({quota} nodes)"
                job.scheduled_at = None
                continue
            if start <= now:
                if not job.besteffort:
                    job.alloc = alloc  # so that _preempt sees the nodes this start takes
                    self._preempt(job, now)
                self._launch(job, alloc, now)
            else:
                job.scheduled_at = start
                self._plan[job.uid] = (start, alloc)
                self._plan_valid_until = min(self._plan_valid_until, start)
                planned.append(job)

    def planned(self, job: Job) -> tuple[float, Allocation] | None:
        """Predicted (start, resources) of a waiting batch job."""
        return self._plan.get(job.uid)

    # ------------------------------------------------------------------ queries
    def list_jobs(
        self,
        site: str,
        *,
        user: str | None = None,
        name: str | None = None,
        project: str | None = None,
        queue: str | None = None,
        states: Iterable[str] | None = None,
    ) -> list[Job]:
        wanted = {s.strip().lower() for s in states} if states else None
        out = [
            j
            for j in self.jobs.values()
            if j.site == site
            and (user is None or j.user == user)
            and (name is None or j.name == name)
            and (project is None or j.project == project)
            and (queue is None or j.queue == queue)
            and (wanted is None or j.state in wanted)
        ]
        return sorted(out, key=lambda j: j.uid, reverse=True)

    def node_jobs(self, site: str) -> dict[str, list[tuple[Job, float]]]:
        """fqdn -> [(job, start)] for every job holding or planned on the node."""
        out: dict[str, list[tuple[Job, float]]] = {}
        for job in self.jobs.values():
            if job.site != site:
                continue
            if job.state in HOLDING or (job.state == "waiting" and job.reservation is not None):
                start, alloc = job.interval()[0], job.alloc
            elif job.uid in self._plan:
                start, alloc = self._plan[job.uid]
            else:
                continue
            for n in alloc.nodes if alloc else []:
                out.setdefault(n.fqdn, []).append((job, start))
        return out
