"""Per-host results of remote operations, whichever path (SSH fast path or Ansible) ran them.

>>> results = en.run_command("uname -r", roles=roles)
>>> results.ok.filter(host="node-1")[0].stdout
>>> results.report()          # a ResultsReport: counts per status and durations
>>> results.to_dict()         # plain data, JSON-ready

Statuses are EnOSlib's constants (``STATUS_OK == "OK"``, ``STATUS_FAILED``, ``STATUS_UNREACHABLE``,
``STATUS_SKIPPED``); a result's ``status`` compares equal to them in any case (``"ok"`` too).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import os
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Iterator, Literal, TypeVar

STATUS_OK = "OK"
STATUS_FAILED = "FAILED"
STATUS_UNREACHABLE = "UNREACHABLE"
STATUS_SKIPPED = "SKIPPED"
DEFAULT_ERROR_STATUSES = {STATUS_FAILED, STATUS_UNREACHABLE}
"""The statuses that count as errors (as in EnOSlib)."""

Status = Literal["ok", "failed", "unreachable", "skipped", "OK", "FAILED", "UNREACHABLE", "SKIPPED"]
STATUSES: tuple[str, ...] = ("ok", "failed", "unreachable", "skipped")
"""Lower-case names, the keys of :attr:`ResultsReport.counts`."""


class ResultStatus(str):
    """A result's status, spelled as EnOSlib's constants (``"OK"``, ``"FAILED"`` ...).

    ``==`` ignores case, so ``status == STATUS_OK`` and ``status == "ok"`` both hold; the hash
    is the upper-case one, so ``status in DEFAULT_ERROR_STATUSES`` works too.
    """

    __slots__ = ()

    def __new__(cls, value: str) -> "ResultStatus":
        canonical = str(value).upper()
        if canonical.lower() not in STATUSES:
            raise ValueError(f"unknown result status {value!r}; expected one of {', '.join(STATUSES)}")
        return super().__new__(cls, canonical)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and str.upper(self) == str.upper(other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = str.__hash__


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

    def __post_init__(self) -> None:
        self.status = ResultStatus(self.status)  # type: ignore[assignment]

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    def match(self, **kwargs: Any) -> bool:
        """Whether every ``name=value`` holds (``result.match(host="n1", status=STATUS_OK)``).

        A name that is not a field (``host``, ``task``, ``status``, ``stdout``, ``rc`` ...) is
        looked up in ``payload``; a name found in neither raises AttributeError.
        """
        for name, wanted in kwargs.items():
            if not _matches(self._value(name), wanted):
                return False
        return True

    def _value(self, name: str) -> Any:
        if name in self.__dataclass_fields__:
            return getattr(self, name)
        if name in self.payload:
            return self.payload[name]
        fields = ", ".join(self.__dataclass_fields__)
        raise AttributeError(f"a Result has no {name!r}: neither a field ({fields}) nor a payload key")

    def to_dict(self, include_payload: bool = True) -> dict[str, Any]:
        """Plain data (JSON-ready); ``include_payload=False`` leaves the raw payload out."""
        d = asdict(self)
        d["status"] = str(self.status)
        if not include_payload:
            del d["payload"]
        return d

    def _dumped(self) -> dict[str, Any]:
        """:meth:`to_dict` as ``dump_results`` writes it: a ``no_log`` task's output hidden,
        as ansible-core hides it from its callbacks."""
        if not self.payload.get("_ansible_no_log"):
            return self.to_dict()
        hidden = {"censored": _NO_LOG, "_ansible_no_log": True}
        return {**self.to_dict(include_payload=False), "stdout": "", "stderr": "", "payload": hidden}

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
    if isinstance(wanted, (str, int, float)):
        return bool(value == wanted)
    # a collection of accepted values; == (not hashing) so statuses compare without case
    return any(value == w for w in wanted)


class Results(list[Result]):
    """A list of :class:`Result` with filters, status views and renderings.

    >>> results = Results([Result("node-1", "uptime", "ok", stdout="up 3 days", rc=0),
    ...                    Result("node-2", "uptime", "failed", stderr="boom", rc=1)])
    >>> [r.host for r in results.ok], [(r.host, r.rc) for r in results.failed]
    (['node-1'], [('node-2', 1)])
    >>> results.filter(host="node-1")[0].stdout
    'up 3 days'
    """

    def filter(
        self,
        host: str | Iterable[str] | Callable[[str], bool] | None = None,
        task: str | Iterable[str] | Callable[[str], bool] | None = None,
        status: Status | Iterable[str] | Callable[[str], bool] | None = None,
        **kwargs: Any,
    ) -> "Results":
        """Results matching every given criterion: a value, a collection of values, or a
        predicate. ``host`` may also be a Host object (its alias is used). Other names
        (``rc=0``, ``stdout="x"`` ...) are checked as :meth:`Result.match` does."""
        host = getattr(host, "alias", host)
        return Results(
            r
            for r in self
            if _matches(r.host, host) and _matches(r.task, task) and _matches(r.status, status)
            and (not kwargs or r.match(**kwargs))
        )

    # ``results.ok`` (ours) and ``results.ok(host=...)`` (EnOSlib) both work
    @property
    def ok(self) -> "_StatusView":
        return _StatusView(self.filter(status=STATUS_OK))

    @property
    def failed(self) -> "_StatusView":
        return _StatusView(self.filter(status=STATUS_FAILED))

    @property
    def unreachable(self) -> "_StatusView":
        return _StatusView(self.filter(status=STATUS_UNREACHABLE))

    @property
    def skipped(self) -> "_StatusView":
        return _StatusView(self.filter(status=STATUS_SKIPPED))

    @property
    def hosts(self) -> list[str]:
        """Host aliases, each once, in order."""
        return list(dict.fromkeys(r.host for r in self))

    def by_host(self) -> dict[str, "Results"]:
        out: dict[str, Results] = {}
        for r in self:
            out.setdefault(r.host, Results()).append(r)
        return out

    def to_dict(self, include_payload: bool = True) -> list[dict[str, Any]]:
        return [r.to_dict(include_payload) for r in self]

    def report(self) -> "ResultsReport":
        """Counts per status and durations (:class:`ResultsReport`)."""
        return ResultsReport(self)

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


_NO_LOG = "the output has been hidden due to the fact that 'no_log: true' was specified for this result"

# -- dump_results (EnOSlib's setting): each api call's results appended to a file ---------------
_calls: contextvars.ContextVar[int] = contextvars.ContextVar("enoslib_api_calls", default=0)
_F = TypeVar("_F", bound=Callable[..., Any])


@contextlib.contextmanager
def api_call() -> Iterator[bool]:
    """Mark a public api call that runs something on hosts; yields whether it is the outermost
    one (a call made by another api call, in the same thread, is not): only the outermost
    call's results are dumped."""
    outermost = _calls.get() == 0
    token = _calls.set(_calls.get() + 1)
    try:
        yield outermost
    finally:
        _calls.reset(token)


