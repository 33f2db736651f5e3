"""Experiments and their scheduler, on the emulator's virtual clock.

Life of an experiment (OAR's states, as IoT-LAB shows them)::

    Waiting --(its start time)--> Launching --(launch_seconds)--> Running --(duration)--> Terminated
                                      |  firmwares flashed, profiles applied, per node
    stop: Waiting -> Stopped;  Launching/Running -> Finishing --(a few seconds)--> Terminated
    faults: Launching -> Error (experiment_error_*), nodes not Alive at start -> Error

Submissions take nodes by name (``physical``) or by architecture and site (``alias``); the
scheduler places each at the earliest time its nodes are free for its whole duration. Node
commands (start, stop, reset, flash, profile ...) act on the nodes of a running experiment and
answer IoT-LAB's ``{"0": [ok], "1": [failed]}``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .testbed import Node, Testbed

HOLDING = ("toLaunch", "Launching", "Running", "Finishing")  # the nodes are the experiment's
ACTIVE = ("Waiting", "toLaunch", "Launching", "Running")
ENDED = ("Terminated", "Stopped", "Error")
COMMANDS = ("start", "stop", "reset", "flash", "flash-idle", "profile", "profile-reset", "profile-load",
            "debug-start", "debug-stop")


class ApiError(Exception):
    """An answer that is an error: HTTP ``code`` and IoT-LAB's message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def iso(t: float | None) -> str:
    """A virtual-clock timestamp as the API writes dates (UTC, ISO 8601)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t or 0))


@dataclass
class Experiment:
    """One submitted experiment: what the API reports of it and its nodes' states."""

    id: int
    name: str
    user: str
    type: str
    duration: int  # minutes
    reservation: float | None
    submitted: float
    nodes: list[str]
    firmwares: dict[str, str]  # node -> firmware file name
    profiles: dict[str, str]  # node -> profile name
    files: dict[str, bytes]
    description: dict[str, Any]
    state: str = "Waiting"
    scheduled: float = 0.0
    started: float | None = None
    stopped: float | None = None
    launch_end: float = 0.0
    finish_at: float = 0.0
    deployment: dict[str, list[str]] = field(default_factory=dict)
    message: str = ""

    def span(self) -> tuple[float, float]:
        start = self.started if self.started is not None else self.scheduled
        end = start + self.duration * 60
        if self.state == "Finishing":
            end = max(end, self.finish_at)
        return start, end

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "user": self.user, "state": self.state, "type": self.type,
                "nb_nodes": len(self.nodes), "submitted_duration": self.duration,
                "effective_duration": self.effective_minutes(), "submission_date": iso(self.submitted),
                "scheduled_date": iso(self.scheduled), "start_date": iso(self.started),
                "stop_date": iso(self.stopped)}

    def effective_minutes(self) -> int:
        if self.started is None:
            return 0
        end = self.stopped if self.stopped is not None else self.started
        return int(max(0.0, end - self.started) // 60)

    def full(self) -> dict[str, Any]:
        d = self.description
        return {**self.summary(), "nodes": list(self.nodes), "duration": self.duration,
                "reservation": None if self.reservation is None else int(self.reservation),
                "profileassociations": d.get("profileassociations"),
                "firmwareassociations": d.get("firmwareassociations"), "profiles": d.get("profiles"),
                "deploymentresults": dict(self.deployment) if self.deployment else None}


class Hooks:
    """What the emulator does when the scheduler moves things (default: nothing)."""

    def launching(self, exp: Experiment, nodes: list[Node]) -> None: ...

    def running(self, exp: Experiment, nodes: list[Node]) -> None: ...

    def ended(self, exp: Experiment, nodes: list[Node]) -> None: ...

    def booted(self, node: Node) -> None:
        """The node's firmware (re)started, or it was powered off (``node.powered``)."""


class Scheduler:
    """Experiments of every user; every method is thread-safe and first applies the
    transitions due at the clock's current time."""

    def __init__(self, testbed: Testbed, clock: Callable[[], float], faults: Any = None, hooks: Hooks | None = None,
                 *, launch_seconds: float = 20.0, finish_seconds: float = 5.0, first_id: int = 400000) -> None:
        self.testbed = testbed
        self.clock = clock
        self.faults = faults
        self.hooks = hooks or Hooks()
        self.launch_seconds, self.finish_seconds = launch_seconds, finish_seconds
        self.experiments: dict[int, Experiment] = {}
        self.profiles: dict[str, dict[str, dict[str, Any]]] = {}  # user -> name -> profile
        self._next_id = first_id
        self.lock = threading.RLock()

    # -- time ------------------------------------------------------------------------------
    def tick(self) -> None:
        """Apply every transition due now (called on each request and by the clock thread)."""
        with self.lock:
            now = self.clock()
            for exp in sorted(self.experiments.values(), key=lambda e: e.id):
                self._advance(exp, now)

    def _advance(self, exp: Experiment, now: float) -> None:
        if exp.state == "Waiting" and now >= exp.scheduled:
            bad = [n for n in exp.nodes if self.testbed.node(n).state != "Alive"]  # type: ignore[union-attr]
            if bad:
                self._error(exp, now, f"nodes not available at start: {', '.join(bad)}")
                return
            exp.state, exp.started = "toLaunch", exp.scheduled
            exp.state, exp.launch_end = "Launching", exp.started + self.launch_seconds
            self.hooks.launching(exp, self._nodes(exp))
        if exp.state == "Launching" and now >= exp.launch_end:
            if self._fault("experiment_error_next", "experiment_error_rate"):
                self._error(exp, now, "experiment failed to start (emulated fault)")
                return
            self._deploy(exp)
            exp.state = "Running"
            self.hooks.running(exp, self._nodes(exp))
        if exp.state == "Running" and exp.started is not None and now >= exp.started + exp.duration * 60:
            self._end(exp, exp.started + exp.duration * 60, "Terminated")
        if exp.state == "Finishing" and now >= exp.finish_at:
            self._end(exp, exp.finish_at, "Terminated")

    def _end(self, exp: Experiment, when: float, state: str) -> None:
        held = exp.state in HOLDING
        exp.state, exp.stopped = state, when
        if held:
            self.hooks.ended(exp, self._nodes(exp))  # before the nodes are cleared
            for node in self._nodes(exp):
                node.powered, node.profile, node.firmware = False, None, None
                self.hooks.booted(node)

    def _error(self, exp: Experiment, now: float, message: str) -> None:
        exp.message = message
        self._end(exp, now, "Error")

    def _fault(self, counter: str, rate: str) -> bool:
        return bool(self.faults is not None and self.faults.take(counter, rate))

    def _nodes(self, exp: Experiment) -> list[Node]:
        return [self.testbed.by_address[n] for n in exp.nodes]

    def _deploy(self, exp: Experiment) -> None:
        ok, failed = [], []
        for node in self._nodes(exp):
            fw = exp.firmwares.get(node.network_address)
            node.powered = True
            prof = exp.profiles.get(node.network_address)
            node.profile = self.profiles.get(exp.user, {}).get(prof) if prof else None
            if fw is not None and self._fault("flash_fail_next", "flash_failure_rate"):
                node.firmware = None
                failed.append(node.network_address)
            else:
                node.firmware = fw
                ok.append(node.network_address)
            node.boots += 1
            self.hooks.booted(node)
        exp.deployment = {"0": ok, **({"1": failed} if failed else {})}

    # -- submissions -----------------------------------------------------------------------
    def submit(self, user: str, description: Any, files: dict[str, bytes]) -> Experiment:
        with self.lock:
            self.tick()
            now = self.clock()
            d = _check_description(description)
            duration = d["duration"]
            reservation = float(d["reservation"]) if d.get("reservation") not in (None, "", 0, "0") else None
            if reservation is not None and reservation < now - 60:
                raise ApiError(400, f"reservation date {iso(reservation)} is in the past")
            start = max(now, reservation or now)
            groups = self._groups(d)
            when, chosen = self._place(groups, start, duration * 60.0)
            ids = {g["id"]: chosen[i] for i, g in enumerate(groups)}
            firmwares = self._associate(d.get("firmwareassociations"), "firmwarename", ids, files, user)
            profiles = self._associate(d.get("profileassociations"), "profilename", ids, files, user)
            exp = Experiment(self._next_id, str(d.get("name") or "Untitled"), user, d["type"], duration, reservation,
                             now, sorted({n for c in chosen for n in c}, key=_node_order), firmwares, profiles,
                             dict(files), d, scheduled=when)
            self._next_id += 1
            self.experiments[exp.id] = exp
            self._advance(exp, now)
            return exp

    def _groups(self, d: dict[str, Any]) -> list[dict[str, Any]]:
        if d["type"] == "physical":
            out = []
            for name in d["nodes"]:
                node = self.testbed.node(str(name))
                if node is None:
                    raise ApiError(500, f"Invalid nodes list : [{name}]")
                out.append({"id": node.network_address, "fixed": [node], "count": 1})
            bad = [g["id"] for g in out if g["fixed"][0].state != "Alive"]
            if bad:
                raise ApiError(500, f"Invalid nodes state : [{', '.join(bad)}]")
            return out
        out = []
        for item in d["nodes"]:
            props = item.get("properties") or {}
            if props.get("mobile") in (True, 1, "true", "1"):
                raise ApiError(500, "no mobile node matches the request (robots are not emulated)")
            site, archi, count = props.get("site"), props.get("archi"), item.get("nbnodes")
            if not isinstance(count, int) or count < 1:
                raise ApiError(400, f"alias {item.get('alias')}: nbnodes must be a positive integer")
            pool = [n for n in self.testbed.nodes(site=site, archi=archi) if n.state == "Alive"]
            if len(pool) < count:
                raise ApiError(500, f"Not enough {archi} nodes on {site}: {count} asked, {len(pool)} usable")
            out.append({"id": str(item.get("alias")), "pool": pool, "count": count})
        return out

    def _busy(self, start: float, end: float) -> set[str]:
        held: set[str] = set()
        for exp in self.experiments.values():
            if exp.state not in (*ACTIVE, "Finishing"):
                continue
            s, e = exp.span()
            if s < end and start < e:
                held.update(exp.nodes)
        return held

    def _place(self, groups: list[dict[str, Any]], start: float, seconds: float) -> tuple[float, list[list[str]]]:
        candidates = sorted({start} | {e.span()[1] for e in self.experiments.values()
                                       if e.state in (*ACTIVE, "Finishing") and e.span()[1] > start})
        for t in candidates:
            busy = self._busy(t, t + seconds)
            chosen, taken, ok = [], set(), True
            for g in groups:
                pool = g.get("fixed") or g["pool"]
                free = [n.network_address for n in pool if n.network_address not in busy
                        and n.network_address not in taken]
                if len(free) < g["count"]:
                    ok = False
                    break
                pick = sorted(free, key=_node_order)[:g["count"]]
                taken.update(pick)
                chosen.append(pick)
            if ok:
                return t, chosen
        raise ApiError(500, "the nodes asked for are never free together")

    def _associate(self, assocs: Any, key: str, ids: dict[str, list[str]], files: dict[str, bytes],
                   user: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for a in assocs or []:
            name = a.get(key)
            if key == "firmwarename" and name not in files:
                raise ApiError(500, f"firmware {name} is not in the submission")
            if key == "profilename" and name not in self.profiles.get(user, {}):
                raise ApiError(500, f"profile {name} does not exist")
            for ref in a.get("nodes", []):
                if str(ref) not in ids:
                    raise ApiError(500, f"association of {name}: unknown nodes {ref}")
                for n in ids[str(ref)]:
                    out[n] = name
        return out

    # -- one experiment ----------------------------------------------------------------------
    def get(self, user: str, exp_id: int) -> Experiment:
        with self.lock:
            self.tick()
            exp = self.experiments.get(int(exp_id))
            if exp is None or exp.user != user:
                raise ApiError(404, f"Experiment {exp_id} not found")
            return exp

    def list(self, user: str | None, states: Sequence[str] | None) -> list[Experiment]:
        with self.lock:
            self.tick()
            return [e for e in sorted(self.experiments.values(), key=lambda e: -e.id)
                    if (user is None or e.user == user) and (not states or e.state in states)]

    def stop(self, user: str, exp_id: int) -> Experiment:
        with self.lock:
            exp = self.get(user, exp_id)
            now = self.clock()
            if exp.state in ("Waiting", "toLaunch"):
                exp.state, exp.stopped = "Stopped", now
            elif exp.state in ("Launching", "Running"):
                exp.state, exp.finish_at = "Finishing", now + self.finish_seconds
            else:
                raise ApiError(500, f"This job was already killed (experiment {exp.id} is {exp.state})")
            return exp

    def reload(self, user: str, exp_id: int, duration: Any, reservation: Any) -> Experiment:
        with self.lock:
            old = self.get(user, exp_id)
            d = dict(old.description)
            if duration not in (None, ""):
                d["duration"] = int(duration)
            d["reservation"] = reservation
            if d["type"] == "alias":  # the same nodes again
                d = {**d, "type": "physical", "nodes": list(old.nodes)}
                d["firmwareassociations"] = _by_node(old.firmwares, "firmwarename")
                d["profileassociations"] = _by_node(old.profiles, "profilename")
            return self.submit(user, d, old.files)

    def command(self, user: str, exp_id: int, command: str, nodes: Sequence[str], option: Any = None
                ) -> dict[str, list[str]]:
        with self.lock:
            exp = self.get(user, exp_id)
            if exp.state != "Running":
                raise ApiError(500, f"Experiment {exp.id} is {exp.state}, not Running")
            targets = list(nodes) or list(exp.nodes)
            foreign = [n for n in targets if n not in exp.nodes]
            if foreign:
                raise ApiError(500, f"Invalid nodes list : [{', '.join(foreign)}] not in experiment {exp.id}")
            profile = None
            if command == "profile":
                profile = self.profiles.get(user, {}).get(str(option))
                if profile is None:
                    raise ApiError(500, f"profile {option} does not exist")
            if command == "profile-load":
                profile = option
            ok, failed = [], []
            for address in targets:
                node = self.testbed.by_address[address]
                if node.state != "Alive" or not self._run(node, command, option, profile):
                    failed.append(address)
                else:
                    ok.append(address)
            return {"0": ok, "1": failed} if failed else {"0": ok}

    def _run(self, node: Node, command: str, option: Any, profile: dict[str, Any] | None) -> bool:
        if command in ("flash", "flash-idle"):
            if command == "flash" and self._fault("flash_fail_next", "flash_failure_rate"):
                return False
            node.firmware = str(option) if command == "flash" else None
            node.powered = True
            node.boots += 1
            self.hooks.booted(node)
            return True
        if self._fault("command_fail_next", "command_failure_rate"):
            return False
        if command == "start":
            node.powered = True
            node.boots += 1
            self.hooks.booted(node)
        elif command == "stop":
            node.powered = False
            self.hooks.booted(node)
        elif command == "reset":
            if node.powered:
                node.boots += 1
                self.hooks.booted(node)
        elif command in ("profile", "profile-load"):
            node.profile = profile
            self.hooks.booted(node)
        elif command == "profile-reset":
            node.profile = None
            self.hooks.booted(node)
        return True

    # -- profiles ------------------------------------------------------------------------------
    def add_profile(self, user: str, profile: Any) -> dict[str, Any]:
        p = _check_profile(profile)
        with self.lock:
            self.profiles.setdefault(user, {})[p["profilename"]] = p
        return p

    def busy_nodes(self) -> set[str]:
        with self.lock:
            return {n for e in self.experiments.values() if e.state in HOLDING for n in e.nodes}


def _by_node(mapping: dict[str, str], key: str) -> list[dict[str, Any]] | None:
    names: dict[str, list[str]] = {}
    for node, name in mapping.items():
        names.setdefault(name, []).append(node)
    return [{key: k, "nodes": v} for k, v in names.items()] or None


def _node_order(address: str) -> tuple[str, str, int]:
    host, _, site = address.partition(".")
    kind, _, number = host.rpartition("-")
    return site, kind, int(number) if number.isdigit() else 0


def _check_description(d: Any) -> dict[str, Any]:
    if isinstance(d, (bytes, str)):
        try:
            d = json.loads(d)
        except ValueError as exc:
            raise ApiError(400, f"new_exp.json is not JSON: {exc}") from None
    if not isinstance(d, dict):
        raise ApiError(400, "the experiment description must be a JSON object")
    if d.get("type") not in ("alias", "physical"):
        raise ApiError(400, f"experiment type must be alias or physical, got {d.get('type')!r}")
    duration = d.get("duration")
    try:
        duration = int(duration)
    except (TypeError, ValueError):
        raise ApiError(400, f"duration must be a number of minutes, got {d.get('duration')!r}") from None
    if duration < 1:
        raise ApiError(400, "duration must be at least one minute")
    if not isinstance(d.get("nodes"), list) or not d["nodes"]:
        raise ApiError(400, "the experiment has no nodes")
    return {**d, "duration": duration}


def _check_profile(p: Any) -> dict[str, Any]:
    if not isinstance(p, dict) or not p.get("profilename"):
        raise ApiError(400, "a profile needs a profilename")
    if p.get("nodearch") not in ("m3", "a8", "custom"):
        raise ApiError(400, f"nodearch must be m3, a8 or custom, got {p.get('nodearch')!r}")
    if p.get("power", "dc") not in ("dc", "battery"):
        raise ApiError(400, f"power must be dc or battery, got {p.get('power')!r}")
    radio = p.get("radio")
    if radio is not None and (not isinstance(radio, dict) or radio.get("mode") not in ("rssi", "sniffer")):
        raise ApiError(400, "radio.mode must be rssi or sniffer")
    return dict(p)
