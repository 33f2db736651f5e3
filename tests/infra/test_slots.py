"""Tests of enoslib.infra.slots: unit tests, and property tests against brute-force references.

The references work on a grid: when every breakpoint is an integer, a set is constant on each
open segment (n, n + 1), so sampling integers and half-integers decides membership everywhere,
and quarter points inside [t, t + d) decide whether a window fits. For float times, the
reference checks every breakpoint exhaustively.
"""

from __future__ import annotations

import itertools
import math
import pickle
from datetime import datetime, timedelta, timezone
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from enoslib.infra.slots import (
    CapacityTimeline,
    Interval,
    IntervalSet,
    NoSlotError,
    Reservation,
    earliest_common_start,
    explain_no_slot,
    find_common_start,
    format_duration,
    format_time,
    render_text_gantt,
    to_seconds,
    to_timestamp,
)

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

LO, HI = 0, 40  # integer breakpoints of generated sets
GRID = [k / 2 for k in range(2 * (LO - 3), 2 * (HI + 3) + 1)]  # decides membership exactly

T0 = 1_700_000_000.0  # a realistic POSIX time (2023-11-14T22:13:20Z)
MIN = 60.0
HOUR = 3_600.0


# --------------------------------------------------------------------------------------------
# strategies and references
# --------------------------------------------------------------------------------------------


@st.composite
def intervals(draw: st.DrawFn, lo: int = LO, hi: int = HI) -> Interval:
    a = draw(st.integers(lo, hi))
    b = draw(st.integers(lo, hi))
    start, end = min(a, b), max(a, b)
    if start == end:
        return Interval.point(start)
    return Interval(start, end, closed_start=draw(st.booleans()), closed_end=draw(st.booleans()))


half_open_intervals = st.builds(
    lambda a, n: Interval(a, a + n), st.integers(LO, HI - 1), st.integers(1, 12)
)


def interval_lists(elements: st.SearchStrategy[Interval] | None = None) -> st.SearchStrategy:
    return st.lists(intervals() if elements is None else elements, max_size=6)


sets = interval_lists().map(IntervalSet)
free_sets = interval_lists(half_open_intervals).map(IntervalSet)


def ref_member(raw: list[Interval], t: float) -> bool:
    return any(iv.contains(t) for iv in raw)


def ref_fits(member, t: float, d: int) -> bool:
    """[t, t + d) inside the set: check quarter points (t on the half grid, d integer)."""
    return all(member(t + j / 4) for j in range(4 * d))


def members(s: IntervalSet) -> list[bool]:
    return [t in s for t in GRID]


def assert_earliest(got: float | None, starts: IntervalSet, grid: list[float]) -> None:
    """``got`` is the earliest time of ``starts``, a set with integer breakpoints.

    It is a grid point, or, when the set opens just after an integer n (e.g. a search window
    open at its start), the first float after n: the smallest time a float can hold there.
    """
    in_set = [t for t in grid if t in starts]
    if not in_set:
        assert got is None
        return
    first = in_set[0]
    assert got is not None and got in starts
    assert got == first or (
        got == math.nextafter(first - 0.5, math.inf) and (first - 0.5) not in starts
    )


# --------------------------------------------------------------------------------------------
# boundary conversions and formatting
# --------------------------------------------------------------------------------------------


def test_to_timestamp_accepts_numbers_and_aware_datetimes() -> None:
    assert to_timestamp(5) == 5.0 and isinstance(to_timestamp(5), float)
    assert to_timestamp(2.5) == 2.5
    assert to_timestamp(datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)) == T0
    paris = timezone(timedelta(hours=1))
    assert to_timestamp(datetime(2023, 11, 14, 23, 13, 20, tzinfo=paris)) == T0


def test_to_timestamp_refuses_naive_datetimes_bools_nan_and_strings() -> None:
    with pytest.raises(ValueError, match="naive datetime 2024-01-01T00:00:00 is ambiguous"):
        to_timestamp(datetime(2024, 1, 1))
    with pytest.raises(TypeError, match="got bool"):
        to_timestamp(True)
    with pytest.raises(TypeError, match="got str: '2024-01-01'"):
        to_timestamp("2024-01-01")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NaN"):
        to_timestamp(math.nan)


def test_to_seconds() -> None:
    assert to_seconds(timedelta(hours=1, minutes=5)) == 3_900.0
    assert to_seconds(7) == 7.0
    with pytest.raises(TypeError, match="duration must be seconds"):
        to_seconds("1h")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NaN"):
        to_seconds(math.nan)


