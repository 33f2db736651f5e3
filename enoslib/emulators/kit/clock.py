"""Virtual clock driving every time-dependent behaviour of the emulator.

The clock starts at a chosen Unix time (default: now) and then either

* runs at ``speed`` times real time (``speed=1`` is real time, ``speed=60``
  makes one real second last one virtual minute), or
* stands still (``speed=0``) and only moves when a test calls
  :meth:`VirtualClock.advance`; this is the mode tests want: no sleeps, and
  every state transition happens exactly when the test says so.

Both can be mixed: ``advance`` always adds a jump on top of the running time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["Ticker", "VirtualClock"]


class VirtualClock:
    """A thread-safe clock whose time is ``start + speed * real_elapsed + jumps``."""

    def __init__(
        self,
        start: float | None = None,
        speed: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._monotonic = monotonic
        self._lock = threading.Lock()
        # Virtual time at the last re-anchoring, and the real instant it happened.
        self._anchor_virtual = float(time.time() if start is None else start)
        self._anchor_real = monotonic()
        self._speed = float(speed)

    @property
    def speed(self) -> float:
        """How many virtual seconds pass per real second (0: frozen)."""
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if value < 0:
            raise ValueError("speed must be >= 0")
        with self._lock:
            self._reanchor()
            self._speed = float(value)

    def _reanchor(self) -> None:
        real = self._monotonic()
        self._anchor_virtual += (real - self._anchor_real) * self._speed
        self._anchor_real = real

    def now(self) -> float:
        """Current virtual Unix time (float seconds)."""
        with self._lock:
            return self._anchor_virtual + (self._monotonic() - self._anchor_real) * self._speed

    def __call__(self) -> float:
        return self.now()

    def advance(self, seconds: float) -> float:
        """Jump forward by ``seconds`` virtual seconds; returns the new time."""
        if seconds < 0:
            raise ValueError("the clock cannot go backwards")
        with self._lock:
            self._reanchor()
            self._anchor_virtual += seconds
            return self._anchor_virtual

    def set(self, when: float) -> None:
        """Jump to absolute virtual time ``when`` (must not be in the past)."""
        with self._lock:
            self._reanchor()
            if when < self._anchor_virtual:
                raise ValueError("the clock cannot go backwards")
            self._anchor_virtual = float(when)

    def real_seconds_until(self, when: float) -> float | None:
        """Real seconds before virtual time ``when`` comes (None if frozen)."""
        delta = when - self.now()
        if delta <= 0:
            return 0.0
        return None if self._speed == 0 else delta / self._speed


class Ticker:
    """A daemon thread calling ``callback()`` every ``interval`` real seconds.

    The hook schedulers use to apply time-driven transitions while nobody asks:
    nothing is called while the clock is frozen (``speed == 0``), since time
    then only moves through explicit ``advance`` calls. Exceptions raised by
    the callback are passed to ``on_error`` (default: ignored) and never stop
    the thread.

    >>> ticker = Ticker(clock, emulator.tick).start()   # doctest: +SKIP
    >>> ticker.stop()                                   # doctest: +SKIP
    """

    def __init__(
        self,
        clock: VirtualClock,
        callback: Callable[[], object],
        interval: float = 0.2,
        name: str = "emulator-clock",
        on_error: Callable[[BaseException], object] | None = None,
    ) -> None:
        self.clock = clock
        self.callback = callback
        self.interval = interval
        self.name = name
        self.on_error = on_error
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Ticker:
        """Start the thread (idempotent); returns self."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and wait for it (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            if self.clock.speed > 0:
                try:
                    self.callback()
                except Exception as exc:  # noqa: BLE001 - the clock thread must not die
                    if self.on_error is not None:
                        self.on_error(exc)
