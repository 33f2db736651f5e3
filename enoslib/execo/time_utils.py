"""execo's ``sleep`` and ``Timer``; the date/duration helpers (``format_date``,
``format_duration``, ``get_seconds``, ``get_unixts``) are those of :mod:`enoslib.g5k.time_utils`."""

from __future__ import annotations

import time
from typing import Any

_SHARED = ("format_date", "format_duration", "get_seconds", "get_unixts")


def _seconds(value: Any) -> float | None:
    if value is None or isinstance(value, (int, float)):
        return value
    from enoslib.g5k.time_utils import get_seconds

    return get_seconds(value)


def _unixts(value: Any) -> float | None:
    if value is None or isinstance(value, (int, float)):
        return value
    from enoslib.g5k.time_utils import get_unixts

    return get_unixts(value)


def sleep(delay: Any = None, until: Any = None) -> float:
    """Sleep ``delay`` (seconds, timedelta, "H:MM:SS") or until the date ``until``, whichever
    comes last; returns the time slept."""
    end = time.time()
    if delay is not None:
        end = max(end, time.time() + float(_seconds(delay) or 0))
    if until is not None:
        end = max(end, float(_unixts(until) or 0))
    left = end - time.time()
    if left > 0:
        time.sleep(left)
    return max(0.0, left)


class Timer:
    """Elapsed time since it was created (or since ``start_date``)."""

    def __init__(self, start_date: Any = None) -> None:
        self._start = float(_unixts(start_date) or time.time())

    def start_date(self) -> float:
        return self._start

    def elapsed(self) -> float:
        return time.time() - self._start

    def wait_elapsed(self, elapsed: Any) -> "Timer":
        """Sleep until ``elapsed`` seconds have passed since the start."""
        sleep(until=self._start + float(_seconds(elapsed) or 0))
        return self


def __getattr__(name: str) -> Any:
    if name in _SHARED:
        from enoslib.g5k import time_utils

        return getattr(time_utils, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
