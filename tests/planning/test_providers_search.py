"""The meta-provider's slot search: exact earliest common start, one availability read per search."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from planning_doubles import SimProvider, SimTestbed, brute_force_earliest

from enoslib.errors import NoSlotError
from enoslib.infra.providers import Providers, find_slot, plan_slot
from enoslib.infra.slots import Interval

ENOSLIB_STEP = 300  # EnOSlib's find_slot tries start, start + 5 min, start + 10 min ...


@st.composite
def schedules(draw):
    """1-3 testbeds with random integer schedules, demands and walltimes."""
    testbeds = []
    for i in range(draw(st.integers(1, 3))):
        capacity = draw(st.integers(1, 3))
        busy = []
        for _ in range(draw(st.integers(0, 5))):
            s = draw(st.integers(0, 220))
            busy.append((s, s + draw(st.integers(1, 80)), draw(st.integers(1, capacity))))
        margin = draw(st.sampled_from([0, 0, 3, 7]))
        tb = SimTestbed(capacity, busy, margin=margin)
        walltime = draw(st.integers(1, 60))
        amount = draw(st.integers(1, capacity))
        testbeds.append((f"p{i}", tb, walltime, amount))
    start = draw(st.integers(0, 60))
    window = draw(st.integers(0, 160))
    return testbeds, start, window


def make(testbeds, **options):
    return [SimProvider(name, tb, walltime, amount, **options) for name, tb, walltime, amount in testbeds]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedules())
def test_search_is_exact_and_reads_availability_once(case):
    testbeds, start, window = case
    providers = make(testbeds)
    expected = brute_force_earliest([(tb, w + tb.margin, a) for _, tb, w, a in testbeds], start, window)
    plan = plan_slot(providers, start, window)
    assert plan.start == expected
    assert [p.fetches for p in providers] == [1] * len(providers)
    if expected is None:
        with pytest.raises(NoSlotError) as err:
            find_slot(providers, window, start)
        assert err.value.blocking  # someone is named
        nxt = err.value.next_possible
        if nxt is not None:  # the next possible start really fits, and nothing fits before it
            assert nxt > start + window
            assert brute_force_earliest([(tb, w + tb.margin, a) for _, tb, w, a in testbeds], start,
                                        int(nxt) - start) == nxt
    else:
        assert find_slot(providers, window, start) == expected
    assert [p.test_slot_calls for p in providers] == [0] * len(providers)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedules())
def test_init_starts_everyone_at_the_earliest_slot(case):
    testbeds, start, window = case
    providers = make(testbeds)
    expected = brute_force_earliest([(tb, w + tb.margin, a) for _, tb, w, a in testbeds], start, window)
    group = Providers(providers, clock=lambda: 0.0)
    if expected is None:
        with pytest.raises(NoSlotError):
            group.init(start_time=start, time_window=window)
        assert all(not tb.holdings for _, tb, _, _ in testbeds)
        return
    roles, _ = group.init(start_time=start, time_window=window)
    assert group.start_time == expected
    assert {tb.holdings[name][0] for name, tb, _, _ in testbeds} == {expected}
    assert len(roles["all"]) == sum(a for *_, a in testbeds)
    group.destroy()
    assert all(not tb.holdings for _, tb, _, _ in testbeds)


def test_gap_shorter_than_enoslib_step_is_found():
    """A free gap of 150 s (shorter than EnOSlib's 300 s step) is enough for a 120 s walltime:
    found at its first second. EnOSlib's probes (0, 300, ..., 1200, ...) all miss it."""
    tb = SimTestbed(1, [(0, 1010, 1), (1160, 5000, 1)])
    p = SimProvider("g5k", tb, walltime=120)
    other = SimProvider("static-like", SimTestbed(1), walltime=60)
    assert find_slot([p, other], 7200, 0) == 1010
    starts = plan_slot([p], 0, 7200).starts["g5k"]
    assert starts.clip(Interval(0, 5000)) == type(starts)([Interval.closed(1010, 1040)])
    probes = range(0, 5000, ENOSLIB_STEP)
    assert not any(t in starts for t in probes)  # a 5-minute grid never lands in [1010, 1040]
    # the gap exactly as long as the walltime is also used (a single start instant)
    tight = SimProvider("tight", SimTestbed(1, [(0, 1010, 1), (1130, 5000, 1)]), walltime=120)
    assert find_slot([tight], 7200, 0) == 1010


def test_gap_shorter_than_walltime_plus_testbed_margin_is_not_used():
    """The testbed needs 5 minutes free after each walltime (slot_margin = 300 s): a gap of
    walltime + 299 s is skipped, a gap of walltime + 300 s is used, and the testbed indeed
    refuses a reservation in the shorter gap."""
    walltime, margin = 3600, 300
    short_gap = (1000, 1000 + walltime + margin - 1)
    long_gap = (10_000, 10_000 + walltime + margin)
    tb = SimTestbed(1, [(0, short_gap[0], 1), (short_gap[1], long_gap[0], 1), (long_gap[1], 50_000, 1)],
                 margin=margin)
    p = SimProvider("oar", tb, walltime=walltime)
    assert p.slot_margin == 300
    assert find_slot([p], 20_000, 0) == long_gap[0]
    with pytest.raises(Exception, match="could run at 10000"):
        tb.book("someone", short_gap[0], walltime, 1, movable=False)
    # without a margin the short gap would do
    assert find_slot([SimProvider("plain", SimTestbed(1, tb.busy), walltime=walltime)], 20_000, 0) == 1000


def test_unbounded_provider_must_last_as_long_as_the_longest_walltime():
    static_like = SimProvider("static", SimTestbed(1, [(500, 600, 1)]), walltime=None)
    g5k = SimProvider("g5k", SimTestbed(1, [(0, 100, 1)]), walltime=450)
    # g5k could start at 100, but the static provider is away during [500, 600): 100 + 450 > 500
    assert find_slot([static_like, g5k], 10_000, 0) == 600
    assert plan_slot([static_like, g5k], 0, 10).lengths == {"static": None, "g5k": 450}


def test_no_slot_names_the_blocking_provider_and_the_next_start():
    a = SimProvider("a", SimTestbed(2, [(0, 100, 1)]), walltime=600)
    b = SimProvider("b", SimTestbed(1, [(0, 9000, 1)]), walltime=600)
    c = SimProvider("c", SimTestbed(1), walltime=60)
    with pytest.raises(NoSlotError) as err:
        Providers([a, b, c], clock=lambda: 0).init(start_time=0, time_window=7200)
    e = err.value
    assert e.blocking == ("b",)
    assert e.next_possible == 9000
    text = str(e)
    assert "'b' (10m00s reservation): no fit in the window" in text
    assert "'a' (10m00s reservation): alone from 0" in text
    assert "next possible common start: 9000" in text
    assert [p.fetches for p in (a, b, c)] == [1, 1, 1]


def test_no_slot_at_all_in_the_horizon():
    never = SimProvider("never", SimTestbed(1, [(0, 10**7, 1)]), walltime=60)
    with pytest.raises(NoSlotError, match="no common start before") as err:
        find_slot([never], 100, 0)
    assert err.value.next_possible is None and err.value.blocking == ("never",)


def test_nested_providers_stay_exact():
    a = SimProvider("a", SimTestbed(1, [(0, 50, 1)]), walltime=100)
    b = SimProvider("b", SimTestbed(1, [(120, 200, 1)]), walltime=10)
    c = SimProvider("c", SimTestbed(1, [(0, 30, 1)]), walltime=20)
    inner = Providers([a, b], name="inner")
    # a: starts >= 50; b: starts in [0, 110] or >= 200 -> inner: [50, 110] u [200, ...)
    assert inner.start_times(0, 300).clip(Interval(0, 300)).intervals[0] == Interval.closed(50, 110)
    outer = Providers([inner, c], clock=lambda: 0)
    assert outer.plan(0, 1000).start == 50
    outer.init(start_time=0, time_window=1000)
    assert {p.testbed.holdings[p.name][0] for p in (a, b, c)} == {50}
    # one read each for start_times() and plan() above, then one for init's search
    assert [p.fetches for p in (a, b, c)] == [3, 3, 2]
    assert sorted(h.address for h in outer.roles_by_provider["inner"]["all"]) == ["a-1", "b-1"]
    outer.destroy()
    assert not a.testbed.holdings and not b.testbed.holdings and not c.testbed.holdings


def test_plan_gantt_shows_every_provider():
    a = SimProvider("a", SimTestbed(1, [(0, 300, 1)]), walltime=100)
    plan = plan_slot([a, SimProvider("b", SimTestbed(1), walltime=100)], 0, 1000)
    text = plan.gantt(width=80)
    for row in ("a free", "a starts", "b starts", "common starts", "chosen"):
        assert row in text
    assert plan.start == 300


def test_datetime_and_timedelta_arguments():
    from datetime import datetime, timedelta, timezone

    a = SimProvider("a", SimTestbed(1, [(0, 1_700_000_100, 1)]), walltime=60)
    when = datetime.fromtimestamp(1_700_000_000, timezone.utc)
    assert find_slot([a], timedelta(minutes=5), when) == 1_700_000_100
    with pytest.raises(ValueError, match="naive"):
        find_slot([a], 300, datetime(2024, 1, 1))


class NodesAndVlan(SimProvider):
    """A provider needing two resources, which says when each one is free."""

    def __init__(self, name, nodes, vlans, walltime):
        super().__init__(name, nodes, walltime)
        self.vlans = vlans

    def availability(self, start, end):  # not used when availability_by_resource exists
        raise AssertionError("availability_by_resource should be used instead")

    def availability_by_resource(self, start, end):
        self.fetches += 1
        return {"paravance nodes": self.testbed.free_windows(start, end, 1),
                "kavlan": self.vlans.free_windows(start, end, 1)}


def test_no_slot_names_the_blocking_resource():
    g5k = NodesAndVlan("g5k", SimTestbed(1, [(0, 500, 1)]), SimTestbed(1, [(0, 20_000, 1)]), walltime=600)
    other = SimProvider("iotlab", SimTestbed(1), walltime=600)
    with pytest.raises(NoSlotError) as err:
        find_slot([g5k, other], 7200, 0)
    assert err.value.blocking == ("g5k",)
    assert err.value.blocking_resources == {"g5k": ["kavlan"]}
    assert "'g5k' (10m00s reservation): no fit in the window ('kavlan' never free long enough)" in str(err.value)
    assert err.value.next_possible == 20_000
    assert g5k.fetches == 1
    # when both resources are free, the search uses their intersection
    g5k.vlans.busy = [(0, 300, 1)]
    assert find_slot([g5k, other], 7200, 0) == 500
