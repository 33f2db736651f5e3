"""One background thread that watches every running process (execo's "conductor").

It owns a selector over the processes' output pipes and exit notifications (``pidfd``), and
a heap of timers (timeouts, SIGKILL after SIGTERM). Other threads never touch the selector:
they queue a request and wake the thread through a pipe. Output handlers and lifecycle
handlers run in this thread, in the order the events happen, as in execo.

``condition`` is notified whenever a process ends or produces output: ``wait`` and
``expect`` (any thread) block on it.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import resource
import selectors
import threading
import time
from typing import Any, Callable

log = logging.getLogger("enoslib.execo")

_CHUNK = 1 << 16


def _raise_fd_limit() -> None:
    # 3 pipes + a pidfd per process: 1,000 hosts need more than the usual soft limit of 1024
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ValueError, OSError):
        pass


class Conductor:
    def __init__(self) -> None:
        self.condition = threading.Condition(threading.RLock())
        self._requests: list[Callable[[], None]] = []
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread = threading.Thread(target=self._loop, name="enoslib-execo-conductor",
                                        daemon=True)
        self._thread.start()

    @property
    def in_conductor(self) -> bool:
        return threading.current_thread() is self._thread

    # -- requests from any thread ------------------------------------------------------
    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` in the conductor thread (now if already there)."""
        if self.in_conductor:
            fn()
            return
        with self.condition:
            self._requests.append(fn)
        try:
            os.write(self._wake_w, b"x")
        except BlockingIOError:  # already awake
            pass

    def at(self, when: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` in the conductor thread at monotonic time ``when``."""
        self.call(lambda: heapq.heappush(self._timers, (when, next(self._seq), fn)))

    def wait_until(self, predicate: Callable[[], bool], timeout: float | None, what: str) -> bool:
        """Block (not in the conductor thread) until ``predicate()`` holds, checked whenever a
        process ends or outputs, or ``timeout`` seconds pass; returns ``predicate()``."""
        if self.in_conductor:
            raise RuntimeError(f"{what} called from a handler (the conductor thread) would deadlock")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.condition:
            while not predicate():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self.condition.wait(left)
            return True

    # -- used from the conductor thread only -------------------------------------------
    def watch(self, fd: int, on_ready: Callable[[], None]) -> None:
        self._sel.register(fd, selectors.EVENT_READ, on_ready)

    def unwatch(self, fd: int) -> None:
        try:
            self._sel.unregister(fd)
        except (KeyError, ValueError):
            pass

    def _loop(self) -> None:
        while True:
            now = time.monotonic()
            wait = None
            if self._timers:
                wait = max(0.0, self._timers[0][0] - now)
            try:
                events = self._sel.select(wait)
            except InterruptedError:
                continue
            for key, _ in events:
                if key.data is None:
                    try:
                        while os.read(self._wake_r, 4096):
                            pass
                    except BlockingIOError:
                        pass
                    continue
                self._safely(key.data)
            with self.condition:
                requests, self._requests = self._requests, []
            for fn in requests:
                self._safely(fn)
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _, _, fn = heapq.heappop(self._timers)
                self._safely(fn)

    @staticmethod
    def _safely(fn: Callable[[], Any]) -> None:
        try:
            fn()
        except Exception:  # a user handler's bug must not stop every process
            log.exception("error in an execo process handler")


_conductor: Conductor | None = None
_lock = threading.Lock()


def the_conductor() -> Conductor:
    global _conductor
    if _conductor is None:
        with _lock:
            if _conductor is None:
                _raise_fd_limit()
                _conductor = Conductor()
    return _conductor


def call_handlers(handlers: list[Any], event: str, target: object) -> None:
    """``handler.<event>(target)`` for each lifecycle handler; a failing one is logged."""
    for handler in list(handlers):
        try:
            getattr(handler, event)(target)
        except Exception:
            log.exception("lifecycle handler %r of %r failed on %s", handler, target, event)
