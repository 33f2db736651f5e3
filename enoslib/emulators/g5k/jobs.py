"""OAR job model: states, the job record and its API rendering, reservation dates.

Grid'5000 speaks Europe/Paris local time in reservation dates and hints;
responses carry Unix integers and walltimes in seconds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from .reference import NodeRef
from .resources import Filter, Request

__all__ = [
    "ACTIVE",
    "FINAL",
    "HOLDING",
    "PARIS",
    "Allocation",
    "Job",
    "JobError",
    "format_paris",
    "night_windows",
    "parse_reservation",
]

PARIS = ZoneInfo("Europe/Paris")
HOLDING = ("launching", "running", "finishing")  # states that own their resources
ACTIVE = ("waiting",) + HOLDING
FINAL = ("terminated", "error")


class JobError(Exception):
    """A request the API answers with an HTTP error (``status`` + OAR-like message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_reservation(value: Any, now: float) -> tuple[float, float | None]:
    """``"YYYY-MM-DD hh:mm[:ss][, end]"`` (Europe/Paris), ``now`` or epoch -> (start, end)."""
    if isinstance(value, (int, float)):
        return float(value), None
    text = str(value).strip()
    if text.lower() == "now":
        return now, None
    if text.isdigit():
        return float(text), None
    parts = [p.strip() for p in text.split(",")]
    times = []
    for p in parts[:2]:
        for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
            try:
                times.append(dt.datetime.strptime(p, fmt).replace(tzinfo=PARIS).timestamp())
                break
            except ValueError:
                continue
        else:
            raise JobError(
                400,
                f"The job you are trying to submit is not valid: "
                f"bad reservation date {p!r} (expected YYYY-MM-DD hh:mm:ss)",
            )
    return times[0], (times[1] if len(times) > 1 else None)


def format_paris(ts: float) -> str:
    """An epoch time as OAR writes dates (``YYYY-MM-DD HH:MM:SS``, Europe/Paris time)."""
    return dt.datetime.fromtimestamp(ts, PARIS).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Allocation:
    """The resources given to a job: nodes, VLANs, subnets and disks."""
    nodes: list[NodeRef] = field(default_factory=list)
    vlans: list[str] = field(default_factory=list)
    subnets: list[str] = field(default_factory=list)
    disks: list[str] = field(default_factory=list)


@dataclass
class Job:
    """One OAR job; :meth:`to_json` renders it the way the API does."""

    uid: int
    site: str
    user: str
    request: Request
    resources: str
    walltime: int
    types: list[str]
    queue: str
    name: str | None
    project: str | None
    command: str
    properties: str
    directory: str
    submitted_at: float
    reservation: float | None = None
    state: str = "waiting"
    scheduled_at: float | None = None
    started_at: float | None = None
    running_at: float | None = None
    end_at: float | None = None
    kill_at: float | None = None
    stopped_at: float | None = None
    exit_code: int | None = None
    message: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    alloc: Allocation | None = None
    fail_launch: bool = False
    walltime_granted: int = 0  # seconds added (or removed) by walltime changes
    prop_filter: Filter | None = field(default=None, repr=False)
    cores: dict[str, int] = field(default_factory=dict, repr=False)  # fqdn -> cores, for rendering

    @property
    def besteffort(self) -> bool:
        return self.queue == "besteffort"

    @property
    def nodes(self) -> list[NodeRef]:
        return self.alloc.nodes if self.alloc else []

    def event(self, now: float, kind: str, description: str) -> None:
        self.events.append(
            {"type": kind, "description": description, "date": int(now), "to_check": "NO"}
        )

    def interval(self) -> tuple[float, float]:
        """[start, end) the job holds (or will hold) its resources."""
        start = self.started_at if self.started_at is not None else (self.reservation or 0.0)
        end = self.kill_at if self.state == "finishing" and self.kill_at else start + self.walltime
        return start, end

    def to_json(self, prefix: str, details: bool = True) -> dict[str, Any]:
        js: dict[str, Any] = {
            "uid": self.uid,
            "user": self.user,
            "user_uid": self.user,
            "name": self.name,
            "project": self.project,
            "queue": self.queue,
            "state": self.state,
            "types": list(self.types),
            "mode": "PASSIVE",
            "command": self.command,
            "walltime": self.walltime,
            "submitted_at": int(self.submitted_at),
            "started_at": int(self.started_at) if self.started_at is not None else 0,
            "message": self.message,
            "properties": self.properties,
            "directory": self.directory,
            "events": list(self.events),
            "links": [
                {
                    "rel": "self",
                    "href": f"{prefix}/sites/{self.site}/jobs/{self.uid}",
                    "type": "application/vnd.grid5000.item+json",
                },
                {
                    "rel": "parent",
                    "href": f"{prefix}/sites/{self.site}",
                    "type": "application/vnd.grid5000.item+json",
                },
            ],
        }
        for key in ("scheduled_at", "stopped_at"):
            if getattr(self, key) is not None:
                js[key] = int(getattr(self, key))
        if self.exit_code is not None:
            js["exit_code"] = self.exit_code
        if details:
            js["assigned_nodes"], js["resources_by_type"] = [], {}
            if self.alloc and self.started_at is not None:
                js["assigned_nodes"] = [n.fqdn for n in self.alloc.nodes]
                rbt = js["resources_by_type"]
                rbt["cores"] = [
                    f"{n.fqdn}/{c}"
                    for n in self.alloc.nodes
                    for c in range(self.cores.get(n.fqdn, 1))
                ]
                if self.alloc.vlans:
                    rbt["vlans"] = list(self.alloc.vlans)
                if self.alloc.subnets:
                    rbt["subnets"] = list(self.alloc.subnets)
                if self.alloc.disks:
                    rbt["disks"] = list(self.alloc.disks)
        return js


def night_windows(start: float, horizon: float) -> list[tuple[float, float]]:
    """Grid'5000 night/weekend windows (Europe/Paris): weekdays 19:00 -> 09:00."""
    out: list[tuple[float, float]] = []
    day = dt.datetime.fromtimestamp(start, PARIS).replace(hour=0, minute=0, second=0, microsecond=0)
    day -= dt.timedelta(days=1)
    while day.timestamp() < horizon:
        nxt = day + dt.timedelta(days=1)
        if day.weekday() < 5:  # evening of a weekday
            out.append((day.replace(hour=19).timestamp(), nxt.replace(hour=9).timestamp()))
        if day.weekday() >= 5:  # whole weekend day
            out.append((day.timestamp(), nxt.timestamp()))
        day = nxt
    merged: list[tuple[float, float]] = []
    for a, b in sorted(out):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged
