"""Interval algebra for reservation planning.

Pure, typed, standard library only, no I/O. The meta-provider uses it to find the *exact*
earliest start common to several testbeds: every computation works on the breakpoints of the
schedules (where a reservation starts or ends), never on a fixed time step, so a free gap of the
right length is always found, however short, and a gap one second too short is never used.

Vocabulary
----------
- A *time* is a POSIX timestamp in seconds (``int`` or ``float``) or a timezone-aware
  :class:`~datetime.datetime`; everything is normalised to ``float`` on the way in. Naive
  datetimes are refused: they silently mean "local time of this machine", a classic source of
  reservations shifted by an hour or two.
- A *duration* is seconds (``int``/``float``) or a :class:`~datetime.timedelta`.
- :class:`Interval` is a span of time, half-open ``[start, end)`` by default, which is what a
  reservation occupies: a job on ``[10:00, 12:00)`` leaves the machine free at 12:00 sharp.
- :class:`IntervalSet` is a finite union of intervals, kept normalised (sorted, disjoint, merged),
  immutable, with the set operations. It is used for two different things:

  * *occupancy*: when something is free (or busy), e.g. ``free = window_set.minus_busy(jobs)``;
  * *start sets*: the start times from which a reservation of a given duration fits, e.g.
    ``free.windows_of_length(hours(2))``. A free interval ``[s, e)`` yields the starts
    ``[s, e - duration]``: closed on the right because starting exactly at ``e - duration``
    still fits. A free gap exactly as long as the reservation yields a single instant.

  Because start sets have closed ends (and single instants), intervals may be open or closed
  at each end. The set operations are exact for every combination (each set is a finite union
  of intervals of any kind, which is closed under union, intersection and complement).
- :class:`CapacityTimeline` is the number of free units of a resource over time (a step function)
  given its capacity and the busy reservations; :meth:`CapacityTimeline.fits` gives the start
  set for a demand of ``n`` units during ``duration``.
- :func:`earliest_common_start` intersects the start sets of several providers/resources;
  :func:`find_common_start` does the same and raises :class:`NoSlotError` explaining what blocks.
- :func:`render_text_gantt` draws interval sets as text, for terminals and logs.

Exactness: comparisons are exact and there is no time step. The only time arithmetic is the
last start of a window, ``end - duration``: exact for whole seconds (or halves, quarters...) at
POSIX magnitudes, and otherwise rounded down to the last float ``t`` with ``t + duration <= end``
exactly. :meth:`IntervalSet.shift` adds its delta in floating point. Capacities are summed
exactly.

Example::

    >>> window = Interval(0, 86_400)
    >>> g5k = CapacityTimeline(4, [(0, 3_600, 4), (7_200, 10_800, 2)])
    >>> iotlab = IntervalSet([(0, 6_000)]).windows_of_length(1_800)
    >>> earliest_common_start({"g5k": g5k.fits(3, 1_800, window), "iotlab": iotlab},
    ...                       1_800, window)
    3600.0
"""

from __future__ import annotations

import math
import numbers
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from typing import Union

from enoslib.errors import NoSlotError

__all__ = [
    "CapacityTimeline",
    "Demands",
    "DurationLike",
    "Interval",
    "IntervalLike",
    "IntervalSet",
    "NoSlotError",
    "Reservation",
    "ReservationLike",
    "TimeLike",
    "earliest_common_start",
    "explain_no_slot",
    "find_common_start",
    "format_duration",
    "format_time",
    "render_text_gantt",
    "to_seconds",
    "to_timestamp",
]

TimeLike = float | int | datetime
"""A POSIX timestamp in seconds, or a timezone-aware datetime."""

DurationLike = float | int | timedelta
"""A number of seconds, or a timedelta."""

IntervalLike = Union["Interval", tuple[TimeLike, TimeLike]]
"""An :class:`Interval`, or a ``(start, end)`` pair meaning ``[start, end)``."""

_INF = math.inf

# --------------------------------------------------------------------------------------------
# Boundary conversions and formatting
# --------------------------------------------------------------------------------------------


def to_timestamp(value: TimeLike) -> float:
    """Return ``value`` as POSIX seconds (float).

    Accepts real numbers (not ``bool``, not NaN; +/-infinity are allowed for unbounded
    intervals) and timezone-aware datetimes. Naive datetimes raise :class:`ValueError`.
    """
    if type(value) is float:  # fast paths: exact types, no ABC check
        if math.isnan(value):
            raise ValueError("a time cannot be NaN")
        return value
    if type(value) is int:
        return float(value)
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} is ambiguous (local time of which machine?):"
                " give it a timezone, e.g. value.replace(tzinfo=datetime.timezone.utc)"
            )
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            "a time must be POSIX seconds (int or float) or a timezone-aware datetime,"
            f" got {type(value).__name__}: {value!r}"
        )
    seconds = float(value)
    if math.isnan(seconds):
        raise ValueError("a time cannot be NaN")
    return seconds


def to_seconds(value: DurationLike) -> float:
    """Return a duration as seconds (float); accepts real numbers and timedeltas."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"a duration must be seconds (int or float) or a timedelta,"
            f" got {type(value).__name__}: {value!r}"
        )
    seconds = float(value)
    if math.isnan(seconds):
        raise ValueError("a duration cannot be NaN")
    return seconds


# ASCII digits only: str.isdigit() also takes full-width digits and "²", which float() refuses
_CLOCK_FIELD = re.compile(r"[0-9]+\.?[0-9]*|\.[0-9]+")


def clock_to_seconds(text: str) -> float | None:
    """``"1:30:00"`` -> 5400.0, ``"90:00"`` -> 5400.0, ``"45"`` -> 45.0 (decimals allowed);
    None when ``text`` is not of the form ``[[H:]MM:]SS``."""
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3 or not all(_CLOCK_FIELD.fullmatch(p.strip()) for p in parts):
        return None
    seconds = 0.0
    for p in parts:
        seconds = seconds * 60 + float(p)
    return seconds


def _positive_duration(value: DurationLike, what: str = "duration") -> float:
    seconds = to_seconds(value)
    if not seconds > 0:
        raise ValueError(f"{what} must be positive, got {format_duration(seconds)}")
    return seconds


def format_time(t: float) -> str:
    """Format a time for humans.

    Values from 1973 on (``abs(t) >= 1e8``) are shown as ISO 8601 UTC (``2024-01-01T10:00:00Z``);
    smaller values, as met in tests and relative schedules, are shown as plain numbers.
    """
    if math.isinf(t):
        return "-inf" if t < 0 else "inf"
    if abs(t) >= 1e8:
        try:
            moment = datetime.fromtimestamp(t, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return repr(t)
        text = moment.strftime("%Y-%m-%dT%H:%M:%S")
        if moment.microsecond:
            text += f".{moment.microsecond:06d}".rstrip("0")
        return text + "Z"
    return str(int(t)) if float(t).is_integer() else repr(float(t))


def format_duration(seconds: float) -> str:
    """Format a duration for humans: ``45s``, ``1h05m00s``, ``2d03h00m00s``."""
    if math.isinf(seconds):
        return "inf" if seconds > 0 else "-inf"
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds < 60:
        return f"{seconds:g}s"
    whole = int(seconds)
    fraction = seconds - whole
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    sec_text = f"{secs:02d}" if not fraction else f"{secs + fraction:06.3f}".rstrip("0").rstrip(".")
    text = (
        f"{hours:02d}h{minutes:02d}m{sec_text}s" if days else f"{hours}h{minutes:02d}m{sec_text}s"
    )
    if days:
        return f"{days}d{text}"
    return text if hours else f"{minutes}m{sec_text}s"


# --------------------------------------------------------------------------------------------
# Cuts: positions between real numbers, the internal representation of interval ends.
# (x, _BEFORE) sits just before x, (x, _AFTER) just after it; a time t is probed as (t, _AT).
# [a, b) runs from (a, _BEFORE) to (b, _BEFORE); [a, b] from (a, _BEFORE) to (b, _AFTER); ...
# Ordering cuts as tuples orders them on the line, and every set operation is a sweep over them.
# --------------------------------------------------------------------------------------------

_BEFORE, _AT, _AFTER = 0, 1, 2
_Cut = tuple[float, int]


class Interval:
    """A non-empty span of time, ``[start, end)`` by default. Immutable and hashable.

    ``closed_start`` / ``closed_end`` choose whether each end belongs to the interval; infinite
    ends are always open. ``start < end`` is required, except for a single instant
    (``start == end`` with both ends closed, see :meth:`point`).

    >>> Interval(0, 3600).duration
    3600.0
    >>> str(Interval.closed(10, 20))
    '[10, 20]'
    """

    __slots__ = ("_closed_end", "_closed_start", "_end", "_start")

    _start: float
    _end: float
    _closed_start: bool
    _closed_end: bool

    def __init__(
        self,
        start: TimeLike,
        end: TimeLike,
        *,
        closed_start: bool = True,
        closed_end: bool = False,
    ) -> None:
        s = to_timestamp(start)
        e = to_timestamp(end)
        closed_start = bool(closed_start) and not math.isinf(s)
        closed_end = bool(closed_end) and not math.isinf(e)
        if not (s < e or (s == e and closed_start and closed_end)):
            if s == e:
                raise ValueError(
                    f"empty interval: start and end are both {format_time(s)}; an interval needs"
                    " start < end (a single instant is Interval.point(t))"
                )
            raise ValueError(
                f"interval start {format_time(s)} is after its end {format_time(e)}"
                f" (by {format_duration(s - e)}); an interval needs start < end"
            )
        object.__setattr__(self, "_start", s)
        object.__setattr__(self, "_end", e)
        object.__setattr__(self, "_closed_start", closed_start)
        object.__setattr__(self, "_closed_end", closed_end)

    @classmethod
    def _trusted(cls, start: float, end: float, closed_start: bool, closed_end: bool) -> Interval:
        """Build without validation, for ends known to be valid floats (internal fast path)."""
        interval = object.__new__(cls)
        object.__setattr__(interval, "_start", start)
        object.__setattr__(interval, "_end", end)
        object.__setattr__(interval, "_closed_start", closed_start and start != -_INF)
        object.__setattr__(interval, "_closed_end", closed_end and end != _INF)
        return interval

    @classmethod
    def point(cls, t: TimeLike) -> Interval:
        """The single instant ``[t, t]``."""
        return cls(t, t, closed_start=True, closed_end=True)

    @classmethod
    def closed(cls, start: TimeLike, end: TimeLike) -> Interval:
        """The closed interval ``[start, end]`` (``start <= end``)."""
        return cls(start, end, closed_start=True, closed_end=True)

    @classmethod
    def starting_at(cls, start: TimeLike, duration: DurationLike) -> Interval:
        """``[start, start + duration)``: what a reservation of ``duration`` occupies."""
        s = to_timestamp(start)
        return cls(s, s + _positive_duration(duration))

    # -- attributes ----------------------------------------------------------------------------
    @property
    def start(self) -> float:
        return self._start

    @property
    def end(self) -> float:
        return self._end

    @property
    def closed_start(self) -> bool:
        return self._closed_start

    @property
    def closed_end(self) -> bool:
        return self._closed_end

    @property
    def duration(self) -> float:
        """Length in seconds (0 for an instant, ``inf`` when unbounded)."""
        return self._end - self._start

    @property
    def is_point(self) -> bool:
        return self._start == self._end

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Interval is immutable (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Interval is immutable (cannot delete {name!r})")

    def __reduce__(self) -> tuple[object, ...]:
        return (_make_interval, (self._start, self._end, self._closed_start, self._closed_end))

    def _cuts(self) -> tuple[_Cut, _Cut]:
        return (
            (self._start, _BEFORE if self._closed_start else _AFTER),
            (self._end, _AFTER if self._closed_end else _BEFORE),
        )

    # -- queries ---------------------------------------------------------------------------------
    def contains(self, t: TimeLike) -> bool:
        """Whether the time ``t`` belongs to the interval (respecting open/closed ends)."""
        start_cut, end_cut = self._cuts()
        return start_cut < (to_timestamp(t), _AT) < end_cut

    def covers(self, other: Interval) -> bool:
        """Whether ``other`` lies entirely inside this interval."""
        start_cut, end_cut = self._cuts()
        other_start, other_end = other._cuts()
        return start_cut <= other_start and other_end <= end_cut

    def overlaps(self, other: Interval) -> bool:
        """Whether the two intervals share at least one instant.

        ``[0, 5)`` and ``[5, 10)`` do not overlap: back-to-back reservations are compatible.
        """
        a_start, a_end = self._cuts()
        b_start, b_end = other._cuts()
        return max(a_start, b_start) < min(a_end, b_end)

    def intersection(self, other: Interval) -> Interval | None:
        """The common part of two intervals, or ``None``."""
        a_start, a_end = self._cuts()
        b_start, b_end = other._cuts()
        start, end = max(a_start, b_start), min(a_end, b_end)
        return _interval_from_cuts(start, end) if start < end else None

    def shift(self, delta: DurationLike) -> Interval:
        """The same interval moved by ``delta`` seconds (may be negative)."""
        d = to_seconds(delta)
        return Interval(
            self._start + d,
            self._end + d,
            closed_start=self._closed_start,
            closed_end=self._closed_end,
        )

    # -- dunder ----------------------------------------------------------------------------------
    def _key(self) -> tuple[float, float, bool, bool]:
        return (self._start, self._end, self._closed_start, self._closed_end)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Interval):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        flags = ""
        if not self._closed_start and not math.isinf(self._start):
            flags += ", closed_start=False"
        if self._closed_end:
            flags += ", closed_end=True"
        return f"Interval({self._start!r}, {self._end!r}{flags})"

    def __str__(self) -> str:
        left = "[" if self._closed_start else "("
        right = "]" if self._closed_end else ")"
        return f"{left}{format_time(self._start)}, {format_time(self._end)}{right}"


def _make_interval(start: float, end: float, closed_start: bool, closed_end: bool) -> Interval:
    return Interval(start, end, closed_start=closed_start, closed_end=closed_end)


def _interval_from_cuts(start: _Cut, end: _Cut) -> Interval:
    """The interval between two cuts; the caller guarantees ``start < end``."""
    return Interval._trusted(start[0], end[0], start[1] == _BEFORE, end[1] == _AFTER)


def _as_interval(item: IntervalLike) -> Interval:
    if isinstance(item, Interval):
        return item
    if isinstance(item, tuple) and len(item) == 2:
        return Interval(item[0], item[1])
    raise TypeError(f"expected an Interval or a (start, end) pair, got {item!r}")


# --------------------------------------------------------------------------------------------
# IntervalSet
# --------------------------------------------------------------------------------------------


def _sweep(groups: Sequence[Iterable[Interval]], keep: Callable[[list[bool]], bool]) -> IntervalSet:
    """Combine groups of intervals: the result holds the times where ``keep(memberships)``.

    ``memberships[i]`` says whether the time is in some interval of group ``i`` (intervals of a
    group may overlap). Runs in O(n log n) over all interval ends.
    """
    events: list[tuple[_Cut, int, int]] = []
    for index, group in enumerate(groups):
        for interval in group:
            start, end = interval._cuts()
            events.append((start, index, 1))
            events.append((end, index, -1))
    events.sort()
    counts = [0] * len(groups)
    state = [False] * len(groups)
    inside = keep(state)
    cuts: list[_Cut] = [(-_INF, _AFTER)] if inside else []
    i = 0
    while i < len(events):
        cut = events[i][0]
        while i < len(events) and events[i][0] == cut:
            _, index, delta = events[i]
            counts[index] += delta
            state[index] = counts[index] > 0
            i += 1
        now = keep(state)
        if now != inside:
            cuts.append(cut)
            inside = now
    if inside:
        cuts.append((_INF, _BEFORE))
    intervals = [
        _interval_from_cuts(cuts[k], cuts[k + 1])
        for k in range(0, len(cuts), 2)
        if cuts[k] < cuts[k + 1]
    ]
    return IntervalSet._from_normalised(intervals)


class IntervalSet:
    """A finite union of intervals, normalised (sorted, disjoint, merged) and immutable.

    Build it from :class:`Interval` objects or ``(start, end)`` pairs (meaning ``[start, end)``),
    in any order, overlapping or not::

        >>> free = IntervalSet([(0, 10), (5, 20), (30, 40)])
        >>> free
        IntervalSet([0, 20), [30, 40))
        >>> 15 in free, 20 in free
        (True, False)
        >>> free.earliest_fit(10, not_before=12)
        30.0

    Operators: ``|`` union, ``&`` intersection, ``-`` difference, ``^`` symmetric difference.
    Iterating yields the :class:`Interval` objects in time order; ``len()`` is their number;
    an empty set is falsy.
    """

    __slots__ = ("_intervals", "_starts")

    _intervals: tuple[Interval, ...]
    _starts: list[float]

    def __init__(self, intervals: Iterable[IntervalLike] = ()) -> None:
        if isinstance(intervals, IntervalSet):
            normalised: Sequence[Interval] = intervals._intervals
        else:
            items = [_as_interval(item) for item in intervals]
            normalised = _sweep([items], lambda state: state[0])._intervals if items else ()
        object.__setattr__(self, "_intervals", tuple(normalised))
        object.__setattr__(self, "_starts", [iv.start for iv in normalised])

    @classmethod
    def from_iterable(cls, intervals: Iterable[IntervalLike]) -> IntervalSet:
        """Same as the constructor: normalise any iterable of intervals or pairs."""
        return cls(intervals)

    @classmethod
    def _from_normalised(cls, intervals: Iterable[Interval]) -> IntervalSet:
        result = cls.__new__(cls)
        ordered = tuple(intervals)
        object.__setattr__(result, "_intervals", ordered)
        object.__setattr__(result, "_starts", [iv.start for iv in ordered])
        return result

    @classmethod
    def everything(cls) -> IntervalSet:
        """The whole time line, ``(-inf, inf)``."""
        return cls._from_normalised([Interval(-_INF, _INF)])

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"IntervalSet is immutable (cannot set {name!r})")

    def __reduce__(self) -> tuple[object, ...]:
        return (IntervalSet, (self._intervals,))

    # -- container protocol ----------------------------------------------------------------------
    @property
    def intervals(self) -> tuple[Interval, ...]:
        """The normalised intervals, in time order."""
        return self._intervals

    def __iter__(self) -> Iterator[Interval]:
        return iter(self._intervals)

    def __len__(self) -> int:
        return len(self._intervals)

    def __bool__(self) -> bool:
        return bool(self._intervals)

    @property
    def is_empty(self) -> bool:
        return not self._intervals

    def __contains__(self, t: object) -> bool:
        """Whether the time ``t`` is in the set (``O(log n)``)."""
        if isinstance(t, Interval):
            raise TypeError(
                "use IntervalSet.covers(interval) to test an interval, `in` takes a time"
            )
        moment = to_timestamp(t)  # type: ignore[arg-type]
        index = bisect_right(self._starts, moment) - 1
        return index >= 0 and self._intervals[index].contains(moment)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IntervalSet):
            return NotImplemented
        return self._intervals == other._intervals

    def __hash__(self) -> int:
        return hash(self._intervals)

    def __repr__(self) -> str:
        return f"IntervalSet({', '.join(str(iv) for iv in self._intervals)})"

    # -- set algebra -----------------------------------------------------------------------------
    def union(self, *others: IntervalSet | Iterable[IntervalLike]) -> IntervalSet:
        """Times in this set or in any of ``others``."""
        sets = [self, *(_as_set(o) for o in others)]
        return _sweep([s._intervals for s in sets], any)

    def intersection(self, *others: IntervalSet | Iterable[IntervalLike]) -> IntervalSet:
        """Times in this set and in every one of ``others``."""
        sets = [self, *(_as_set(o) for o in others)]
        return _sweep([s._intervals for s in sets], all)

    def difference(self, *others: IntervalSet | Iterable[IntervalLike]) -> IntervalSet:
        """Times in this set and in none of ``others``."""
        sets = [self, *(_as_set(o) for o in others)]
        return _sweep([s._intervals for s in sets], lambda st: st[0] and not any(st[1:]))

    def symmetric_difference(self, other: IntervalSet | Iterable[IntervalLike]) -> IntervalSet:
        """Times in exactly one of the two sets."""
        return _sweep([self._intervals, _as_set(other)._intervals], lambda st: st[0] != st[1])

    def complement(self, within: IntervalLike | None = None) -> IntervalSet:
        """Times of ``within`` (default: the whole time line) that are not in this set.

        The complement of the busy times within a search window is the free time.
        """
        universe = [_as_interval(within)] if within is not None else [Interval(-_INF, _INF)]
        return _sweep([universe, self._intervals], lambda st: st[0] and not st[1])

    def clip(self, within: IntervalLike) -> IntervalSet:
        """The part of this set inside ``within``."""
        return _sweep([self._intervals, [_as_interval(within)]], all)

    def minus_busy(self, busy: IntervalSet | Iterable[IntervalLike]) -> IntervalSet:
        """Free time left once the ``busy`` intervals (reservations, maintenance...) are removed."""
        return self.difference(busy)

    def covers(self, other: Interval | IntervalSet) -> bool:
        """Whether every instant of ``other`` is in this set."""
        other_set = IntervalSet._from_normalised([other]) if isinstance(other, Interval) else other
        return not other_set.difference(self)

    def shift(self, delta: DurationLike) -> IntervalSet:
        """The set moved in time by ``delta`` seconds (may be negative)."""
        return IntervalSet(iv.shift(delta) for iv in self._intervals)

    __or__ = union
    __and__ = intersection
    __sub__ = difference
    __xor__ = symmetric_difference

    # -- measures ---------------------------------------------------------------------------------
    def total(self) -> float:
        """Total covered time in seconds (``inf`` if unbounded)."""
        return math.fsum(iv.duration for iv in self._intervals)

    def span(self) -> Interval | None:
        """The smallest interval containing the whole set, or ``None`` if empty."""
        if not self._intervals:
            return None
        first, last = self._intervals[0], self._intervals[-1]
        return _interval_from_cuts(first._cuts()[0], last._cuts()[1])

    def earliest(self) -> float | None:
        """The earliest time in the set, ``None`` if empty, ``-inf`` if unbounded below.

        When the first interval is open at its start, the answer is the next float after it (the
        smallest time a computer can represent in the set).
        """
        for interval in self._intervals:
            if interval.closed_start or math.isinf(interval.start):
                return interval.start
            candidate = math.nextafter(interval.start, _INF)
            if interval.contains(candidate):
                return candidate
        return None

    # -- reservation planning ---------------------------------------------------------------------
    def windows_of_length(self, duration: DurationLike) -> IntervalSet:
        """Start times from which ``[t, t + duration)`` lies entirely in this set.

        Each interval ``[s, e)`` of the set gives the starts ``[s, e - duration]`` (a single
        instant when it is exactly ``duration`` long, nothing when shorter). Read as an
        occupancy set (free time), the result is the start set of a reservation.
        """
        length = _positive_duration(duration)
        starts: list[Interval] = []
        for interval in self._intervals:
            start_cut, _ = interval._cuts()
            last_cut: _Cut = (_last_start(interval.end, length), _AFTER)
            if start_cut < last_cut:
                starts.append(_interval_from_cuts(start_cut, last_cut))
        return IntervalSet._from_normalised(starts)

    def earliest_fit(
        self, duration: DurationLike, not_before: TimeLike | None = None
    ) -> float | None:
        """Earliest ``t >= not_before`` such that ``[t, t + duration)`` lies in this set.

        ``None`` when nothing fits. Exact: every free interval is considered whatever its length.
        """
        starts = self.windows_of_length(duration)
        if not_before is not None:
            starts = starts.clip(Interval(not_before, _INF))
        return starts.earliest()


def _last_start(end: float, length: float) -> float:
    """The largest float ``t`` with ``t + length <= end`` in exact (real) arithmetic.

    ``end - length`` is rounded to the nearest float, so it can exceed the true value by a unit
    in the last place; one step down then fixes it. Exact feasibility implies that the check
    ``t + length <= end`` done in floating point by a caller (or a testbed) passes too.
    """
    last = end - length
    if math.isinf(last) or math.isinf(end) or math.isinf(length):
        return last
    if end.is_integer() and length.is_integer() and max(abs(end), abs(length)) < 2**52:
        return last  # whole seconds: the subtraction is exact
    if Fraction(last) + Fraction(length) > Fraction(end):
        last = math.nextafter(last, -_INF)
    return last


def _as_set(value: IntervalSet | Iterable[IntervalLike]) -> IntervalSet:
    return value if isinstance(value, IntervalSet) else IntervalSet(value)


# --------------------------------------------------------------------------------------------
# Capacity timelines
# --------------------------------------------------------------------------------------------

_Exact = int | Fraction


def _exact_amount(value: float, what: str) -> _Exact:
    if type(value) is int:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number, got {type(value).__name__}: {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} must be finite, got {number!r}")
    # The decimal the float prints as, so that 0.1 + 0.2 + 0.7 units add up to exactly 1.
    return Fraction(repr(number))


class Reservation:
    """A busy reservation: ``amount`` units of a resource used during ``[start, end)``."""

    __slots__ = ("_amount", "_interval")

    _interval: Interval
    _amount: float

    def __init__(self, start: TimeLike, end: TimeLike, amount: float = 1) -> None:
        interval = Interval(start, end)
        exact = _exact_amount(amount, "a reservation amount")
        if exact < 0:
            raise ValueError(
                f"a reservation amount cannot be negative, got {amount!r} on {interval}"
            )
        object.__setattr__(self, "_interval", interval)
        object.__setattr__(self, "_amount", amount)

    @property
    def start(self) -> float:
        return self._interval.start

    @property
    def end(self) -> float:
        return self._interval.end

    @property
    def amount(self) -> float:
        return self._amount

    @property
    def interval(self) -> Interval:
        return self._interval

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Reservation is immutable (cannot set {name!r})")

    def __reduce__(self) -> tuple[object, ...]:
        return (Reservation, (self.start, self.end, self._amount))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Reservation):
            return NotImplemented
        return (self._interval, self._amount) == (other._interval, other._amount)

    def __hash__(self) -> int:
        return hash((self._interval, self._amount))

    def __repr__(self) -> str:
        return f"Reservation({self.start!r}, {self.end!r}, {self._amount!r})"


ReservationLike = Reservation | tuple[TimeLike, TimeLike, float]


class CapacityTimeline:
    """Free units of a resource over time: ``capacity`` minus the busy reservations.

    A step function whose value changes only where a reservation starts or ends; every query
    works on those breakpoints, so answers are exact. Amounts are summed exactly: integers stay
    integers, floats are added as the decimals they print as (``0.1 + 0.2 + 0.7`` units free up
    exactly 1). Over-booking is allowed: free capacity goes negative when the reservations
    exceed the capacity.

        >>> cluster = CapacityTimeline(10, [(0, 100, 6), (50, 150, 3)])
        >>> cluster.free_at(60), cluster.min_free(Interval(0, 200))
        (1, 1)
        >>> cluster.fits(4, 50, within=Interval(0, 300))
        IntervalSet([0, 0], [100, 250])
    """

    __slots__ = (
        "_breaks",
        "_capacity",
        "_exact_capacity",
        "_integral",
        "_reservations",
        "_values",
    )

    def __init__(self, capacity: float, reservations: Iterable[ReservationLike] = ()) -> None:
        exact_capacity = _exact_amount(capacity, "capacity")
        if exact_capacity < 0:
            raise ValueError(f"capacity cannot be negative, got {capacity!r}")
        items = tuple(
            r if isinstance(r, Reservation) else _reservation_from_tuple(r) for r in reservations
        )
        deltas: dict[float, _Exact] = {}
        integral = isinstance(exact_capacity, int)
        for reservation in items:
            amount = _exact_amount(reservation.amount, "a reservation amount")
            integral = integral and isinstance(amount, int)
            deltas[reservation.start] = deltas.get(reservation.start, 0) - amount
            deltas[reservation.end] = deltas.get(reservation.end, 0) + amount
        breaks = sorted(t for t, delta in deltas.items() if delta != 0)
        values: list[_Exact] = []
        level: _Exact = exact_capacity
        for t in breaks:
            level = level + deltas[t]
            values.append(level)
        self._capacity = capacity
        self._exact_capacity: _Exact = exact_capacity
        self._reservations = items
        self._breaks = breaks  # free is values[i] on [breaks[i], breaks[i + 1]), capacity outside
        self._values = values
        self._integral = integral

    @property
    def capacity(self) -> float:
        return self._capacity

    @property
    def reservations(self) -> tuple[Reservation, ...]:
        return self._reservations

    def breakpoints(self) -> tuple[float, ...]:
        """Times where the free capacity changes."""
        return tuple(self._breaks)

    def _out(self, value: _Exact) -> float:
        return value if isinstance(value, int) and self._integral else float(value)

    def _segments(self) -> Iterator[tuple[Interval, _Exact]]:
        """(interval, free) pieces covering the whole time line, in order."""
        breaks, values = self._breaks, self._values
        if not breaks:
            yield Interval(-_INF, _INF), self._exact_capacity
            return
        yield Interval._trusted(-_INF, breaks[0], False, False), self._exact_capacity
        for i in range(len(breaks) - 1):
            yield Interval._trusted(breaks[i], breaks[i + 1], True, False), values[i]
        yield Interval._trusted(breaks[-1], _INF, True, False), values[-1]

    def free_at(self, t: TimeLike) -> float:
        """Free units at time ``t`` (a reservation ending at ``t`` no longer counts)."""
        index = bisect_right(self._breaks, to_timestamp(t)) - 1
        return self._out(self._exact_capacity if index < 0 else self._values[index])

    def min_free(self, window: IntervalLike) -> float:
        """The fewest free units at any instant of ``window``."""
        window = _as_interval(window)
        _, end_cut = window._cuts()
        first = bisect_right(self._breaks, window.start) - 1
        last = (
            bisect_right(self._breaks, window.end)
            if end_cut[1] == _AFTER
            else bisect_left(self._breaks, window.end)
        ) - 1
        levels: list[_Exact] = list(self._values[max(first, 0) : last + 1])
        if first < 0:
            levels.append(self._exact_capacity)
        return self._out(min(levels))

    def steps(self, within: IntervalLike | None = None) -> list[tuple[Interval, float]]:
        """The step function as ``(interval, free units)`` pieces, clipped to ``within``."""
        within = None if within is None else _as_interval(within)
        pieces: list[tuple[Interval, float]] = []
        for interval, level in self._segments():
            part = interval if within is None else interval.intersection(within)
            if part is not None:
                pieces.append((part, self._out(level)))
        return pieces

    def available(self, demand: float, within: IntervalLike | None = None) -> IntervalSet:
        """Times (inside ``within`` if given) when at least ``demand`` units are free."""
        need = _exact_amount(demand, "demand")
        if need < 0:
            raise ValueError(f"demand cannot be negative, got {demand!r}")
        enough = [interval for interval, level in self._segments() if level >= need]
        result = _sweep([enough], lambda st: st[0])
        return result if within is None else result.clip(within)

    def fits(
        self, demand: float, duration: DurationLike, within: IntervalLike | None = None
    ) -> IntervalSet:
        """Start times ``t`` such that ``demand`` units stay free during ``[t, t + duration)``.

        With ``within``, the whole reservation must also lie inside ``within`` (a provider's
        availability says nothing beyond the window it was asked about). Without it the result
        may be unbounded. Exact: computed from the breakpoints, no time step.
        """
        return self.available(demand, within).windows_of_length(duration)

    def earliest_fit(
        self, demand: float, duration: DurationLike, within: IntervalLike | None = None
    ) -> float | None:
        """The earliest start of :meth:`fits`, or ``None``."""
        return self.fits(demand, duration, within).earliest()

    def __repr__(self) -> str:
        return (
            f"CapacityTimeline(capacity={self._capacity!r}, reservations={len(self._reservations)})"
        )


def _reservation_from_tuple(item: object) -> Reservation:
    if isinstance(item, tuple) and len(item) == 3:
        return Reservation(item[0], item[1], item[2])
    raise TypeError(f"expected a Reservation or a (start, end, amount) tuple, got {item!r}")


# --------------------------------------------------------------------------------------------
# Several demands: the earliest common start
# --------------------------------------------------------------------------------------------


Demands = Mapping[str, IntervalSet] | Sequence[IntervalSet]
"""Start sets, one per provider or resource: a mapping name -> set, or a list (named #0, #1...)."""


def _named(demands: Demands) -> list[tuple[str, IntervalSet]]:
    pairs: list[tuple[str, object]] = (
        [(str(name), value) for name, value in demands.items()]
        if isinstance(demands, Mapping)
        else [(f"#{i}", value) for i, value in enumerate(demands)]
    )
    for name, value in pairs:
        if not isinstance(value, IntervalSet):
            raise TypeError(
                f"demand {name!r} must be an IntervalSet of feasible start times,"
                f" got {type(value).__name__}"
            )
    return [(name, value) for name, value in pairs if isinstance(value, IntervalSet)]


def _at_least(wanted: int) -> Callable[[list[bool]], bool]:
    return lambda state: sum(state) >= wanted


def _window_starts(duration: DurationLike, window: Interval) -> IntervalSet:
    return IntervalSet._from_normalised([window]).windows_of_length(duration)


def _as_window(window: IntervalLike) -> Interval:
    if isinstance(window, IntervalSet):
        raise TypeError("the search window must be one Interval or a (start, end) pair")
    return _as_interval(window)


def earliest_common_start(
    demands: Demands, duration: DurationLike, window: IntervalLike
) -> float | None:
    """The earliest start ``t`` in every start set with ``[t, t + duration)`` inside ``window``.

    ``demands`` are start sets (e.g. from :meth:`CapacityTimeline.fits` or
    :meth:`IntervalSet.windows_of_length`), one per provider or resource. Returns ``None`` when
    no such ``t`` exists. With no demands at all, the window's start (if the window is long
    enough).
    """
    named = _named(demands)
    starts = _window_starts(duration, _as_window(window))
    return starts.intersection(*(s for _, s in named)).earliest()


def explain_no_slot(
    demands: Demands, duration: DurationLike, window: IntervalLike
) -> NoSlotError | None:
    """``None`` if a common start exists, else a :class:`NoSlotError` saying what blocks.

    ``blocking`` is computed as follows: take the earliest start in the window that suits the
    largest number of demands; the demands it does not suit are blocking (a demand with no
    feasible start in the window at all is always among them). ``next_possible`` is the earliest
    common start at or after the window's start ignoring the window's end; it is only known
    when the start sets extend beyond the window.
    """
    named = _named(demands)
    window = _as_window(window)
    length = _positive_duration(duration)
    in_window = _window_starts(length, window)
    restricted = [(name, s & in_window) for name, s in named]
    if in_window.intersection(*(s for _, s in restricted)):
        return None

    after_start = IntervalSet._from_normalised([Interval(window.start, _INF)])
    next_possible = after_start.intersection(*(s for _, s in named)).earliest()
    head = f"no common start for a {format_duration(length)} reservation in {window}"
    tail = (
        f"; next possible common start: {format_time(next_possible)}"
        if next_possible is not None
        else "; no common start known beyond the window"
    )
    if not in_window:
        message = f"{head}: the window is shorter than the reservation{tail}"
        return NoSlotError(message, blocking=(), next_possible=next_possible)

    count = len(restricted)
    compromise: float | None = None
    for wanted in range(count - 1, 0, -1):
        best = _sweep([s.intervals for _, s in restricted], _at_least(wanted))
        compromise = best.earliest()
        if compromise is not None:
            break
    if compromise is None:
        blocking = [name for name, _ in restricted]
    else:
        blocking = [name for name, s in restricted if compromise not in s]

    never = [name for name, s in restricted if not s]
    details: list[str] = []
    if never:
        names = ", ".join(repr(n) for n in never)
        verb = "has" if len(never) == 1 else "have"
        details.append(f"{names} {verb} no feasible start in the window")
    conflicting = [name for name in blocking if name not in never]
    if conflicting and compromise is not None:
        suited = [name for name, s in restricted if compromise in s]
        details.append(
            f"{', '.join(repr(n) for n in conflicting)} cannot start at"
            f" {format_time(compromise)}, the earliest start suiting the most demands"
            f" ({', '.join(repr(n) for n in suited)})"
        )
    return NoSlotError(
        f"{head}: {'; '.join(details)}{tail}", blocking=blocking, next_possible=next_possible
    )


def find_common_start(demands: Demands, duration: DurationLike, window: IntervalLike) -> float:
    """Like :func:`earliest_common_start`, but raise :class:`NoSlotError` when nothing fits."""
    start = earliest_common_start(demands, duration, window)
    if start is not None:
        return start
    error = explain_no_slot(demands, duration, window)
    if error is None:  # pragma: no cover - both functions use the same sets
        raise AssertionError("inconsistent slot search")
    raise error


# --------------------------------------------------------------------------------------------
# Text Gantt chart
# --------------------------------------------------------------------------------------------

_MAX_LABEL = 24


def _cell_char(row: IntervalSet, a: float, b: float) -> str:
    """'#' if [a, b) is covered, '+' if partly, '|' if touched at instants only, '.' if not."""
    if not a < b:  # a column narrower than the float resolution at this time
        return "|" if a in row else "."
    covered = 0.0
    touched = False
    index = max(bisect_right(row._starts, a) - 1, 0)
    cell = Interval(a, b)
    intervals = row.intervals
    while index < len(intervals) and intervals[index].start < b:
        part = intervals[index].intersection(cell)
        if part is not None:
            touched = True
            covered += part.duration
        index += 1
    if covered >= (b - a) * (1 - 1e-9):
        return "#"
    if covered > 0:
        return "+"
    return "|" if touched else "."


def render_text_gantt(
    rows: Mapping[str, IntervalSet], window: IntervalLike, width: int = 80
) -> str:
    """Draw each row's set over ``window`` as one line of text, ``width`` characters wide.

    Each column stands for an equal slice of the window: ``#`` fully in the set, ``+`` partly,
    ``|`` only at isolated instants (e.g. a start set where the gap is exactly as long as the
    reservation), ``.`` not at all. The first line gives the window's bounds, the last the scale.

        >>> print(render_text_gantt({"a": IntervalSet([(0, 50)])}, Interval(0, 100), width=14))
           0      100
        a |#####.....|
        1 column = 10s; # in set, + partly, | instants only, . not in set
    """
    window = _as_window(window)
    if math.isinf(window.start) or math.isinf(window.end) or window.is_point:
        raise ValueError(f"a Gantt chart needs a bounded window of positive length, got {window}")
    labels = [str(name)[:_MAX_LABEL] for name in rows]
    label_width = max((len(label) for label in labels), default=0)
    bar_width = width - label_width - 3
    if bar_width < 10:
        raise ValueError(
            f"width={width} leaves {bar_width} columns for the bars after the {label_width}-wide"
            " row names; at least 10 are needed: widen the chart or shorten the names"
        )
    step = window.duration / bar_width
    edges = [window.start + i * step for i in range(bar_width)] + [window.end]
    left, right = format_time(window.start), format_time(window.end)
    indent = " " * (label_width + 2)
    gap = bar_width - len(left) - len(right)
    header = indent + (left + " " * gap + right if gap >= 1 else f"{left} .. {right}")
    lines = [header.rstrip()]
    for label, row in zip(labels, rows.values()):
        bar = "".join(_cell_char(row, edges[i], edges[i + 1]) for i in range(bar_width))
        lines.append(f"{label.ljust(label_width)} |{bar}|")
    lines.append(
        f"1 column = {format_duration(step)}; # in set, + partly, | instants only, . not in set"
    )
    return "\n".join(lines)