def test_formatting() -> None:
    assert format_time(T0) == "2023-11-14T22:13:20Z"
    assert format_time(T0 + 0.25) == "2023-11-14T22:13:20.25Z"
    assert format_time(12) == "12" and format_time(1.5) == "1.5"
    assert format_time(-math.inf) == "-inf" and format_time(math.inf) == "inf"
    assert format_duration(45) == "45s"
    assert format_duration(3_900) == "1h05m00s"
    assert format_duration(300) == "5m00s"
    assert format_duration(2 * 86_400 + 3 * HOUR) == "2d03h00m00s"
    assert format_duration(90.5) == "1m30.5s"
    assert format_duration(-60) == "-1m00s"
    assert format_duration(math.inf) == "inf"


# --------------------------------------------------------------------------------------------
# Interval
# --------------------------------------------------------------------------------------------


def test_interval_basics() -> None:
    iv = Interval(0, 10)
    assert (iv.start, iv.end, iv.duration) == (0.0, 10.0, 10.0)
    assert iv.closed_start and not iv.closed_end
    assert iv.contains(0) and iv.contains(9.999) and not iv.contains(10)
    assert str(iv) == "[0, 10)" and repr(iv) == "Interval(0.0, 10.0)"
    assert Interval.starting_at(T0, timedelta(hours=1)) == Interval(T0, T0 + HOUR)
    aware = datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)
    assert Interval(aware, aware + timedelta(hours=1)) == Interval(T0, T0 + HOUR)
    assert str(Interval(T0, T0 + HOUR)) == "[2023-11-14T22:13:20Z, 2023-11-14T23:13:20Z)"


def test_interval_open_closed_and_points() -> None:
    point = Interval.point(5)
    assert point.is_point and point.duration == 0 and point.contains(5)
    assert str(point) == "[5, 5]"
    closed = Interval.closed(0, 10)
    assert closed.contains(10) and str(closed) == "[0, 10]"
    opened = Interval(0, 10, closed_start=False)
    assert not opened.contains(0) and str(opened) == "(0, 10)"
    assert repr(opened) == "Interval(0.0, 10.0, closed_start=False)"
    assert repr(closed) == "Interval(0.0, 10.0, closed_end=True)"


def test_interval_infinite_ends_are_open() -> None:
    iv = Interval(-math.inf, math.inf, closed_start=True, closed_end=True)
    assert not iv.closed_start and not iv.closed_end
    assert iv == Interval(-math.inf, math.inf) and iv.duration == math.inf
    assert str(iv) == "(-inf, inf)"


def test_interval_error_messages() -> None:
    with pytest.raises(ValueError, match=r"interval start 10 is after its end 5 \(by 5s\)"):
        Interval(10, 5)
    with pytest.raises(ValueError, match="empty interval: start and end are both 5.*point"):
        Interval(5, 5)
    with pytest.raises(ValueError, match="empty interval"):
        Interval(5, 5, closed_start=True, closed_end=False)
    with pytest.raises(
        ValueError, match="start 2023-11-14T23:13:20Z is after its end 2023-11-14T22:13:20Z"
    ):
        Interval(T0 + HOUR, T0)
    with pytest.raises(ValueError, match="duration must be positive, got 0s"):
        Interval.starting_at(0, 0)


def test_interval_relations() -> None:
    a, b = Interval(0, 5), Interval(5, 10)
    assert not a.overlaps(b) and not b.overlaps(a)  # back to back: compatible reservations
    assert Interval.closed(0, 5).overlaps(b)
    assert Interval(0, 6).overlaps(b)
    assert a.intersection(b) is None
    assert Interval(0, 8).intersection(b) == Interval(5, 8)
    assert Interval.closed(0, 5).intersection(Interval.closed(5, 9)) == Interval.point(5)
    assert Interval(0, 10).covers(Interval(2, 10))
    assert not Interval(0, 10).covers(Interval.closed(2, 10))
    assert Interval(0, 10).shift(5) == Interval(5, 15)
    assert Interval(0, 10).shift(timedelta(seconds=-5)) == Interval(-5, 5)


def test_interval_is_immutable_hashable_and_picklable() -> None:
    iv = Interval(0, 10, closed_start=False, closed_end=True)
    with pytest.raises(AttributeError, match="immutable"):
        iv.start = 3  # type: ignore[misc]
    assert {iv, Interval(0, 10, closed_start=False, closed_end=True)} == {iv}
    assert pickle.loads(pickle.dumps(iv)) == iv
    assert Interval(0, 10) != Interval.closed(0, 10)
    assert Interval(0, 10) != (0, 10)


# --------------------------------------------------------------------------------------------
# IntervalSet: unit tests
# --------------------------------------------------------------------------------------------


