"""Dates and durations as the toolbox takes them: epoch seconds, datetimes (naive ones are
local time), ``"YYYY-MM-DD HH:MM:SS"`` strings, timedeltas, ``"H:MM:SS"`` durations; and OAR's
formats (dates in Europe/Paris, durations ``H:MM:SS``)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from enoslib.infra.enos_g5k.oar import PARIS, from_oar_date, to_oar_date
from enoslib.infra.slots import clock_to_seconds

__all__ = [
    "format_date",
    "format_duration",
    "format_oar_date",
    "format_oar_duration",
    "get_seconds",
    "get_unixts",
    "oar_date_to_unixts",
    "oar_duration_to_seconds",
]


def get_unixts(value: Any) -> float | None:
    """A date as epoch seconds (None stays None)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.timestamp() if value.tzinfo else time.mktime(value.timetuple()) + value.microsecond / 1e6
    if isinstance(value, dt.date):
        return time.mktime(value.timetuple())
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"):
            try:
                return get_unixts(dt.datetime.strptime(text, fmt))
            except ValueError:
                continue
    raise ValueError(f"cannot read {value!r} as a date")


def get_seconds(value: Any) -> float | None:
    """A duration as seconds: numbers, timedeltas, ``"H:MM:SS"`` / ``"MM:SS"`` strings."""
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        parsed = clock_to_seconds(text)
        if parsed is not None:
            return parsed
    raise ValueError(f"cannot read {value!r} as a duration")


def format_date(value: Any) -> str:
    """Local ``YYYY-MM-DD HH:MM:SS``."""
    ts = get_unixts(value)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def format_duration(value: Any) -> str:
    """``1d2h3m4s``-style text."""
    seconds = round(get_seconds(value) or 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    out = "".join(f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "m")) if v)
    return out + f"{secs}s" if secs or not out else out


def format_oar_date(value: Any) -> str:
    """A date for OAR: ``YYYY-MM-DD HH:MM:SS`` in Europe/Paris."""
    return to_oar_date(get_unixts(value) or 0)


def format_oar_duration(value: Any) -> str:
    """A duration for OAR: ``H:MM:SS`` (hours may exceed 24)."""
    seconds = int(get_seconds(value) or 0)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def oar_date_to_unixts(text: str) -> float:
    """An OAR date (``YYYY-MM-DD HH:MM:SS``, Paris time) as an epoch time."""
    return from_oar_date(text)


def oar_duration_to_seconds(text: str) -> float:
    """An OAR duration (``H:MM:SS``) in seconds (0 when empty)."""
    return get_seconds(text) or 0.0


def paris_datetime(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, PARIS)
