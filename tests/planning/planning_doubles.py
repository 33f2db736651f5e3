"""Test doubles for the meta-provider: small in-memory testbeds and a Provider over them.

A :class:`SimTestbed` is a scheduler with ``capacity`` units, other users' reservations (``busy``)
and the reservations our providers hold (``holdings``, by owner name). It admits a reservation
like OAR does: the units must be free for the walltime (plus its security ``margin``), else it
refuses with :class:`InvalidReservationTime` carrying the next time it would fit (its hint).
Every reserve/move/reload/release is written to ``ledger``, so tests can assert what is held.

Feasibility here is computed with plain loops (no enoslib.infra.slots), so it can serve as the
brute force the meta-provider's exact search is checked against.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from enoslib.errors import EnosProviderError, InvalidReservationTime
from enoslib.infra.provider import Provider
from enoslib.infra.slots import CapacityTimeline, Interval, IntervalSet
from enoslib.infra.enos_static import StaticConf
from enoslib.objects import Host, Networks, Roles

Busy = list[tuple[float, float, int]]


class SimTestbed:
    def __init__(self, capacity: int = 1, busy: Busy = (), margin: float = 0) -> None:
        self.capacity = capacity
        self.busy: Busy = list(busy)
        self.margin = margin  # a reservation needs [t, t + walltime + margin) free
        self.holdings: dict[str, tuple[float, float, int]] = {}
        self.ledger: list[tuple[Any, ...]] = []
        self.lock = threading.RLock()
        self.on_fetch: Callable[[Any], None] | None = None  # runs after each availability read

    # -- brute force -----------------------------------------------------------------------------
    def _all(self, exclude: str | None = None) -> Busy:
        return self.busy + [v for k, v in self.holdings.items() if k != exclude]

    def free_at(self, u: float, exclude: str | None = None) -> int:
        return self.capacity - sum(a for s, e, a in self._all(exclude) if s <= u < e)

    def fits(self, start: float, length: float, amount: int, exclude: str | None = None) -> bool:
        """Whether ``amount`` units stay free during [start, start + length)."""
        end = start + length
        points = [start] + [s for s, _, _ in self._all(exclude) if start < s < end]
        return all(self.free_at(u, exclude) >= amount for u in points)

    def next_fit(self, after: float, length: float, amount: int, exclude: str | None = None) -> float | None:
        for t in sorted({after} | {e for _, e, _ in self._all(exclude) if e > after}):
            if self.fits(t, length, amount, exclude):
                return t
        return None

    # -- what a provider sees --------------------------------------------------------------------
    def free_windows(self, start: float, end: float, amount: int, exclude: str | None = None) -> IntervalSet:
        with self.lock:
            timeline = CapacityTimeline(self.capacity, self._all(exclude))
        return timeline.available(amount, Interval(start, end))

    def book(self, owner: str, t: float, walltime: float, amount: int, movable: bool) -> None:
        with self.lock:
            held = self.holdings.get(owner)
            if held is not None:
                if held[0] == t:
                    self.ledger.append(("reload", owner, t))
                    return
                if not movable:
                    raise EnosProviderError(f"{owner} already holds a reservation at {held[0]}")
            if not self.fits(t, walltime + self.margin, amount, exclude=owner):
                hint = self.next_fit(t, walltime + self.margin, amount, exclude=owner)
                raise InvalidReservationTime(f"{owner}: Reservation not valid at {t} (could run at {hint})",
                                             next_time=hint)
            self.holdings[owner] = (t, t + walltime, amount)
            self.ledger.append(("move" if held else "reserve", owner, t))

    def release(self, owner: str) -> None:
        with self.lock:
            if self.holdings.pop(owner, None) is not None:
                self.ledger.append(("release", owner))


class SimProvider(Provider):
    """A provider over a :class:`SimTestbed`. ``fail``: phase -> exception (or callable run then):
    phases are ``reserve`` (before booking), ``reserved`` (just after booking: a failure
    mid-start), ``wait`` (in ``init``, after the reservation)."""

    configuration_class = StaticConf

    def __init__(self, name: str, testbed: SimTestbed, walltime: float | None = 3600, amount: int = 1, *,
                 movable: bool = False, concurrent: bool = True, fail: dict[str, Any] | None = None,
                 roles: tuple[str, ...] = ("all",)) -> None:
        super().__init__(StaticConf.from_settings().add_machine(roles=[name], address="127.0.0.1"), name=name)
        self.testbed = testbed
        self.walltime_seconds = walltime
        self.slot_margin = testbed.margin
        self.amount = amount
        self.movable_reservation = movable
        self.concurrent_init = concurrent
        self.fail = dict(fail or {})
        self.role_names = roles
        self.reservation: float | None = None
        self.fetches = 0
        self.test_slot_calls = 0
        self.threads: set[str] = set()

    def _phase(self, phase: str) -> None:
        action = self.fail.get(phase)
        if action is None:
            return
        if callable(action) and not isinstance(action, type) and not isinstance(action, BaseException):
            action()
            return
        raise action

    def _exclude(self) -> str | None:
        return self.name if self.movable_reservation else None

    def availability(self, start: Any, end: Any) -> IntervalSet:
        self.fetches += 1
        free = self.testbed.free_windows(float(start), float(end), self.amount, self._exclude())
        if self.testbed.on_fetch:
            self.testbed.on_fetch(self)
        return free

    def test_slot(self, start: Any, end: Any) -> bool:
        self.test_slot_calls += 1
        return self.testbed.fits(float(start), (self.walltime_seconds or 1) + self.testbed.margin, self.amount,
                                 self._exclude())

    def set_reservation(self, timestamp: Any) -> None:
        self.reservation = float(timestamp)

    def offset_walltime(self, offset: float) -> None:
        if self.walltime_seconds is not None:
            self.walltime_seconds += offset

    def async_init(self, start_time: Any = None, **kwargs: Any) -> None:
        self.threads.add(threading.current_thread().name)
        if start_time is not None:
            self.set_reservation(start_time)
        self._phase("reserve")
        if self.reservation is None:
            raise EnosProviderError(f"{self.name}: no reservation time")
        self.testbed.book(self.name, self.reservation, self.walltime_seconds or 10**9, self.amount,
                          self.movable_reservation)
        self._phase("reserved")

    def init(self, force_deploy: bool = False, start_time: Any = None, **kwargs: Any) -> tuple[Roles, Networks]:
        if self.name in self.testbed.holdings and start_time is None:
            self.testbed.ledger.append(("reload", self.name, self.testbed.holdings[self.name][0]))
        else:
            self.async_init(start_time=start_time)
        self._phase("wait")
        roles = Roles()
        for i in range(self.amount):
            roles.add_one(Host(f"{self.name}-{i + 1}"), list(self.role_names))
        return roles, Networks()

    def destroy(self, wait: bool = False, **kwargs: Any) -> None:
        self.testbed.release(self.name)

    def is_created(self) -> bool:
        return self.name in self.testbed.holdings


def brute_force_earliest(testbeds: list[tuple[SimTestbed, float, int]], start: int, window: int) -> int | None:
    """Earliest integer t in [start, start + window] such that, for every (testbed, length,
    amount), ``amount`` units are free at every second of [t, t + length): the literal check,
    second by second, for integer schedules."""
    for t in range(start, start + window + 1):
        if all(all(tb.free_at(u) >= amount for u in range(t, t + int(length)))
               for tb, length, amount in testbeds):
            return t
    return None
