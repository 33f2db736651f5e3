"""Per-host results of remote operations, whichever path (SSH fast path or Ansible) ran them.

>>> results = en.run_command("uname -r", roles=roles)
>>> results.ok.filter(host="node-1")[0].stdout
>>> results.report()          # counts and durations, execo's Report
>>> results.to_dict()         # plain data, JSON-ready
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Literal

Status = Literal["ok", "failed", "unreachable", "skipped"]
STATUSES: tuple[Status, ...] = ("ok", "failed", "unreachable", "skipped")


@dataclass
class Result:
    """What one task did on one host.

    ``host`` is the host's alias, ``task`` the task name (the command for plain commands).
    ``payload`` holds everything else the task reported (Ansible's full result dict, or
    ``start``/``end``/``cmd``/``timed_out`` for the fast path). ``duration`` is in seconds.
    """

    host: str
    task: str
    status: Status
    stdout: str = ""
    stderr: str = ""
    rc: int | None = None
    changed: bool = False
    payload: dict[str, Any] = field(default_factory=dict)
    duration: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def _row(self, width: int = 60) -> dict[str, Any]:
        def short(text: str) -> str:
            text = text.strip()
            return text if len(text) <= width else text[: width - 1] + "…"

        return {
            "host": self.host,
            "task": short(self.task),
            "status": self.status,
            "rc": self.rc,
            "stdout": short(self.stdout),
            "stderr": short(self.stderr),
        }


def _matches(value: Any, wanted: Any) -> bool:
    if wanted is None:
        return True
    if callable(wanted):
        return bool(wanted(value))
    if isinstance(wanted, (str, int)):
        return value == wanted
    return value in set(wanted)


class Results(list[Result]):
    """A list of :class:`Result` with filters, status views and renderings."""

    def filter(
        self,
        host: str | Iterable[str] | Callable[[str], bool] | None = None,
        task: str | Iterable[str] | Callable[[str], bool] | None = None,
        status: Status | Iterable[str] | Callable[[str], bool] | None = None,
    ) -> "Results":
        """Results matching every given criterion: a value, a collection of values, or a
        predicate. ``host`` may also be a Host object (its alias is used)."""
        host = getattr(host, "alias", host)
        return Results(
            r
            for r in self
            if _matches(r.host, host) and _matches(r.task, task) and _matches(r.status, status)
        )

    @property
    def ok(self) -> "Results":
        return self.filter(status="ok")

    @property
    def failed(self) -> "Results":
        return self.filter(status="failed")

    @property
    def unreachable(self) -> "Results":
        return self.filter(status="unreachable")

    @property
    def skipped(self) -> "Results":
        return self.filter(status="skipped")

    @property
    def hosts(self) -> list[str]:
        """Host aliases, each once, in order."""
        return list(dict.fromkeys(r.host for r in self))

    def by_host(self) -> dict[str, "Results"]:
        out: dict[str, Results] = {}
        for r in self:
            out.setdefault(r.host, Results()).append(r)
        return out

    def to_dict(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self]

    def report(self) -> "Report":
        return Report(self)

    def raise_for_status(self) -> "Results":
        """Raise :class:`~enoslib.errors.EnosUnreachableHostsError` if a host was unreachable,
        else :class:`~enoslib.errors.EnosFailedHostsError` if a task failed; both carry these
        results in ``err.results``. Returns ``self`` otherwise."""
        from enoslib.errors import EnosFailedHostsError, EnosUnreachableHostsError

        unreachable = self.unreachable.hosts
        if unreachable:
            raise EnosUnreachableHostsError(hosts=unreachable, results=self)
        # failures a task declared ignorable (Ansible's ignore_errors) do not raise
        failed = Results(r for r in self.failed if not r.payload.get("ignored"))
        if failed:
            first = failed[0]
            detail = (first.stderr or first.stdout or str(first.payload.get("msg", ""))).strip()
            detail = detail.splitlines()[-1][:200] if detail else ""
            names = ", ".join(failed.hosts[:10]) + (" ..." if len(failed.hosts) > 10 else "")
            message = f"failed on {len(failed.hosts)} host(s): {names}"
            if detail:
                message += (
                    f" (first error on {first.host}, task {first.task!r}, rc={first.rc}: {detail})"
                )
            raise EnosFailedHostsError(message, hosts=failed.hosts, results=self)
        return self

    # -- renderings ---------------------------------------------------------------------
    def __rich__(self) -> Any:
        from enoslib.objects.display import rich_table

        return rich_table((r._row() for r in self), title=f"Results ({self.report().summary()})")

    def _repr_html_(self) -> str:
        from enoslib.objects.display import html_table

        return html_table(r._row(200) for r in self)

    def __repr__(self) -> str:
        return f"Results({self.report().summary()})"


class Report:
    """execo-style summary of results: counts per status and durations."""

    def __init__(self, results: Iterable[Result]) -> None:
        self.results = Results(results)
        self.counts: dict[str, int] = {s: 0 for s in STATUSES}
        for r in self.results:
            self.counts[r.status] = self.counts.get(r.status, 0) + 1
        durations = [r.duration for r in self.results if r.duration is not None]
        self.durations = durations
        self.hosts = len(self.results.hosts)

    @property
    def ok(self) -> bool:
        """True when nothing failed and every host was reached."""
        return self.counts["failed"] == 0 and self.counts["unreachable"] == 0

    def stats(self) -> dict[str, Any]:
        d = self.durations
        return {
            "hosts": self.hosts,
            "results": len(self.results),
            **self.counts,
            "duration_min": min(d) if d else None,
            "duration_mean": statistics.fmean(d) if d else None,
            "duration_max": max(d) if d else None,
        }

    def summary(self) -> str:
        parts = [f"{n} {s}" for s, n in self.counts.items() if n]
        return ", ".join(parts) or "empty"

    def __rich__(self) -> Any:
        from enoslib.objects.display import rich_table

        stats = {k: (f"{v:.3f}s" if isinstance(v, float) else v) for k, v in self.stats().items()}
        return rich_table([stats], title="Report")

    def _repr_html_(self) -> str:
        from enoslib.objects.display import html_table

        return html_table([self.stats()])

    def __repr__(self) -> str:
        return f"Report({self.summary()})"
