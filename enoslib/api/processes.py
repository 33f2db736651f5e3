"""execo-style process objects over the same machinery: ``Remote``, ``Put``, ``Get``.

>>> p = Remote("uptime", hosts).run()
>>> p.ok, [r.stdout for r in p.processes]
>>> q = Put(hosts, ["data.csv"], "/tmp/").start()   # runs in the background ...
>>> q.wait().results                                # ... until you wait for it

As in execo, failures do not raise: ``ok`` says whether every host succeeded and
``results`` / ``processes`` hold what each host did. ``raise_for_status()`` raises like
``run_command`` does.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Iterable

from enoslib.api.hosts import RolesLike
from enoslib.api.results import Report, Result, Results


class _Action:
    """Start/wait/run around one call that returns Results."""

    def __init__(self, call: Callable[[], Results]) -> None:
        self._call = call
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.results = Results()

    def _target(self) -> None:
        try:
            self.results = self._call()
        except BaseException as exc:  # re-raised by wait(), in the caller's thread
            self._error = exc

    def start(self) -> "_Action":
        """Start in the background; returns at once."""
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        self._thread = threading.Thread(target=self._target, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> "_Action":
        """Wait for the end (or ``timeout`` seconds); re-raises a local error, if any."""
        if self._thread is None:
            self.start()
        assert self._thread is not None
        self._thread.join(timeout)
        if self._error is not None:
            raise self._error
        return self

    def run(self) -> "_Action":
        """Start and wait."""
        return self.start().wait()

    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def ended(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    @property
    def ok(self) -> bool:
        """Ended and every host succeeded."""
        return self.ended and self._error is None and self.report().ok and bool(self.results)

    @property
    def processes(self) -> list[Result]:
        """One entry per host (``host``, ``stdout``, ``stderr``, ``rc``, ``status``)."""
        return list(self.results)

    def report(self) -> Report:
        return self.results.report()

    def raise_for_status(self) -> Results:
        return self.results.raise_for_status()

    def __repr__(self) -> str:
        state = "ended" if self.ended else "running" if self.started else "not started"
        return f"{type(self).__name__}({state}, {self.results.report().summary()})"


class Remote(_Action):
    """Run ``cmd`` on ``hosts`` (execo's ``Remote``); keyword arguments as for
    :func:`~enoslib.api.run_command` (``run_as``, ``timeout``, ``background`` ...)."""

    def __init__(self, cmd: str, hosts: RolesLike, **kwargs: Any) -> None:
        from enoslib.api.commands import run_command

        kwargs.setdefault("on_error_continue", True)
        super().__init__(lambda: run_command(cmd, hosts, **kwargs))
        self.cmd = cmd


class Put(_Action):
    """Copy local files to ``remote_location`` on ``hosts`` (execo's ``Put``)."""

    def __init__(
        self,
        hosts: RolesLike,
        local_files: Iterable[str | Path] | str,
        remote_location: str = ".",
        **kwargs: Any,
    ) -> None:
        from enoslib.api.files import put

        kwargs.setdefault("on_error_continue", True)
        super().__init__(lambda: put(hosts, local_files, remote_location, **kwargs))


class Get(_Action):
    """Fetch remote files from ``hosts`` into ``local_location/<alias>/`` (execo's ``Get``)."""

    def __init__(
        self,
        hosts: RolesLike,
        remote_files: Iterable[str] | str,
        local_location: str | Path = ".",
        **kwargs: Any,
    ) -> None:
        from enoslib.api.files import get

        kwargs.setdefault("on_error_continue", True)
        super().__init__(lambda: get(hosts, remote_files, local_location, **kwargs))
