"""execo's ``Report``: the figures of processes, actions and other reports, summed and printed.

>>> print(Report([servers, clients], name="traffic").to_string())
"""

from __future__ import annotations

import time
from typing import Any, Iterable

_COUNTS = (
    "num_processes", "num_started", "num_ended", "num_errors", "num_timeouts",
    "num_forced_kills", "num_non_zero_exit_codes", "num_expect_fail", "num_write_error",
    "num_ok", "num_finished_ok",
)
_LABELS = {
    "num_processes": "processes", "num_started": "started", "num_ended": "ended",
    "num_errors": "errors", "num_timeouts": "timeouts", "num_forced_kills": "forced kills",
    "num_non_zero_exit_codes": "non-zero exit codes", "num_expect_fail": "expect failures",
    "num_write_error": "write errors", "num_ok": "ok", "num_finished_ok": "finished ok",
}
_COLUMNS = (("started", "num_started"), ("ended", "num_ended"), ("errors", "num_errors"),
            ("timeouts", "num_timeouts"), ("forcekilled", "num_forced_kills"),
            ("badretval", "num_non_zero_exit_codes"), ("expectfail", "num_expect_fail"),
            ("writeerror", "num_write_error"), ("ok", "num_ok"), ("finished_ok", "num_finished_ok"))


def empty_stats(name: str | None = None) -> dict[str, Any]:
    """A stats dict as :meth:`Report.stats` returns it, with every count at zero."""
    stats: dict[str, Any] = {"name": name, "start_date": None, "end_date": None, "sub_stats": []}
    stats.update(dict.fromkeys(_COUNTS, 0))
    return stats


def aggregate_stats(all_stats: Iterable[dict[str, Any]], name: str | None = None) -> dict[str, Any]:
    """Sum of the counters; the earliest start and the latest end (None while any part has
    not ended)."""
    total = empty_stats(name)
    starts, ends, unfinished = [], [], False
    for s in all_stats:
        for key in _COUNTS:
            total[key] += s.get(key, 0)
        if s.get("start_date") is not None:
            starts.append(s["start_date"])
        if s.get("end_date") is not None:
            ends.append(s["end_date"])
        elif s.get("num_processes", 0):
            unfinished = True
        total["sub_stats"].append(s)
    total["start_date"] = min(starts) if starts else None
    total["end_date"] = max(ends) if ends and not unfinished else None
    return total


def _date(ts: float | None) -> str:
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) + f".{int(ts % 1 * 1000):03d}"


def _duration(stats: dict[str, Any]) -> str:
    start, end = stats.get("start_date"), stats.get("end_date")
    if start is None or end is None:
        return "-"
    return f"{end - start:.3f} s"


class Report:
    """Aggregates the ``stats()`` of processes, actions and reports given (``reports``, a
    list that :meth:`add` extends). ``to_string()`` prints them; ``stats()`` gives the sums."""

    def __init__(self, reports: Iterable[Any] | None = None, name: str | None = None) -> None:
        self.reports: list[Any] = []
        self.name = name or "Report"
        if reports is not None:
            self.add(reports)

    def add(self, reports: Iterable[Any] | Any) -> "Report":
        if hasattr(reports, "stats"):
            reports = [reports]
        for r in reports:
            if not hasattr(r, "stats"):
                raise TypeError(f"Report takes processes, actions or reports, got {type(r).__name__}")
            self.reports.append(r)
        return self

    def stats(self) -> dict[str, Any]:
        return aggregate_stats([r.stats() for r in self.reports], self.name)

    @property
    def ok(self) -> bool:
        s = self.stats()
        return s["num_ok"] == s["num_processes"]

    def to_string(self, wide: bool = False, brief: bool = False) -> str:
        """A summary: one block (``wide``: one table line) for the whole report, then, unless
        ``brief``, one for each part."""
        stats = self.stats()
        if wide:
            return self._table(stats, brief)
        lines = self._block(stats)
        if not brief:
            for sub in stats["sub_stats"]:
                lines.append("")
                lines += ["  " + line for line in self._block(sub)]
        return "\n".join(lines)

    @staticmethod
    def _block(stats: dict[str, Any]) -> list[str]:
        lines = [
            f"Name: {stats['name']}",
            f"start date:  {_date(stats['start_date'])}",
            f"end date:    {_date(stats['end_date'])}",
            f"duration:    {_duration(stats)}",
        ]
        width = max(len(v) for v in _LABELS.values())
        lines += [f"num {_LABELS[k]:<{width}} {stats[k]}" for k in _COUNTS]
        return lines

    @staticmethod
    def _table(stats: dict[str, Any], brief: bool) -> str:
        rows = [stats] if brief else [*stats["sub_stats"], stats]
        name_w = max([len(str(r["name"])) for r in rows] + [4])
        header = (f"{'Name':<{name_w}}  {'start':<23}  {'end':<23}  {'length':>10}  "
                  + "  ".join(title for title, _ in _COLUMNS))
        out = [header, "-" * len(header)]
        for i, r in enumerate(rows):
            if i == len(rows) - 1 and not brief and len(rows) > 1:
                out.append("-" * len(header))
            out.append(
                f"{str(r['name']):<{name_w}}  {_date(r['start_date']):<23}  "
                f"{_date(r['end_date']):<23}  {_duration(r):>10}  "
                + "  ".join(f"{r[key]:>{len(title)}}" for title, key in _COLUMNS)
            )
        return "\n".join(out)

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        s = self.stats()
        return f"<Report {self.name!r}: {s['num_ok']}/{s['num_processes']} ok>"
