"""Several providers as one: ``Providers([g5k, iotlab, static])`` starts them all at a common time.

>>> providers = en.Providers([en.G5k(g5k_conf), en.Static(static_conf)])
>>> with providers as (roles, networks):               # doctest: +SKIP
...     roles["server"]                  # every provider's "server" hosts
...     providers.roles_by_provider["G5k"]   # only the hosts the G5k provider gave

How the common start is found
-----------------------------
One *search* asks every provider, once, for its :meth:`~enoslib.infra.provider.Provider.availability`
(in parallel threads), turns each answer into the set of start times at which that provider's
reservation fits (its walltime plus its ``slot_margin``, see below), intersects those sets and
takes the earliest whole second. Everything is computed on the breakpoints of the schedules with
:mod:`enoslib.infra.slots`: there is no time step, so a free gap exactly as long as the walltime
is found wherever it lies, and a gap one second too short is never used. EnOSlib instead probes
``start, start + 5 min, start + 10 min ...`` with ``test_slot``; it misses gaps shorter than its
step plus the walltime and answers up to 5 minutes late.

``time_window`` bounds the *start* (as in EnOSlib: the reservation starts between ``start_time``
and ``start_time + time_window``); the reservation itself may end after the window, so each
provider is asked about ``[start, start + time_window + its reservation length + lookahead)``.
The ``lookahead`` (as long as the window, one day at least) costs nothing more than the
single request and lets a :class:`~enoslib.errors.NoSlotError` say when the next common start is.

Then every provider reserves at that time (``set_reservation`` + ``async_init``, in parallel
threads), and only once they all have, waits for them (``init``, in parallel too). A testbed may
still refuse (another user took the resources since the availability was read): it raises
:class:`~enoslib.errors.InvalidReservationTime`, whose ``next_time`` is its scheduler's hint
(OAR's "could run at"). The providers that reserved are moved when they can
(``movable_reservation``) and released otherwise, and a new search starts at the hint, with
the same end of the window. Any other failure, or Ctrl-C, releases everything this object
started: each provider is recorded *before* it is asked to reserve, so nothing it gets can be
missed, and a provider still reserving in its thread is released again once its thread ends.

What a provider may declare (all optional, declared with defaults on Provider)
------------------------------------------------------------------------------

- ``provider_conf.walltime`` (``"H:MM:SS"`` or seconds), or a ``walltime_seconds`` attribute:
  how long the reservation lasts. None means unbounded (Static, Local): such a provider must be
  available for as long as the longest walltime of the others.
- ``slot_margin`` (seconds, default 0): free time the testbed needs after the walltime before it
  accepts a reservation (e.g. a scheduler's security time between jobs). A reservation of
  walltime ``w`` then needs a free gap of ``w + slot_margin``.
- ``movable_reservation`` (default False, True for :class:`~enoslib.infra.provider.ImmediateProvider`
  subclasses such as Static and Local, which hold nothing on a scheduler):
  ``set_reservation(t)`` + ``async_init(start_time=t)`` moves an existing reservation instead of
  duplicating it. Such a provider's ``availability`` must not count its own reservation as busy.
- ``concurrent_init`` (default True): False runs its ``async_init``/``init`` in the calling
  thread instead of a worker thread.
- ``start_times(start, end) -> IntervalSet``: the exact start times in ``[start, end]`` (used
  instead of ``availability``; :class:`Providers` has it, which keeps nesting exact).
- ``availability_by_resource(start, end) -> {resource name: IntervalSet}``: the free windows of
  each resource the configuration needs (used instead of ``availability``, whose answer is
  their intersection), so that a :class:`~enoslib.errors.NoSlotError` can name the resource
  that blocks (e.g. ``"paravance nodes"``), not only the provider.

Roles and networks
------------------
``init`` returns every provider's roles and networks merged (a role present in several providers
gets all their hosts). Each provider's own are in :attr:`Providers.roles_by_provider` /
:attr:`Providers.networks_by_provider`, keyed by provider name (``provider.name``, made unique
with ``-2``, ``-3`` ... suffixes). As in EnOSlib, the merged roles also get one role per
provider, named after it, holding all its hosts, unless a provider already uses that name as a
role (then only ``roles_by_provider`` has it).

Reload: a second ``init`` (or a second run of the script, with providers that reload by name)
does not search again: when every provider ``is_created()``, each one just reloads.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from enoslib.errors import (
    EnosConfigError,
    EnosProviderError,
    InvalidReservationTime,
    InvalidReservationTooOld,
    NoSlotError,
)
from enoslib.infra.configuration import walltime_to_seconds
from enoslib._signals import sigint_deferred
from enoslib.infra.provider import Provider, Time
from enoslib.infra.slots import (
    Interval,
    IntervalSet,
    explain_no_slot,
    format_duration,
    format_time,
    render_text_gantt,
    to_seconds,
    to_timestamp,
)
from enoslib.objects import Networks, Roles

__all__ = ["Providers", "SlotPlan", "find_slot", "find_slot_and_start", "plan_slot",
           "reservation_length", "start_provider_within_bounds"]

logger = logging.getLogger(__name__)

DEFAULT_TIME_WINDOW = 7200.0
"""Seconds during which a start is looked for when ``time_window`` is not given (EnOSlib's)."""
DEFAULT_LEAD = 60.0
"""Without ``start_time``, the search starts this many seconds from now (EnOSlib's)."""
MIN_LOOKAHEAD = 86_400.0
"""At least this much beyond the window is asked for, to tell when the next common start is."""


# --------------------------------------------------------------------------------------------
# What a provider needs
# --------------------------------------------------------------------------------------------


def _walltime(provider: Provider) -> float | None:
    if provider.walltime_seconds is not None:
        return to_seconds(provider.walltime_seconds)
    raw = getattr(provider.provider_conf, "walltime", None)  # not every configuration has one
    if raw is None:
        return None
    if isinstance(raw, str):
        return float(walltime_to_seconds(raw))
    return to_seconds(raw)


def reservation_length(provider: Provider) -> float | None:
    """Seconds of free time ``provider`` needs for one reservation: its walltime plus its
    ``slot_margin``; None when it has no walltime (it holds its resources until destroyed)."""
    if isinstance(provider, Providers):
        lengths = [reservation_length(p) for p in provider]
        known = [x for x in lengths if x is not None]
        return max(known) if known else None
    walltime = _walltime(provider)
    if walltime is None:
        return None
    margin = to_seconds(provider.slot_margin or 0)
    if walltime <= 0 or margin < 0:
        raise EnosConfigError(f"{_name_of(provider)}: walltime {format_duration(walltime)} and slot_margin "
                              f"{format_duration(margin)} must be positive", rule="minimum")
    return walltime + margin


def _movable(provider: Provider) -> bool:
    return bool(provider.movable_reservation)


def _name_of(provider: Any) -> str:
    return str(getattr(provider, "name", None) or type(provider).__name__)


def _named(providers: Iterable[Provider] | Mapping[str, Provider]) -> dict[str, Provider]:
    """name -> provider, names made unique (``Static``, ``Static-2`` ...)."""
    if isinstance(providers, Mapping):
        return {str(k): v for k, v in providers.items()}
    out: dict[str, Provider] = {}
    for p in providers:
        base = _name_of(p)
        name, i = base, 1
        while name in out:
            i += 1
            name = f"{base}-{i}"
        out[name] = p
    return out


def _first_whole_second(starts: IntervalSet) -> float | None:
    """The earliest whole second of a start set (testbeds take dates to the second)."""
    for iv in starts:
        if math.isinf(iv.start):
            continue
        c = math.ceil(iv.start)
        if c == iv.start and not iv.closed_start:
            c += 1
        if iv.contains(c):
            return float(c)
    return None


def _as_set(value: Any) -> IntervalSet:
    return value if isinstance(value, IntervalSet) else IntervalSet(value)


# --------------------------------------------------------------------------------------------
# Threads: one call per provider, in parallel where the provider allows it
# --------------------------------------------------------------------------------------------


class _Workers:
    """Runs calls in daemon threads (so a stuck testbed call never blocks the interpreter's
    exit) and remembers which are still running, so a release can wait for them.

    Completion is tracked with our own events: after a ``Thread.join`` interrupted by Ctrl-C,
    CPython may report a thread that is still running as stopped."""

    def __init__(self) -> None:
        self.running: dict[str, threading.Event] = {}  # name -> set when its call returned

    def run(self, calls: Sequence[tuple[str, bool, Callable[[], Any]]]) -> dict[str, tuple[bool, Any]]:
        """``calls``: (name, may run in a thread, function). Returns name -> (ok, result or
        exception) in the order of ``calls``. Ctrl-C while waiting propagates (threads go on)."""
        outcomes: dict[str, tuple[bool, Any]] = {}

        def wrap(name: str, fn: Callable[[], Any], done: threading.Event | None = None) -> None:
            try:
                outcomes[name] = (True, fn())
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                outcomes[name] = (False, exc)
            finally:
                if done is not None:
                    done.set()

        threaded = [c for c in calls if c[1]] if len(calls) > 1 else []
        waiting = []
        for name, _, fn in threaded:
            done = threading.Event()
            self.running[name] = done
            threading.Thread(target=wrap, args=(name, fn, done), daemon=True, name=f"enoslib-{name}").start()
            waiting.append(done)
        for name, in_thread, fn in calls:
            if not (in_thread and threaded):
                wrap(name, fn)
        for done in waiting:
            while not done.wait(0.05):  # short waits: Ctrl-C is handled between them
                pass
        return {name: outcomes[name] for name, _, _ in calls}

    def alive(self) -> list[str]:
        return [name for name, done in self.running.items() if not done.is_set()]

    def join(self, names: Iterable[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for name in names:
            done = self.running.get(name)
            if done is not None:
                done.wait(max(0.0, deadline - time.monotonic()))


def _fetch_all(calls: Sequence[tuple[str, Callable[[], Any]]], what: str = "its availability") -> dict[str, Any]:
    """Run read-only calls (availability, is_created) in parallel; raise the first failure."""
    outcomes = _Workers().run([(n, True, fn) for n, fn in calls])
    for name, (ok, value) in outcomes.items():
        if not ok:
            if isinstance(value, Exception) and hasattr(value, "add_note"):
                value.add_note(f"while asking provider {name!r} for {what}")
            raise value
    return {name: value for name, (_, value) in outcomes.items()}


def _worst(errors: Mapping[str, BaseException]) -> BaseException:
    """The error to raise among several: Ctrl-C first, then the first one; the others noted."""
    ranked = sorted(errors.items(), key=lambda kv: isinstance(kv[1], Exception))
    name, chosen = ranked[0]
    if hasattr(chosen, "add_note"):
        chosen.add_note(f"raised by provider {name!r}")
        for other, exc in ranked[1:]:
            chosen.add_note(f"provider {other!r} failed too: {type(exc).__name__}: {exc}")
    return chosen


# --------------------------------------------------------------------------------------------
# The search
# --------------------------------------------------------------------------------------------


@dataclass
class SlotPlan:
    """The result of one search: the common start (or None) and what each provider said.

    ``window``: the allowed starts ``[start, start + time_window]``; ``horizon``: how far the
    start sets were computed (the window plus the lookahead); ``lengths``: each provider's
    reservation length (walltime + margin, None if unbounded); ``free``: each provider's
    availability as answered (None for providers asked through ``start_times``);
    ``starts``: each provider's feasible start times within the horizon; ``resources``: for
    providers with ``availability_by_resource``, the start set of each of their resources.
    """

    start: float | None
    window: Interval
    horizon: Interval
    lengths: dict[str, float | None]
    free: dict[str, IntervalSet | None]
    starts: dict[str, IntervalSet]
    resources: dict[str, dict[str, IntervalSet]] = field(default_factory=dict)

    @property
    def common(self) -> IntervalSet:
        """Start times suiting every provider, within the horizon."""
        return IntervalSet([self.horizon]).intersection(*self.starts.values())

    @property
    def next_possible(self) -> float | None:
        """The earliest common whole-second start in the horizon (the window or after)."""
        return _first_whole_second(self.common)

    def earliest(self, name: str) -> float | None:
        """The earliest start in the window suiting provider ``name`` alone."""
        return _first_whole_second(self.starts[name].clip(self.window))

    def blocking_resources(self, name: str) -> list[str]:
        """The resources of provider ``name`` with no feasible start at all in the window."""
        return [r for r, starts in self.resources.get(name, {}).items() if not starts.clip(self.window)]

    def error(self, prefix: str = "") -> NoSlotError:
        """A :class:`NoSlotError` explaining which provider (and resource, when the provider
        details them) blocks, and when everything would fit. ``blocking_resources`` is set on
        it: provider -> its resources that never fit in the window."""
        w0, w1 = self.window.start, self.window.end
        # start sets are closed-ended: [w0, w1] is the starts [t, t+1) inside [w0, w1 + 1)
        probe = explain_no_slot(self.starts, 1, Interval(w0, w1 + 1)) if self.starts else None
        blocking = list(probe.blocking) if probe is not None else []
        details, culprits = [], {}
        for name in self.starts:
            length = self.lengths.get(name)
            need = f"{format_duration(length)} reservation" if length else "start (no walltime)"
            first = self.earliest(name)
            alone = f"alone from {format_time(first)}" if first is not None else "no fit in the window"
            stuck = self.blocking_resources(name)
            if stuck:
                culprits[name] = stuck
                alone += f" ({', '.join(repr(r) for r in stuck)} never free long enough)"
            details.append(f"{name!r} ({need}): {alone}")
        nxt = self.next_possible
        later = (f"next possible common start: {format_time(nxt)}" if nxt is not None
                 else f"no common start before {format_time(self.horizon.end)} either")
        names = ", ".join(repr(n) for n in self.starts)
        message = (f"{prefix}no common slot for {names} with a start between {format_time(w0)} and "
                   f"{format_time(w1)} (window {format_duration(w1 - w0)}): "
                   f"blocked by {', '.join(repr(b) for b in blocking) or 'nothing known'}; "
                   f"{'; '.join(details)}; {later}")
        error = NoSlotError(message, blocking=blocking, next_possible=nxt)
        error.blocking_resources = culprits  # type: ignore[attr-defined]
        return error

    def gantt(self, width: int = 100) -> str:
        """A text Gantt chart of the availabilities, start sets and the common start."""
        rows: dict[str, IntervalSet] = {}
        for name in self.starts:
            free = self.free.get(name)
            if free is not None:
                rows[f"{name} free"] = free
            rows[f"{name} starts"] = self.starts[name]
        rows["common starts"] = self.common
        if self.start is not None:
            rows["chosen"] = IntervalSet([Interval.point(self.start)])
        ends = [span.end for f in self.free.values() if f is not None and (span := f.span()) is not None]
        return render_text_gantt(rows, Interval(self.window.start, max([self.horizon.end, *ends])), width=width)


@dataclass
class _Answer:
    free: IntervalSet | None
    starts: IntervalSet
    resources: dict[str, IntervalSet]


def _start_sets(providers: Mapping[str, Provider], start: float, end: float
                ) -> tuple[dict[str, float | None], dict[str, _Answer]]:
    """Each provider's start times in ``[start, end]``, from ONE availability request each."""
    lengths = {n: reservation_length(p) for n, p in providers.items()}
    known = [x for x in lengths.values() if x is not None]
    reference = max(known) if known else None
    starts_window = Interval.closed(start, end)

    def one(name: str, p: Provider) -> _Answer:
        exact = p.start_times(start, end)
        if exact is not None:
            return _Answer(None, _as_set(exact).clip(starts_window), {})
        length = lengths[name] if lengths[name] is not None else reference
        query = Interval(start, end + (length or 1.0))

        def starts_of(free: IntervalSet) -> IntervalSet:
            return (free.windows_of_length(length) if length else free).clip(starts_window)

        by_resource = p.availability_by_resource(query.start, query.end)
        if by_resource is not None:
            parts = {str(r): _as_set(f).clip(query) for r, f in by_resource.items()}
            free = IntervalSet([query]).intersection(*parts.values())
            return _Answer(free, starts_of(free), {r: starts_of(f) for r, f in parts.items()})
        free = _as_set(p.availability(query.start, query.end)).clip(query)
        return _Answer(free, starts_of(free), {})

    answers = _fetch_all([(n, functools.partial(one, n, p)) for n, p in providers.items()])
    return lengths, answers


def plan_slot(providers: Iterable[Provider] | Mapping[str, Provider], start_time: Time,
              time_window: float | timedelta, *, lookahead: float | None = None) -> SlotPlan:
    """Search the earliest common start in ``[start_time, start_time + time_window]``.

    Each provider is asked for its availability exactly once (in parallel). The start is
    ``None`` when nothing fits; :meth:`SlotPlan.error` then explains why.
    """
    named = _named(providers)
    s = to_timestamp(start_time)
    w = to_seconds(time_window)
    if w < 0:
        raise ValueError(f"time_window must not be negative, got {format_duration(w)}")
    ahead = max(w, MIN_LOOKAHEAD) if lookahead is None else to_seconds(lookahead)
    window = Interval.closed(s, s + w)
    horizon = Interval.closed(s, s + w + ahead)
    lengths, answers = _start_sets(named, horizon.start, horizon.end)
    starts = {n: a.starts for n, a in answers.items()}
    common = IntervalSet([window]).intersection(*starts.values())
    return SlotPlan(_first_whole_second(common), window, horizon, lengths, {n: a.free for n, a in answers.items()},
                    starts, {n: a.resources for n, a in answers.items() if a.resources})


def find_slot(providers: Sequence[Provider] | Mapping[str, Provider], time_window: float | timedelta,
              start_time: Time) -> int:
    """The earliest whole second in ``[start_time, start_time + time_window]`` at which every
    provider can start its reservation (EnOSlib's name and argument order).

    Exact (no time step), and every provider's availability is fetched once.
    Raises :class:`~enoslib.errors.NoSlotError` naming the blocking providers and the next
    possible common start, and for a window that contains no start at all (negative
    ``time_window``), as EnOSlib does.
    """
    if to_seconds(time_window) < 0:
        raise NoSlotError(f"no start can be found in a negative time_window "
                          f"({format_duration(to_seconds(time_window))})")
    plan = plan_slot(providers, start_time, time_window)
    if plan.start is None:
        raise plan.error()
    logger.info("common start %s for %s", format_time(plan.start), ", ".join(plan.starts))
    return int(plan.start)


# --------------------------------------------------------------------------------------------
# The meta-provider
# --------------------------------------------------------------------------------------------


class _Refused(Exception):
    def __init__(self, refusals: dict[str, InvalidReservationTime]) -> None:
        super().__init__("refused")
        self.refusals = refusals

    @property
    def hint(self) -> float | None:
        hints = [e.next_time for e in self.refusals.values() if e.next_time is not None]
        return max(hints) if hints else None


class Providers(Provider):
    """Several providers started at a common time, released together (see the module doc).

    ``providers``: a list (names from ``provider.name``, made unique) or a mapping name ->
    provider. ``clock``: the time source for the default start (``time.time``; an emulator's
    clock in tests).

    ``max_attempts``: searches before giving up when testbeds keep refusing.
    ``replan_step``: seconds to move on when a testbed refuses without a usable hint.
    ``release_timeout``: seconds a release waits for providers still reserving in their thread.
    ``lookahead``: seconds asked beyond the window, to say when the next common start is.
    (The last four are class attributes; set them on an instance to change them.)
    """

    max_attempts = 10
    replan_step = 60.0
    release_timeout = 60.0
    lookahead: float | None = None  # seconds asked beyond the window (None: the window, 1 day at least)
    concurrent_init = True

    def __init__(self, providers: Sequence[Provider] | Mapping[str, Provider], name: str | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._by_name = _named(providers)
        if not self._by_name:
            raise EnosConfigError("Providers needs at least one provider", rule="minItems")
        for n, p in self._by_name.items():
            if not isinstance(p, Provider):
                raise EnosConfigError(f"Providers: {n!r} is a {type(p).__name__}, not a Provider", rule="type")
        self.provider_conf = None  # type: ignore[assignment]
        self.name = name or "-".join(self._by_name)
        self.clock = clock
        self.providers = list(self._by_name.values())
        self.roles_by_provider: dict[str, Roles] = {}
        self.networks_by_provider: dict[str, Networks] = {}
        self.roles: Roles = Roles()
        self.networks: Networks = Networks()
        self.start_time: float | None = None  # the common start of the current reservation
        self.last_plan: SlotPlan | None = None
        self._ledger: dict[str, Provider] = {}  # started by this object and maybe still holding
        self._lock = threading.Lock()
        self._workers = _Workers()
        self._imposed: float | None = None  # set_reservation(): the next init starts exactly then
        self._reserved_at: float | None = None  # every provider reserved at this time

    # -- the collection -----------------------------------------------------------------------
    def __iter__(self) -> Iterator[Provider]:
        return iter(self.providers)

    def __len__(self) -> int:
        return len(self.providers)

    def __getitem__(self, name: str) -> Provider:
        return self._by_name[name]

    @property
    def names(self) -> list[str]:
        return list(self._by_name)

    @property
    def started(self) -> list[str]:
        """Providers this object asked to reserve and has not released yet."""
        with self._lock:
            return list(self._ledger)

    @property
    def movable_reservation(self) -> bool:  # type: ignore[override]
        return all(_movable(p) for p in self.providers)

    # -- lifecycle ----------------------------------------------------------------------------
    def init(self, force_deploy: bool = False, start_time: Time | None = None,
             time_window: float | timedelta | None = None, **kwargs: Any) -> tuple[Roles, Networks]:
        """Find the earliest common start, reserve everything then, wait, return the merged
        ``(roles, networks)``.

        ``start_time``: the first start considered (default: now + 1 minute); ``time_window``:
        seconds (or a timedelta) during which a start is looked for (default: 2 hours).
        Other keyword arguments go to every provider's ``async_init`` and ``init``.
        Raises :class:`~enoslib.errors.NoSlotError` when nothing fits (nothing stays reserved).
        """
        reload, todo = self._split()
        if todo:
            self._reserve(todo, start_time, time_window, kwargs)
        t = self._reserved_at
        calls = []
        for name in self._by_name:
            p = self._by_name[name]
            at = t if name in todo or name in self.started else None
            calls.append((name, self._concurrent(p),
                          lambda p=p, at=at: p.init(force_deploy=force_deploy, start_time=at, **kwargs)))
        results = self._run_or_release(calls)
        failures = {n: v for n, (ok, v) in results.items() if not ok}
        if failures:
            self._release_started()
            raise _worst(failures)
        self._merge({n: v for n, (_, v) in results.items()})
        if reload:
            logger.info("reloaded %s", ", ".join(reload))
        return self.roles, self.networks

    def async_init(self, start_time: Time | None = None, time_window: float | timedelta | None = None,
                   **kwargs: Any) -> None:
        """Search and reserve without waiting for the resources (the first half of ``init``)."""
        _, todo = self._split()
        if todo:
            self._reserve(todo, start_time, time_window, kwargs)

    def destroy(self, wait: bool = False, **kwargs: Any) -> None:
        """Release every provider (each by what it recorded, or by name), even if some fail;
        the failure (or one error naming all of them) is raised at the end."""
        errors: dict[str, BaseException] = {}
        with sigint_deferred():
            for name, p in self._by_name.items():
                try:
                    p.destroy(wait=wait, **kwargs)
                except BaseException as exc:  # noqa: BLE001 - release the others first
                    logger.error("releasing %s failed: %s", name, exc)
                    errors[name] = exc
                else:
                    with self._lock:
                        self._ledger.pop(name, None)
        self._imposed = self._reserved_at = self.start_time = None
        self.roles, self.networks = Roles(), Networks()
        self.roles_by_provider, self.networks_by_provider = {}, {}
        if len(errors) == 1:
            raise next(iter(errors.values()))
        if errors:
            raise EnosProviderError(
                "releasing failed for " + "; ".join(f"{n}: {type(e).__name__}: {e}" for n, e in errors.items())
                + " (their reservations may still be alive)") from next(iter(errors.values()))

    def is_created(self) -> bool:
        return all(p.is_created() for p in self.providers)

    # -- planning -----------------------------------------------------------------------------
    def availability(self, start: Time, end: Time) -> IntervalSet:
        """When every provider is free: the intersection of their availabilities (asked once
        each, in parallel). Conservative for providers of different walltimes; the meta-
        provider itself (and an enclosing one) uses the exact :meth:`start_times`."""
        s, e = to_timestamp(start), to_timestamp(end)
        free = _fetch_all([(n, functools.partial(p.availability, s, e)) for n, p in self._by_name.items()])
        return IntervalSet([Interval(s, e)]).intersection(*(_as_set(f) for f in free.values()))

    def start_times(self, start: Time, end: Time) -> IntervalSet:
        """The exact start times in ``[start, end]`` at which every provider can start (each
        with its own walltime); one availability request per provider."""
        s, e = to_timestamp(start), to_timestamp(end)
        _, answers = _start_sets(self._by_name, s, e)
        return IntervalSet([Interval.closed(s, e)]).intersection(*(a.starts for a in answers.values()))

    def test_slot(self, start_time: Time, end_time: Time) -> bool:
        return all(p.test_slot(start_time, end_time) for p in self.providers)

    def set_reservation(self, timestamp: Time) -> None:
        """The next ``init``/``async_init`` starts every provider exactly at ``timestamp``
        (no search); a refusal is raised as :class:`InvalidReservationTime` with the hint."""
        t = to_timestamp(timestamp)
        self._imposed = t
        for p in self.providers:
            p.set_reservation(t)

    def offset_walltime(self, offset: float) -> None:
        for p in self.providers:
            p.offset_walltime(offset)

    def plan(self, start_time: Time | None = None, time_window: float | timedelta | None = None) -> SlotPlan:
        """Search only (nothing is reserved): the :class:`SlotPlan` ``init`` would start from."""
        s, w = self._bounds(start_time, time_window)
        return plan_slot(self._by_name, s, w, lookahead=self.lookahead)

    # -- internals ------------------------------------------------------------------------------
    def _bounds(self, start_time: Time | None, time_window: float | timedelta | None) -> tuple[float, float]:
        s = math.ceil(self.clock()) + DEFAULT_LEAD if start_time is None else to_timestamp(start_time)
        w = DEFAULT_TIME_WINDOW if time_window is None else to_seconds(time_window)
        if w < 0:
            raise ValueError(f"time_window must not be negative, got {format_duration(w)}")
        return s, w

    @staticmethod
    def _concurrent(p: Provider) -> bool:
        return bool(p.concurrent_init)

    def _split(self) -> tuple[list[str], list[str]]:
        """(providers to reload as they are, providers to start)."""
        if self._reserved_at is not None:
            return list(self._by_name), []
        if self._imposed is not None:
            return [], list(self._by_name)
        created = _fetch_all([(n, p.is_created) for n, p in self._by_name.items()], "whether it is reserved")
        reload = [n for n, c in created.items() if c]
        todo = [n for n, c in created.items() if not c]
        if reload and todo:
            logger.warning("%s already reserved (reloaded as is); searching a slot for %s only: their "
                           "reservations may not start together (destroy() and init() again to align them)",
                           ", ".join(reload), ", ".join(todo))
        return reload, todo

    def _reserve(self, todo: list[str], start_time: Time | None, time_window: float | timedelta | None,
                 kwargs: dict[str, Any]) -> None:
        imposed = self._imposed
        if imposed is not None and time_window is None and (start_time is None or
                                                            to_timestamp(start_time) == imposed):
            t = imposed
            try:
                self._reserve_at(t, todo, kwargs)
            except _Refused as refused:
                self._release_started()
                raise InvalidReservationTime(
                    f"{', '.join(refused.refusals)} refused a start at {format_time(t)}",
                    next_time=refused.hint) from next(iter(refused.refusals.values()))
        else:
            t = self._search_and_reserve(todo, *self._bounds(start_time, time_window), kwargs)
        self._reserved_at = self.start_time = t

    def _search_and_reserve(self, todo: list[str], start: float, window: float, kwargs: dict[str, Any]) -> float:
        deadline = start + window
        subset = {n: self._by_name[n] for n in todo}
        history: list[str] = []
        refusers: list[str] = []
        for attempt in range(1, self.max_attempts + 1):
            try:
                plan = plan_slot(subset, start, deadline - start, lookahead=self.lookahead)
            except BaseException:
                self._release_started()
                raise
            self.last_plan = plan
            if plan.start is None:
                self._release_started()
                prefix = f"after {len(history)} refusal(s) ({'; '.join(history)}): " if history else ""
                raise plan.error(prefix)
            t = plan.start
            logger.info("common start %s for %s (attempt %d)", format_time(t), ", ".join(todo), attempt)
            logger.debug("slot search:\n%s", plan.gantt())
            try:
                self._reserve_at(t, todo, kwargs)
                return t
            except _Refused as refused:
                hint = refused.hint
                refusers += [n for n in refused.refusals if n not in refusers]
                history.append(f"{', '.join(refused.refusals)} refused {format_time(t)}"
                               + (f", hinting {format_time(hint)}" if hint is not None else ""))
                logger.info("testbed refusal: %s; searching again", history[-1])
                self._release_unmovable()
                start = hint if hint is not None and hint > t else t + self.replan_step
                if start > deadline:
                    self._release_started()
                    raise NoSlotError(
                        f"no common slot before {format_time(deadline)}: {'; '.join(history)}, which is "
                        "after the end of the window", blocking=list(refused.refusals), next_possible=hint
                    ) from next(iter(refused.refusals.values()))
        self._release_started()
        raise NoSlotError(f"gave up after {self.max_attempts} refused reservations: {'; '.join(history)}",
                          blocking=refusers)

    def _reserve_at(self, t: float, names: list[str], kwargs: dict[str, Any]) -> None:
        """Every provider of ``names`` reserves at ``t``. Raises _Refused (what reserved stays)
        or, after releasing everything started, any other failure."""
        calls = []
        for name in names:
            p = self._by_name[name]
            with self._lock:
                self._ledger[name] = p  # recorded BEFORE it may reserve anything

            def reserve(p: Provider = p) -> None:
                p.set_reservation(t)
                p.async_init(start_time=t, **kwargs)

            calls.append((name, self._concurrent(p), reserve))
        outcomes = self._run_or_release(calls)
        failures = {n: v for n, (ok, v) in outcomes.items() if not ok}
        refusals = {n: e for n, e in failures.items() if isinstance(e, InvalidReservationTime)}
        others = {n: e for n, e in failures.items() if n not in refusals}
        if others:
            self._release_started()
            raise _worst(others)
        if refusals:
            raise _Refused(refusals)  # type: ignore[arg-type]

    def _run_or_release(self, calls: Sequence[tuple[str, bool, Callable[[], Any]]]) -> dict[str, tuple[bool, Any]]:
        try:
            return self._workers.run(calls)
        except BaseException:  # Ctrl-C while waiting for the workers
            self._release_started()
            raise

    def _destroy_each(self, names: list[str]) -> dict[str, BaseException]:
        errors: dict[str, BaseException] = {}
        for name in names:
            p = self._by_name[name]
            try:
                p.destroy()
            except BaseException as exc:  # noqa: BLE001 - keep releasing
                logger.error("releasing %s failed: %s", name, exc)
                errors[name] = exc
            else:
                with self._lock:
                    self._ledger.pop(name, None)
        return errors

    def _release_started(self) -> None:
        """Release everything this object started (after a failure or Ctrl-C). Providers still
        reserving in their thread are released again once their thread ends."""
        with sigint_deferred():
            busy = [n for n in self._workers.alive() if n in self._ledger]
            names = self.started
            if names:
                logger.warning("releasing %s", ", ".join(names))
            errors = self._destroy_each(names)
            if busy:
                self._workers.join(busy, self.release_timeout)
                still = self._workers.alive()
                if still:
                    logger.error("%s still reserving after %.0fs; releasing them anyway", ", ".join(still),
                                 self.release_timeout)
                errors.update(self._destroy_each(busy))
            self._reserved_at = self.start_time = self._imposed = None
        if errors:
            logger.error("could not release %s: their reservations may still be alive",
                         ", ".join(f"{n} ({e})" for n, e in errors.items()))

    def _release_unmovable(self) -> None:
        unmovable = [n for n in self.started if not _movable(self._by_name[n])]
        errors = self._destroy_each(unmovable)
        if errors:
            self._release_started()
            raise _worst(errors)

    def _merge(self, results: Mapping[str, tuple[Roles, Networks]]) -> None:
        roles, networks = Roles(), Networks()
        self.roles_by_provider, self.networks_by_provider = {}, {}
        for name, (r, n) in results.items():
            self.roles_by_provider[name], self.networks_by_provider[name] = r, n
            for role, hosts in r.items():
                roles.extend(role, hosts)
            for role, nets in n.items():
                networks.extend(role, nets)
        for name in results:
            for merged, own in ((roles, self.roles_by_provider[name]), (networks, self.networks_by_provider[name])):
                if name in merged:
                    logger.warning("provider %r also names a role: roles_by_provider[%r] has its own", name, name)
                elif len(own):
                    merged[name] = own.all()
        self.roles, self.networks = roles, networks

    def __repr__(self) -> str:
        return f"Providers({', '.join(f'{n}={type(p).__name__}' for n, p in self._by_name.items())})"

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{n}: {type(p).__name__}</li>" for n, p in self._by_name.items())
        return f"<b>Providers</b> {self.name}<ul>{items}</ul>"


# --------------------------------------------------------------------------------------------
# EnOSlib's helpers, by name
# --------------------------------------------------------------------------------------------


def start_provider_within_bounds(provider: Provider, start_time: Time, *, clock: Callable[[], float] = time.time,
                                 retries: int = 3, **kwargs: Any) -> float:
    """Reserve ``provider`` (``async_init``) at ``start_time``, or as soon after as it is in the
    future, keeping the reservation's end: the walltime is shortened by the delay.

    A start in the past is moved to ``now + 1 min`` (then +4 min, +9 min on the next tries,
    if the testbed still finds it too old). Returns the start used. Raises
    :class:`~enoslib.errors.NoSlotError` when the walltime would vanish or after ``retries``
    "too old" refusals; other errors (e.g. :class:`InvalidReservationTime`) propagate.
    """
    start = to_timestamp(start_time)
    for attempt in range(1, retries + 1):
        candidate = float(max(start, math.ceil(clock()) + 60 * attempt ** 2))
        if candidate > start:
            too_short = NoSlotError(f"{_name_of(provider)}: starting at {format_time(candidate)} instead of "
                                    f"{format_time(start)} leaves no walltime", blocking=[_name_of(provider)])
            walltime = _walltime(provider)
            if walltime is not None and walltime - (candidate - start) <= 0:
                raise too_short
            try:
                provider.offset_walltime(start - candidate)
            except (EnosConfigError, ValueError) as exc:
                raise too_short from exc
            start = candidate
        try:
            provider.set_reservation(start)
            provider.async_init(start_time=start, **kwargs)
            return start
        except InvalidReservationTooOld:
            logger.info("%s: %s is already past for the testbed; retrying later", _name_of(provider),
                        format_time(start))
    raise NoSlotError(f"{_name_of(provider)}: the start kept being in the past after {retries} tries",
                      blocking=[_name_of(provider)])


def find_slot_and_start(providers: Sequence[Provider] | Mapping[str, Provider], start_time: Time,
                        time_window: float | timedelta, **kwargs: Any) -> float | None:
    """Find the earliest common start and reserve every provider not reserved yet at it
    (EnOSlib's name). Returns the start, or None when every provider was already reserved.

    All or nothing: if a provider fails, every reservation made here is released. A testbed's
    refusal is raised as :class:`InvalidReservationTime` whose ``next_time`` is the hint to
    search again from; :class:`NoSlotError` when nothing fits in the window.
    """
    named = _named(providers)
    todo = {n: p for n, p in named.items() if not p.is_created()}
    if not todo:
        return None
    group = Providers(todo)
    start, window = to_timestamp(start_time), to_seconds(time_window)
    plan = plan_slot(todo, start, window)
    group.last_plan = plan
    if plan.start is None:
        raise plan.error()
    try:
        group._reserve_at(plan.start, list(todo), kwargs)
    except _Refused as refused:
        group._release_started()
        raise InvalidReservationTime(f"{', '.join(refused.refusals)} refused a start at {format_time(plan.start)}",
                                     next_time=refused.hint) from next(iter(refused.refusals.values()))
    return plan.start
