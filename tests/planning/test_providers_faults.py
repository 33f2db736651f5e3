"""The meta-provider is transactional: all providers start, or nothing stays reserved."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

import pytest
from planning_doubles import SimProvider, SimTestbed

from enoslib.errors import EnosProviderError, InvalidReservationTime, NoSlotError
from enoslib.infra.providers import Providers, find_slot_and_start, start_provider_within_bounds


def trio(**fail_b):
    a = SimProvider("a", SimTestbed(1, [(0, 100, 1)]), walltime=600)
    b = SimProvider("b", SimTestbed(2), walltime=300, amount=2, fail=fail_b or None)
    c = SimProvider("c", SimTestbed(1), walltime=60)
    return a, b, c


def held(*providers):
    return {p.name: p.testbed.holdings.get(p.name) for p in providers if p.testbed.holdings.get(p.name)}


def events(p):
    return [e[0] for e in p.testbed.ledger if e[1] == p.name]


def test_failure_mid_start_releases_everything():
    a, b, c = trio(reserved=RuntimeError("testbed exploded after booking"))
    group = Providers([a, b, c], clock=lambda: 0)
    with pytest.raises(RuntimeError, match="exploded"):
        group.init(start_time=0, time_window=3600)
    assert held(a, b, c) == {}
    assert events(a) == ["reserve", "release"] and events(b) == ["reserve", "release"]
    assert group.started == []


def test_ctrl_c_raised_inside_a_provider_releases_everything():
    a, b, c = trio(reserved=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        Providers([a, b, c], clock=lambda: 0).init(start_time=0, time_window=3600)
    assert held(a, b, c) == {}
    assert events(b) == ["reserve", "release"]


def test_real_sigint_while_a_provider_is_still_reserving():
    """Ctrl-C arrives while 'b' is blocked in its testbed call. Everything is released, and
    'b', which books once its call returns (after the first release pass), is released again."""
    entered, unblock = threading.Event(), threading.Event()

    def blocked_testbed_call():
        entered.set()
        unblock.wait(10)

    def user_hits_ctrl_c():
        entered.wait(10)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.3)
        unblock.set()

    a, b, c = trio(reserve=blocked_testbed_call)
    threading.Thread(target=user_hits_ctrl_c, daemon=True).start()
    group = Providers([a, b, c], clock=lambda: 0)
    with pytest.raises(KeyboardInterrupt):
        group.init(start_time=0, time_window=3600)
    assert held(a, b, c) == {}
    assert events(b) == ["reserve", "release"]  # booked after the first release pass
    # the others had reserved, or had not started yet when Ctrl-C came: either way nothing stays
    assert events(a) in ([], ["reserve", "release"]) and events(c) in ([], ["reserve", "release"])


def test_failure_while_waiting_releases_everything():
    a, b, c = trio(wait=EnosProviderError("job went to error"))
    with pytest.raises(EnosProviderError, match="error") as err:
        Providers([a, b, c], clock=lambda: 0).init(start_time=0, time_window=3600)
    assert held(a, b, c) == {}
    assert any("raised by provider 'b'" in note for note in err.value.__notes__)


def test_with_block_releases_on_exit_and_on_error():
    a, b, c = trio()
    with Providers([a, b, c], clock=lambda: 0) as (roles, _):
        assert len(held(a, b, c)) == 3
        assert sorted(h.address for h in roles["all"]) == ["a-1", "b-1", "b-2", "c-1"]
    assert held(a, b, c) == {}
    with pytest.raises(ValueError), Providers([a, b, c], clock=lambda: 0):
        raise ValueError("experiment bug")
    assert held(a, b, c) == {}


def test_refusal_with_hint_replans_and_releases_what_cannot_move():
    """'b' is taken by someone else after its availability was read (a race): its testbed
    refuses and hints when it could run. 'a' (an OAR-like reservation) is released, a new
    search starts at the hint, and both start there."""
    a = SimProvider("a", SimTestbed(1), walltime=600)
    tb = SimTestbed(1)
    b = SimProvider("b", tb, walltime=600)
    races = []

    def someone_else_books(provider):
        if not races:
            races.append(1)
            tb.busy.append((100, 1000, 1))

    tb.on_fetch = someone_else_books
    group = Providers([a, b], clock=lambda: 0)
    group.init(start_time=100, time_window=7200)
    assert group.start_time == 1000
    assert held(a, b) == {"a": (1000, 1600, 1), "b": (1000, 1600, 1)}
    assert a.testbed.ledger == [("reserve", "a", 100), ("release", "a"), ("reserve", "a", 1000),
                                ("reload", "a", 1000)]  # reserved, released, reserved again, waited
    assert (a.fetches, b.fetches) == (2, 2)  # one read per search, two searches
    group.destroy()
    assert held(a, b) == {}


def test_refusal_moves_movable_reservations_instead_of_releasing_them():
    a = SimProvider("a", SimTestbed(1), walltime=600, movable=True)
    b = SimProvider("b", SimTestbed(1), walltime=600)
    b.testbed.on_fetch = lambda p: b.testbed.busy.append((0, 500, 1)) if not b.testbed.busy else None
    group = Providers([a, b], clock=lambda: 0)
    group.init(start_time=0, time_window=7200)
    assert group.start_time == 500
    assert a.testbed.ledger[:2] == [("reserve", "a", 0), ("move", "a", 500)]  # never released
    assert ("release", "a") not in a.testbed.ledger
    group.destroy()


def test_refusal_hint_beyond_the_window_gives_no_slot_and_releases():
    a = SimProvider("a", SimTestbed(1), walltime=600)
    b = SimProvider("b", SimTestbed(1), walltime=600)
    b.testbed.on_fetch = lambda p: b.testbed.busy.append((0, 50_000, 1)) if not b.testbed.busy else None
    with pytest.raises(NoSlotError, match="after the end of the window") as err:
        Providers([a, b], clock=lambda: 0).init(start_time=0, time_window=3600)
    assert err.value.next_possible == 50_000 and err.value.blocking == ("b",)
    assert held(a, b) == {}


def test_refusal_without_hint_moves_on():
    a = SimProvider("a", SimTestbed(1), walltime=60)
    refusals = [InvalidReservationTime("no", next_time=None)]
    b = SimProvider("b", SimTestbed(1), walltime=60, fail={"reserve": lambda: refusals and (_ for _ in ()).throw(
        refusals.pop())})
    group = Providers([a, b], clock=lambda: 0)
    group.init(start_time=0, time_window=3600)
    assert group.start_time == group.replan_step


def test_endless_refusals_give_up_after_max_attempts():
    a = SimProvider("a", SimTestbed(1), walltime=60, fail={"reserve": InvalidReservationTime("no", next_time=None)})
    group = Providers([a], clock=lambda: 0)
    group.max_attempts = 3
    with pytest.raises(NoSlotError, match="gave up after 3"):
        group.init(start_time=0, time_window=36_000)
    assert held(a) == {}


def test_destroy_goes_on_when_one_provider_fails_and_reraises():
    a, b, c = trio()
    group = Providers([a, b, c], clock=lambda: 0)
    group.init(start_time=0, time_window=3600)

    def broken(wait=False, **kwargs):
        raise EnosProviderError("API down")

    b.destroy = broken
    with pytest.raises(EnosProviderError, match="API down"):
        group.destroy()
    assert held(a, c) == {} and held(b) != {}
    c.destroy = broken
    with pytest.raises(EnosProviderError, match="releasing failed for b: .*; c: "):
        group.destroy()


def test_providers_that_forbid_threads_run_in_the_calling_thread():
    a, b, c = trio()
    b.concurrent_init = False
    Providers([a, b, c], clock=lambda: 0).init(start_time=0, time_window=3600)
    assert b.threads == {threading.current_thread().name}
    assert a.threads and a.threads != {threading.current_thread().name}


def test_second_init_and_second_run_reload_without_searching():
    a, b, c = trio()
    group = Providers([a, b, c], clock=lambda: 0)
    roles, _ = group.init(start_time=0, time_window=3600)
    t = group.start_time
    again, _ = group.init()
    assert [p.fetches for p in (a, b, c)] == [1, 1, 1]
    assert {h.address for h in again["all"]} == {h.address for h in roles["all"]}
    # a second run of the script: new objects over the same testbeds, which reload by name
    a2, b2, c2 = (SimProvider(p.name, p.testbed, walltime=p.walltime_seconds, amount=p.amount) for p in (a, b, c))
    Providers([a2, b2, c2], clock=lambda: 0).init(start_time=5000)
    assert [p.fetches for p in (a2, b2, c2)] == [0, 0, 0]
    assert {p.testbed.holdings[p.name][0] for p in (a, b, c)} == {t}
    assert all(e[0] != "reserve" for p in (a, b, c) for e in p.testbed.ledger[1:])


def test_partially_created_reloads_some_and_plans_the_rest(caplog):
    a, b, c = trio()
    a.testbed.book("a", 100, 600, 1, movable=False)  # left over by an interrupted run
    with caplog.at_level(logging.WARNING):
        group = Providers([a, b, c], clock=lambda: 0)
        group.init(start_time=0, time_window=3600)
    assert "may not start together" in caplog.text
    assert a.fetches == 0 and b.fetches == 1
    group.destroy()
    assert held(a, b, c) == {}


def test_set_reservation_starts_exactly_then_without_searching():
    a, b, c = trio()
    group = Providers([a, b, c], clock=lambda: 0)
    group.set_reservation(200)
    group.init()
    assert {p.testbed.holdings[p.name][0] for p in (a, b, c)} == {200}
    assert [p.fetches for p in (a, b, c)] == [0, 0, 0]
    group.destroy()
    group.set_reservation(50)  # 'a' is busy until 100
    with pytest.raises(InvalidReservationTime) as err:
        group.init()
    assert err.value.next_time == 100
    assert held(a, b, c) == {}


def test_async_init_then_init_waits_on_the_same_reservation():
    a, b, c = trio()
    group = Providers([a, b, c], clock=lambda: 0)
    group.async_init(start_time=0, time_window=3600)
    assert group.start_time == 100 and len(held(a, b, c)) == 3
    group.init()
    assert [p.fetches for p in (a, b, c)] == [1, 1, 1]
    assert [e[0] for e in a.testbed.ledger] == ["reserve", "reload"]
    group.destroy()


def test_find_slot_and_start_all_or_nothing():
    a, b, c = trio()
    assert find_slot_and_start([a, b, c], 0, 3600) == 100
    assert {p.testbed.holdings[p.name][0] for p in (a, b, c)} == {100}
    assert find_slot_and_start([a, b, c], 0, 3600) is None  # all reserved already
    for p in (a, b, c):
        p.destroy()
    c.testbed.on_fetch = lambda p: c.testbed.busy.append((0, 900, 1)) if not c.testbed.busy else None
    with pytest.raises(InvalidReservationTime) as err:
        find_slot_and_start([a, b, c], 0, 3600)
    assert err.value.next_time == 900
    assert held(a, b, c) == {}


def test_start_provider_within_bounds_moves_a_past_start_and_keeps_the_end():
    p = SimProvider("p", SimTestbed(1), walltime=3600)
    start = start_provider_within_bounds(p, 1000, clock=lambda: 1500.0)
    assert start == 1560  # now + 1 min
    assert p.walltime_seconds == 3600 - 560 and p.testbed.holdings["p"] == (1560, 4600, 1)
    q = SimProvider("q", SimTestbed(1), walltime=100)
    with pytest.raises(NoSlotError, match="leaves no walltime"):
        start_provider_within_bounds(q, 1000, clock=lambda: 5000.0)


def test_static_providers_are_moved_not_released_on_refusal():
    from enoslib.infra.enos_static import Static, StaticConf

    class WatchedStatic(Static):
        destroyed = 0

        def destroy(self, wait=False, **kwargs):
            WatchedStatic.destroyed += 1
            super().destroy(wait=wait, **kwargs)

    lab = WatchedStatic(StaticConf.from_settings().add_machine(roles=["lab"], address="10.0.0.1"), name="lab")
    b = SimProvider("b", SimTestbed(1), walltime=600)
    b.testbed.on_fetch = lambda p: b.testbed.busy.append((0, 700, 1)) if not b.testbed.busy else None
    group = Providers([lab, b], clock=lambda: 0)
    roles, _ = group.init(start_time=0, time_window=3600)
    assert group.start_time == 700 and lab.reservation == 700
    assert WatchedStatic.destroyed == 0 and [h.address for h in roles["lab"]] == ["10.0.0.1"]
    group.destroy()
    assert WatchedStatic.destroyed == 1