def test_set_normalises() -> None:
    s = IntervalSet([(30, 40), (0, 10), (5, 20), Interval(20, 25)])
    assert list(s) == [Interval(0, 25), Interval(30, 40)]
    assert len(s) == 2 and bool(s) and not s.is_empty
    assert repr(s) == "IntervalSet([0, 25), [30, 40))"
    assert IntervalSet.from_iterable([(0, 10), (10, 20)]) == IntervalSet([(0, 20)])
    # A missing instant is kept as a gap: [0, 5) and (5, 10) do not merge.
    gap = IntervalSet([Interval(0, 5), Interval(5, 10, closed_start=False)])
    assert len(gap) == 2 and 5 not in gap
    # ...but a closed end joins an open start.
    assert IntervalSet([Interval.closed(0, 5), Interval(5, 10, closed_start=False)]) == IntervalSet(
        [(0, 10)]
    )
    assert IntervalSet() == IntervalSet([]) and not IntervalSet()
    assert repr(IntervalSet()) == "IntervalSet()"
    assert IntervalSet(s) == s


def test_set_refuses_garbage() -> None:
    with pytest.raises(TypeError, match=r"expected an Interval or a \(start, end\) pair, got 3"):
        IntervalSet([3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="interval start 9 is after its end 1"):
        IntervalSet([(9, 1)])
    with pytest.raises(TypeError, match="use IntervalSet.covers"):
        Interval(0, 1) in IntervalSet([(0, 2)])  # noqa: B015


def test_set_membership_and_hash() -> None:
    s = IntervalSet([(0, 10), (20, 30)])
    assert 0 in s and 9.5 in s and 10 not in s and 15 not in s and 20 in s and 30 not in s
    assert -1 not in s
    assert hash(s) == hash(IntervalSet([(20, 30), (0, 5), (5, 10)]))
    assert s != [Interval(0, 10), Interval(20, 30)]
    assert pickle.loads(pickle.dumps(s)) == s
    with pytest.raises(AttributeError, match="immutable"):
        s.foo = 1  # type: ignore[attr-defined]


def test_set_algebra_examples() -> None:
    a = IntervalSet([(0, 10), (20, 30)])
    b = IntervalSet([(5, 25)])
    assert a | b == a.union(b) == IntervalSet([(0, 30)])
    assert a & b == a.intersection(b) == IntervalSet([(5, 10), (20, 25)])
    assert a - b == a.difference(b) == IntervalSet([(0, 5), (25, 30)])
    assert a ^ b == IntervalSet([(0, 5), (10, 20), (25, 30)])
    assert a.union([(100, 110)], IntervalSet([(50, 60)])) == IntervalSet(
        [(0, 10), (20, 30), (50, 60), (100, 110)]
    )
    assert a.intersection(b, [(0, 7)]) == IntervalSet([(5, 7)])
    assert a.complement(Interval(-5, 35)) == IntervalSet([(-5, 0), (10, 20), (30, 35)])
    assert a.complement() == IntervalSet([Interval(-math.inf, 0), (10, 20), Interval(30, math.inf)])
    assert IntervalSet().complement() == IntervalSet.everything()
    assert a.clip(Interval(5, 22)) == IntervalSet([(5, 10), (20, 22)])
    assert IntervalSet([(0, 100)]).minus_busy([(10, 20), (50, 60)]) == IntervalSet(
        [(0, 10), (20, 50), (60, 100)]
    )
    assert a.shift(5) == IntervalSet([(5, 15), (25, 35)])
    assert a.total() == 20 and IntervalSet().total() == 0
    assert IntervalSet.everything().total() == math.inf
    assert a.span() == Interval(0, 30) and IntervalSet().span() is None
    assert a.covers(Interval(2, 8)) and not a.covers(Interval(8, 22))
    assert a.covers(IntervalSet([(1, 2), (21, 22)]))


def test_complement_of_closed_sets_flips_ends() -> None:
    s = IntervalSet([Interval.closed(0, 5)])
    c = s.complement(Interval(-10, 10))
    assert c == IntervalSet([Interval(-10, 0), Interval(5, 10, closed_start=False)])
    assert 5 not in c and 5.0001 in c and 0 not in c


def test_earliest() -> None:
    assert IntervalSet().earliest() is None
    assert IntervalSet([(3, 4), (1, 2)]).earliest() == 1.0
    assert IntervalSet([Interval(-math.inf, 0)]).earliest() == -math.inf
    opened = IntervalSet([Interval(3, 4, closed_start=False)])
    assert opened.earliest() == math.nextafter(3.0, math.inf)
    assert opened.earliest() in opened


def test_windows_of_length() -> None:
    free = IntervalSet([(0, 10), (20, 25), (30, 36)])
    starts = free.windows_of_length(6)
    # [0, 10) -> [0, 4]; [20, 25) too short; [30, 36) exactly 6 -> the single instant 30.
    assert starts == IntervalSet([Interval.closed(0, 4), Interval.point(30)])
    assert 4 in starts and 4.0001 not in starts and 30 in starts
    assert free.windows_of_length(timedelta(seconds=10)) == IntervalSet([Interval.point(0)])
    assert free.windows_of_length(11) == IntervalSet()
    with pytest.raises(ValueError, match="duration must be positive, got 0s"):
        free.windows_of_length(0)
    with pytest.raises(ValueError, match="duration must be positive, got -5s"):
        free.windows_of_length(-5)
    unbounded = IntervalSet([Interval(10, math.inf)]).windows_of_length(5)
    assert unbounded == IntervalSet([Interval(10, math.inf)])


def test_earliest_fit() -> None:
    free = IntervalSet([(0, 10), (20, 25), (30, 36)])
    assert free.earliest_fit(6) == 0
    assert free.earliest_fit(6, not_before=3) == 3
    assert free.earliest_fit(6, not_before=5) == 30
    assert free.earliest_fit(5, not_before=5) == 5
    assert free.earliest_fit(6, not_before=31) is None
    assert free.earliest_fit(100) is None
    assert IntervalSet().earliest_fit(1) is None


# --------------------------------------------------------------------------------------------
# IntervalSet: properties against the grid reference
# --------------------------------------------------------------------------------------------


@PROPERTY
@given(interval_lists())
def test_prop_normalised_and_same_membership(raw: list[Interval]) -> None:
    s = IntervalSet(raw)
    ivs = list(s)
    for left, right in itertools.pairwise(ivs):
        # sorted, disjoint, and never touching (touching intervals would have been merged)
        assert left.end <= right.start
        if left.end == right.start:
            assert not left.closed_end and not right.closed_start
    assert members(s) == [ref_member(raw, t) for t in GRID]
    assert IntervalSet(reversed(raw)) == s


@PROPERTY
@given(interval_lists(), interval_lists())
def test_prop_boolean_operations(raw_a: list[Interval], raw_b: list[Interval]) -> None:
    a, b = IntervalSet(raw_a), IntervalSet(raw_b)
    in_a, in_b = members(a), members(b)
    assert members(a | b) == [x or y for x, y in zip(in_a, in_b)]
    assert members(a & b) == [x and y for x, y in zip(in_a, in_b)]
    assert members(a - b) == [x and not y for x, y in zip(in_a, in_b)]
    assert members(a ^ b) == [x != y for x, y in zip(in_a, in_b)]
    assert (a == b) == (in_a == in_b)
    assert a | b == b | a and a & b == b & a
    assert (a - b) | (a & b) == a


@PROPERTY
@given(interval_lists(), intervals())
def test_prop_complement_and_clip(raw: list[Interval], within: Interval) -> None:
    s = IntervalSet(raw)
    comp, clipped = s.complement(within), s.clip(within)
    for t, inside in zip(GRID, members(s)):
        assert (t in comp) == (within.contains(t) and not inside)
        assert (t in clipped) == (within.contains(t) and inside)
    assert comp | clipped == IntervalSet([within])
    assert not (comp & clipped)
    assert s.complement().complement() == s


@PROPERTY
@given(interval_lists(), st.integers(-20, 20))
def test_prop_shift_and_total(raw: list[Interval], delta: int) -> None:
    s = IntervalSet(raw)
    shifted = s.shift(delta)
    assert [t + delta in shifted for t in GRID] == members(s)
    # with integer breakpoints, the measure is the number of unit segments in the set
    assert s.total() == sum(ref_member(raw, n + 0.5) for n in range(LO - 1, HI + 1))
    assert shifted.total() == s.total()


@PROPERTY
@given(interval_lists(), st.integers(1, 10))
def test_prop_windows_of_length(raw: list[Interval], d: int) -> None:
    s = IntervalSet(raw)
    starts = s.windows_of_length(d)
    member = lambda t: ref_member(raw, t)
    for t in GRID:
        assert (t in starts) == ref_fits(member, t, d), t


@PROPERTY
@given(free_sets, st.integers(1, 10), st.none() | st.integers(LO - 2, HI + 2))
def test_prop_earliest_fit(free: IntervalSet, d: int, not_before: int | None) -> None:
    member = lambda t: t in free
    expected = next(
        (t for t in GRID if (not_before is None or t >= not_before) and ref_fits(member, t, d)),
        None,
    )
    assert free.earliest_fit(d, not_before=not_before) == expected


# --------------------------------------------------------------------------------------------
# The slots EnOSlib's fixed-step search gets wrong
# --------------------------------------------------------------------------------------------


def fixed_step_scan(is_free, start: float, end: float, duration: float, step: float):
    """What a fixed-step search does: try start, start + step, ... (reference only)."""
    t = start
    while t + duration <= end:
        if is_free(Interval(t, t + duration)):
            return t
        t += step
    return None


def test_gap_shorter_than_the_step_but_long_enough_is_found() -> None:
    walltime, step = HOUR, 5 * MIN
    window = Interval(T0, T0 + 86_400)
    # Busy until T0 + 10h02m, then free for 1h02m, then busy until 20h.
    busy = [(T0, T0 + 10 * HOUR + 2 * MIN), (T0 + 11 * HOUR + 4 * MIN, T0 + 20 * HOUR)]
    free = IntervalSet([window]).minus_busy(busy)
    timeline = CapacityTimeline(1, [(s, e, 1) for s, e in busy])

    exact = T0 + 10 * HOUR + 2 * MIN
    assert free.earliest_fit(walltime, not_before=window.start) == exact
    assert timeline.earliest_fit(1, walltime, window) == exact
    assert earliest_common_start([timeline.fits(1, walltime, window)], walltime, window) == exact

    scanned = fixed_step_scan(
        lambda iv: timeline.min_free(iv) >= 1, window.start, window.end, walltime, step
    )
    assert scanned == T0 + 20 * HOUR  # the step grid jumps over the 1h02m gap


def test_gap_one_second_too_short_is_not_used() -> None:
    walltime = HOUR + 5 * MIN  # e.g. one hour plus five minutes of deployment
    window = Interval(T0, T0 + 86_400)
    gap_start = T0 + 3 * HOUR
    busy = [(T0, gap_start), (gap_start + walltime - 1, T0 + 8 * HOUR)]
    timeline = CapacityTimeline(1, [(s, e, 1) for s, e in busy])
    starts = timeline.fits(1, walltime, window)
    assert gap_start not in starts
    assert timeline.earliest_fit(1, walltime, window) == T0 + 8 * HOUR
    free = IntervalSet([window]).minus_busy(busy)
    assert free.earliest_fit(walltime) == T0 + 8 * HOUR
    # Exactly as long as the walltime: usable, and only at its start.
    exact_busy = [(T0, gap_start), (gap_start + walltime, T0 + 8 * HOUR)]
    exact = CapacityTimeline(1, [(s, e, 1) for s, e in exact_busy]).fits(1, walltime, window)
    assert exact.intervals[0] == Interval.point(gap_start)


def test_common_gap_across_providers_found_between_steps() -> None:
    walltime = 2 * HOUR
    window = Interval(T0, T0 + 7 * 86_400)
    g5k = CapacityTimeline(10, [(T0, T0 + 5 * HOUR + 7, 8), (T0 + 8 * HOUR, T0 + 30 * HOUR, 10)])
    iotlab = IntervalSet([window]).minus_busy([(T0, T0 + 5 * HOUR + 13)])
    demands = {"g5k": g5k.fits(5, walltime, window), "iotlab": iotlab.windows_of_length(walltime)}
    assert earliest_common_start(demands, walltime, window) == T0 + 5 * HOUR + 13


# --------------------------------------------------------------------------------------------
# CapacityTimeline
# --------------------------------------------------------------------------------------------


def test_capacity_timeline_unit() -> None:
    tl = CapacityTimeline(10, [(0, 100, 6), Reservation(50, 150, 3), (200, 300, 0)])
    assert tl.capacity == 10 and len(tl.reservations) == 3
    assert tl.breakpoints() == (0.0, 50.0, 100.0, 150.0)
    assert [tl.free_at(t) for t in (-1, 0, 49, 50, 99, 100, 149, 150)] == [10, 4, 4, 1, 1, 7, 7, 10]
    assert isinstance(tl.free_at(60), int)
    assert tl.min_free(Interval(0, 50)) == 4
    assert tl.min_free(Interval.closed(0, 50)) == 1
    assert tl.min_free(Interval(100, 160)) == 7
    assert tl.min_free(Interval(-10, 0)) == 10
    assert tl.min_free(Interval(-math.inf, math.inf)) == 1
    assert tl.min_free(Interval.point(150)) == 10
    assert tl.steps(Interval(0, 200)) == [
        (Interval(0, 50), 4),
        (Interval(50, 100), 1),
        (Interval(100, 150), 7),
        (Interval(150, 200), 10),
    ]
    assert tl.available(7, Interval(0, 300)) == IntervalSet([(100, 300)])
    assert tl.fits(4, 50, Interval(0, 300)) == IntervalSet(
        [Interval.point(0), Interval.closed(100, 250)]
    )
    assert tl.fits(11, 1, Interval(0, 300)) == IntervalSet()
    assert tl.fits(0, 300, Interval(0, 300)) == IntervalSet([Interval.point(0)])
    assert tl.fits(4, 50) == IntervalSet(
        [Interval(-math.inf, 0, closed_end=True), Interval(100, math.inf)]
    )
    assert tl.earliest_fit(4, 50, Interval(10, 300)) == 100
    assert repr(tl) == "CapacityTimeline(capacity=10, reservations=3)"
    assert (
        Reservation(0, 1, 2) == Reservation(0, 1, 2)
        and repr(Reservation(0, 1, 2)) == "Reservation(0.0, 1.0, 2)"
    )
    assert pickle.loads(pickle.dumps(Reservation(0, 1, 2))) == Reservation(0, 1, 2)


def test_capacity_timeline_exact_float_amounts_and_overbooking() -> None:
    # 0.1 + 0.2 + 0.7 != 1.0 in floats; the timeline sums exactly, so 0 stays free, not -1e-16.
    tl = CapacityTimeline(1.0, [(0, 10, 0.1), (0, 10, 0.2), (0, 10, 0.7)])
    assert tl.free_at(5) == 0.0 and isinstance(tl.free_at(5), float)
    assert tl.fits(0, 10, Interval(0, 20)) == IntervalSet([Interval.closed(0, 10)])
    assert tl.free_at(10) == 1.0 and tl.breakpoints() == (0.0, 10.0)
    over = CapacityTimeline(2, [(0, 10, 2), (5, 15, 2)])
    assert over.free_at(7) == -2 and over.min_free(Interval(0, 20)) == -2


def test_capacity_timeline_errors() -> None:
    with pytest.raises(ValueError, match="capacity cannot be negative, got -1"):
        CapacityTimeline(-1)
    with pytest.raises(ValueError, match=r"amount cannot be negative, got -2 on \[0, 5\)"):
        CapacityTimeline(3, [(0, 5, -2)])
    with pytest.raises(ValueError, match="interval start 5 is after its end 0"):
        CapacityTimeline(3, [(5, 0, 1)])
    with pytest.raises(TypeError, match=r"\(start, end, amount\) tuple, got \(0, 5\)"):
        CapacityTimeline(3, [(0, 5)])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="capacity must be a number, got str"):
        CapacityTimeline("3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="capacity must be finite"):
        CapacityTimeline(math.inf)
    with pytest.raises(ValueError, match="demand cannot be negative"):
        CapacityTimeline(3).fits(-1, 10)
    with pytest.raises(AttributeError, match="immutable"):
        Reservation(0, 1).amount = 3  # type: ignore[misc]


reservations = st.lists(
    st.tuples(st.integers(0, 50), st.integers(1, 12), st.integers(1, 3)).map(
        lambda r: (r[0], r[0] + r[1], r[2])
    ),
    max_size=8,
)


def ref_free(capacity: int, res: list[tuple[int, int, int]], t: float) -> int:
    return capacity - sum(a for s, e, a in res if s <= t < e)


@PROPERTY
@given(st.integers(0, 6), reservations, intervals(-5, 65), st.integers(0, 7), st.integers(1, 10))
def test_prop_capacity_timeline(
    capacity: int, res: list[tuple[int, int, int]], window: Interval, demand: int, d: int
) -> None:
    tl = CapacityTimeline(capacity, res)
    grid = [k / 4 for k in range(-40, 300)]
    for t in grid[::2]:
        assert tl.free_at(t) == ref_free(capacity, res, t)
    # min over a window: quarter points decide (integer breakpoints)
    assert tl.min_free(window) == min(
        ref_free(capacity, res, t) for t in grid if window.contains(t)
    )
    starts = tl.fits(demand, d, window)

    def ok(t: float) -> bool:
        return window.contains(t) and ref_free(capacity, res, t) >= demand

    for t in grid[::2]:
        assert (t in starts) == ref_fits(ok, t, d), t
    assert_earliest(tl.earliest_fit(demand, d, window), starts, grid[::2])


# float times: the reference tries every breakpoint and checks each candidate exhaustively
float_reservations = st.lists(
    st.tuples(st.floats(0, 10_000, allow_nan=False), st.floats(0.5, 3_000), st.integers(1, 4)).map(
        lambda r: (r[0], r[0] + r[1], r[2])
    ),
    max_size=10,
)


@PROPERTY
@given(
    st.integers(1, 6),
    float_reservations,
    st.floats(0.5, 4_000),
    st.integers(1, 6),
    st.floats(0, 2_000),
)
def test_prop_capacity_timeline_float_times(
    capacity: int, res: list[tuple[float, float, int]], d: float, demand: int, w0: float
) -> None:
    tl = CapacityTimeline(capacity, res)
    window = Interval(w0, 15_000)
    breakpoints = sorted({w0} | {x for s, e, _ in res for x in (s, e)})

    def fits(t: float) -> bool:  # in exact arithmetic
        last = Fraction(t) + Fraction(d)
        if t < w0 or last > Fraction(window.end):
            return False
        probes = [t] + [b for b in breakpoints if t < b and Fraction(b) < last]
        return all(ref_free(capacity, res, p) >= demand for p in probes)

    # the earliest start is the window's start or the end of a reservation
    candidates = [t for t in breakpoints if fits(t)]
    expected = min(candidates) if candidates else None
    assert tl.earliest_fit(demand, d, window) == expected
    starts = tl.fits(demand, d, window)
    for iv in starts:
        assert fits(iv.start) and fits(iv.end)  # both ends of each start interval are feasible
        assert iv.start == w0 or not fits(math.nextafter(iv.start, -math.inf))
    for t in breakpoints:
        assert (t in starts) == fits(t)


# --------------------------------------------------------------------------------------------
# several demands
# --------------------------------------------------------------------------------------------


def test_earliest_common_start_unit() -> None:
    window = Interval(0, 100)
    a = IntervalSet([(0, 30)]).windows_of_length(10)  # starts [0, 20]
    b = IntervalSet([(20, 60)]).windows_of_length(10)  # starts [20, 50]
    assert earliest_common_start([a, b], 10, window) == 20  # touching start sets meet at 20
    assert earliest_common_start({"a": a, "b": b}, 10, Interval(15, 100)) == 20
    assert earliest_common_start({"a": a, "b": b}, 10, Interval(20.5, 100)) is None
    assert earliest_common_start([a, b], 10, Interval(0, 30)) == 20  # ends with the window
    assert earliest_common_start([a, b], 10, Interval(0, 29.5)) is None
    assert earliest_common_start([], 10, window) == 0
    assert earliest_common_start([], 200, window) is None
    assert find_common_start({"a": a, "b": b}, timedelta(seconds=10), window) == 20
    with pytest.raises(
        TypeError, match="demand 'x' must be an IntervalSet of feasible start times"
    ):
        earliest_common_start({"x": [(0, 1)]}, 10, window)  # type: ignore[dict-item]


def test_no_slot_error_type() -> None:
    err = NoSlotError()
    assert str(err) == "no common slot" and err.blocking == () and err.next_possible is None
    err = NoSlotError(blocking=["g5k"], next_possible=T0)
    assert str(err) == "no common slot; blocked by 'g5k'; next possible start: 2023-11-14T22:13:20Z"
    assert isinstance(err, Exception)
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.blocking == ("g5k",) and again.next_possible == T0


def test_find_common_start_explains_conflicts() -> None:
    window = Interval(T0, T0 + 86_400)
    walltime = HOUR
    a = IntervalSet([(T0, T0 + 3 * HOUR)]).windows_of_length(walltime)
    b = IntervalSet([(T0 + 1 * HOUR, T0 + 3 * HOUR)]).windows_of_length(walltime)
    c = IntervalSet([(T0 + 5 * HOUR, T0 + 9 * 86_400)]).windows_of_length(walltime)
    with pytest.raises(NoSlotError) as caught:
        find_common_start({"a": a, "b": b, "c": c}, walltime, window)
    err = caught.value
    assert err.blocking == ("c",)
    assert err.next_possible is None  # a and b never reach beyond the window
    assert str(err) == (
        "no common start for a 1h00m00s reservation in"
        " [2023-11-14T22:13:20Z, 2023-11-15T22:13:20Z): 'c' cannot start at"
        " 2023-11-14T23:13:20Z, the earliest start suiting the most demands ('a', 'b');"
        " no common start known beyond the window"
    )
    assert explain_no_slot({"a": a, "b": b}, walltime, window) is None


def test_explain_no_slot_names_demands_that_never_fit_and_next_possible() -> None:
    window = Interval(0, 100)
    late = IntervalSet([(150, 300)]).windows_of_length(20)
    wide = IntervalSet([(0, 1_000)]).windows_of_length(20)
    err = explain_no_slot({"late": late, "wide": wide}, 20, window)
    assert err is not None
    assert err.blocking == ("late",) and err.next_possible == 150
    assert "'late' has no feasible start in the window" in str(err)
    assert "next possible common start: 150" in str(err)

    # nothing fits at all: everybody blocks
    never = IntervalSet([(0, 10)]).windows_of_length(20)
    err = explain_no_slot([never, late], 20, window)
    assert err is not None and err.blocking == ("#0", "#1")
    assert "'#0', '#1' have no feasible start in the window" in str(err)

    # the window itself is too short
    err = explain_no_slot([wide], 200, window)
    assert err is not None and err.blocking == () and err.next_possible == 0
    assert "the window is shorter than the reservation" in str(err)


@PROPERTY
@given(
    st.lists(free_sets, min_size=1, max_size=4),
    st.integers(1, 8),
    intervals(LO - 5, HI + 5),
)
def test_prop_earliest_common_start(frees: list[IntervalSet], d: int, window: Interval) -> None:
    demands = {f"p{i}": free.windows_of_length(d) for i, free in enumerate(frees)}

    def ok(t: float) -> bool:
        return all(ref_fits(free.__contains__, t, d) for free in frees) and ref_fits(
            window.contains, t, d
        )

    common = IntervalSet([window]).windows_of_length(d).intersection(*demands.values())
    assert [t in common for t in GRID] == [ok(t) for t in GRID]
    assert_earliest(earliest_common_start(demands, d, window), common, GRID)
    expected = next((t for t in GRID if ok(t)), None)
    err = explain_no_slot(demands, d, window)
    assert (err is None) == (expected is not None)
    if err is not None:
        assert str(err)
        assert set(err.blocking) <= set(demands)
        if IntervalSet([window]).windows_of_length(d):
            assert err.blocking  # someone is to blame when the window is long enough
            # dropping the blocking demands leaves demands that can start together
            rest = {n: s for n, s in demands.items() if n not in err.blocking}
            assume(rest)
            assert earliest_common_start(rest, d, window) is not None
        beyond = [t for t in GRID if t >= window.start and all(t in s for s in demands.values())]
        assert err.next_possible == (beyond[0] if beyond else None)


# --------------------------------------------------------------------------------------------
# text Gantt chart
# --------------------------------------------------------------------------------------------


def test_render_text_gantt() -> None:
    window = Interval(0, 100)
    rows = {
        "g5k": IntervalSet([(0, 50)]),
        "iotlab": IntervalSet([(17, 20), (55, 100)]),
        "starts": IntervalSet([Interval.point(72)]),
    }
    text = render_text_gantt(rows, window, width=29)
    assert text.splitlines() == [
        "        0                100",
        "g5k    |##########..........|",
        "iotlab |...+.......#########|",
        "starts |..............|.....|",
        "1 column = 5s; # in set, + partly, | instants only, . not in set",
    ]
    assert all(len(line) == 29 for line in text.splitlines()[1:4])


def test_render_text_gantt_with_posix_times_and_errors() -> None:
    window = Interval(T0, T0 + 86_400)
    text = render_text_gantt({"free": IntervalSet([(T0, T0 + 3_600)])}, window)
    lines = text.splitlines()
    assert lines[0].strip().startswith("2023-11-14T22:13:20Z") and lines[0].endswith(
        "2023-11-15T22:13:20Z"
    )
    assert len(lines[1]) == 80 and lines[1].startswith("free |###+....")
    assert lines[2].startswith("1 column = 19m43.562s;")
    with pytest.raises(
        ValueError, match="width=20 leaves 3 columns.*14-wide row names; at least 10"
    ):
        render_text_gantt({"long-name-here": IntervalSet()}, window, width=20)
    with pytest.raises(ValueError, match=r"bounded window of positive length, got \[0, inf\)"):
        render_text_gantt({}, Interval(0, math.inf))


def test_windows_given_as_pairs_and_datetimes() -> None:
    start = datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)
    window = (start, start + timedelta(days=1))
    tl = CapacityTimeline(2, [(T0, T0 + HOUR, 2)])
    assert tl.fits(1, timedelta(hours=2), window) == tl.fits(1, 2 * HOUR, Interval(T0, T0 + 86_400))
    assert tl.min_free((T0, T0 + 10)) == 0 and tl.steps((T0, T0 + 10)) == [
        (Interval(T0, T0 + 10), 0)
    ]
    starts = tl.fits(2, HOUR, window)
    assert earliest_common_start([starts], timedelta(hours=1), window) == T0 + HOUR
    assert find_common_start({"g5k": starts}, HOUR, window) == T0 + HOUR
    assert explain_no_slot([starts], HOUR, window) is None
    assert start + timedelta(hours=1) in starts
    assert IntervalSet([(0, 10)]).clip((2, 4)) == IntervalSet([(2, 4)])
    assert IntervalSet([(0, 10)]).complement((5, 15)) == IntervalSet([(10, 15)])
    assert "2023-11-14T22:13:20Z" in render_text_gantt({"g5k": starts}, window)
    with pytest.raises(TypeError, match="search window must be one Interval"):
        earliest_common_start([starts], HOUR, IntervalSet([window]))  # type: ignore[arg-type]


def test_render_text_gantt_tiny_window() -> None:
    # columns narrower than the float resolution at POSIX magnitudes do not crash
    window = Interval(T0, math.nextafter(math.nextafter(T0, math.inf), math.inf))
    text = render_text_gantt({"x": IntervalSet([window])}, window, width=20)
    assert text.splitlines()[1].startswith("x |")