def dumps_results(func: _F) -> _F:
    """``func`` (returning Results) appends them to the ``dump_results`` file when it is the
    outermost api call and returns (a call that raises dumps nothing, as in EnOSlib)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with api_call() as outermost:
            results = func(*args, **kwargs)
        if outermost:
            dump_results(results)
        return results

    return wrapper  # type: ignore[return-value]


def dump_results(results: Iterable[Result]) -> None:
    """Append ``results`` to the file of the setting ``dump_results`` (nothing when None) as
    one JSON list per line (:meth:`Results.to_dict`, ``no_log`` output hidden); the file is
    created mode 0600. A file that cannot be written is logged (ERROR), as in EnOSlib: the
    call's results are still returned."""
    from enoslib.config import get_config

    path = get_config().get("dump_results")
    if path is None:
        return
    try:
        line = json.dumps([r._dumped() for r in results], default=str) + "\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(line)
    except (OSError, TypeError, ValueError, RecursionError) as exc:
        logging.getLogger(__name__).error("results not dumped to %s: %s", path, exc)


class _StatusView(Results):
    """The results of one status; calling it filters further (EnOSlib's ``results.ok(...)``)."""

    def __call__(self, **kwargs: Any) -> Results:
        return self.filter(**kwargs)


class ResultsReport:
    """A summary of results: counts per status and durations (what ``results.report()``
    gives). Not execo's ``Report``, which sums the figures of processes and actions: that
    one is :class:`enoslib.execo.Report` (``en.Report``)."""

    def __init__(self, results: Iterable[Result]) -> None:
        self.results = Results(results)
        self.counts: dict[str, int] = {s: 0 for s in STATUSES}
        for r in self.results:
            key = str(r.status).lower()
            self.counts[key] = self.counts.get(key, 0) + 1
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
        return f"ResultsReport({self.summary()})"
