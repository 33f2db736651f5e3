"""execo's actions: sets of processes run in parallel (``Remote``, ``Put``, ``Get``, ...).

An action creates its processes when built (``action.processes``, one per host, each with its
``host``), so handlers can be set before ``start()``. It has the processes' lifecycle
(``start``, ``wait``, ``run``, ``kill``, ``reset``, ``expect``, ``write``) and flags
(``started``, ``ended``, ``ok``, ``finished_ok``), its own lifecycle handlers
(:class:`ActionLifecycleHandler`), and ``stats()`` for :class:`~enoslib.execo.Report`.

Hosts are taken as execo takes them (addresses, :class:`~enoslib.execo.Host`) and as enoslib
gives them: a provider's Hosts (their gateway and ssh arguments apply), a role's hosts
(``roles["web"]``) or whole :class:`~enoslib.objects.Roles` (every host once).

Two enoslib additions, which change nothing of execo's behaviour: ``action.results``, the
processes that have ended as enoslib :class:`~enoslib.api.results.Results` (one
:class:`~enoslib.api.results.Result` per host: ``ok``, ``failed``, or ``unreachable`` when ssh
or scp could not reach the host), and ``action.raise_for_status()``, which raises as
:func:`~enoslib.api.run_command` does.

Keyword arguments of an action that are not ``lifecycle_handlers`` / ``name`` are process
arguments (``timeout``, ``ignore_exit_code``, ``nolog_exit_code``, ``stdout_handlers`` ...),
merged into ``process_args`` and given to every process.

``Taktuk*`` are the same API on enoslib's SSH fan-out (one multiplexed connection per host
from this machine; no ``taktuk`` binary is run): scripts written for execo's TaktukRemote,
TaktukPut and TaktukGet run unchanged. ``ChainPut`` relays the file from host to host
(:func:`enoslib.api.files.broadcast`).
"""

from __future__ import annotations

import os
import shlex
import signal
import threading
import time
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from enoslib.execo._conductor import call_handlers, the_conductor
from enoslib.execo.config import (CHAINPUT, SCP, SSH, STDOUT, TAKTUK, configuration,
                                  make_connection_params)
from enoslib.execo.host import get_hosts_list
from enoslib.execo.process import (Process, ProcessBase, ProcessLifecycleHandler, SshProcess,
                                   ssh_host)
from enoslib.execo.report import aggregate_stats
from enoslib.execo.substitutions import Substituter, get_caller_context
from enoslib.objects import Host as _EnosHost

if TYPE_CHECKING:
    from enoslib.api.results import Result, Results

_ACTION_ARGS = ("lifecycle_handlers", "name")


def _split_kwargs(
    process_args: dict[str, Any] | None, kwargs: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    action = {k: kwargs.pop(k) for k in _ACTION_ARGS if k in kwargs}
    merged = dict(process_args or {})
    merged.update(kwargs)
    return action, merged


class ActionLifecycleHandler:
    """Called (in the conductor thread) when an action starts, ends, or is reset."""

    def start(self, action: "Action") -> None:
        pass

    def end(self, action: "Action") -> None:
        pass

    def reset(self, action: "Action") -> None:
        pass


class _EndWatcher(ProcessLifecycleHandler):
    def __init__(self, action: "Action") -> None:
        self.action = action

    def end(self, process: ProcessBase) -> None:
        self.action._check_end()


class Action:
    """A set of processes with one lifecycle. Subclasses fill ``self.processes``."""

    def __init__(self, lifecycle_handlers: Iterable[ActionLifecycleHandler] | None = None,
                 name: str | None = None) -> None:
        self.lifecycle_handlers: list[ActionLifecycleHandler] = list(lifecycle_handlers or [])
        self.name = name
        self.processes: list[ProcessBase] = []
        self._conductor = the_conductor()
        self._cond = self._conductor.condition
        self._init_state()

    def _init_state(self) -> None:
        self.started = False
        self.start_date: float | None = None
        self.end_date: float | None = None
        self._ended = False
        self._killed = False

    def _watch(self, processes: Iterable[ProcessBase]) -> None:
        for p in processes:
            if not any(isinstance(h, _EndWatcher) and h.action is self for h in p.lifecycle_handlers):
                p.lifecycle_handlers.append(_EndWatcher(self))

    # -- flags -------------------------------------------------------------------------------
    def _all_ended(self) -> bool:
        return all(p.ended for p in self.processes)

    @property
    def ended(self) -> bool:
        return self.started and self._ended

    @property
    def running(self) -> bool:
        return self.started and not self.ended

    @property
    def ok(self) -> bool:
        """Every process is ok (see :attr:`ProcessBase.ok`)."""
        return all(p.ok for p in self.processes)

    @property
    def finished_ok(self) -> bool:
        return self.started and self.ended and self.ok

    def stats(self) -> dict[str, Any]:
        stats = aggregate_stats([p.stats() for p in self.processes])
        stats.update(name=self.name or type(self).__name__, start_date=self.start_date,
                     end_date=self.end_date, sub_stats=[])
        return stats

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> "Action":
        """Start every process; returns at once."""
        with self._cond:
            if self.started:
                raise ValueError(f"{self!r} already started (reset() it to run it again)")
            self.started = True
            self.start_date = time.time()
        self._watch(self.processes)
        self._conductor.call(lambda: self._call_lifecycle("start"))
        self._start_processes()
        self._conductor.call(self._check_end)  # nothing to run
        return self

    def _start_processes(self) -> None:
        for p in self.processes:
            p.start()

    def _check_end(self) -> None:
        with self._cond:
            if self._ended or not self.started or not self._all_ended():
                return
            self._ended = True
            self.end_date = time.time()
            self._cond.notify_all()
        self._call_lifecycle("end")

    def _call_lifecycle(self, event: str) -> None:
        call_handlers(self.lifecycle_handlers, event, self)

    def wait(self, timeout: float | None = None) -> "Action":
        """Wait until every process has ended (or ``timeout`` seconds); starts if needed."""
        if not self.started:
            self.start()
        self._conductor.wait_until(lambda: self._ended, timeout, "wait()")
        return self

    def run(self, timeout: float | None = None) -> "Action":
        return self.start().wait(timeout)

    def kill(self, sig: int = signal.SIGTERM, auto_sigterm_timeout: bool = True) -> "Action":
        """Kill every running process."""
        self._killed = True
        for p in self.processes:
            p.kill(sig, auto_sigterm_timeout)
        return self

    def reset(self) -> "Action":
        """Back to not started (running processes are killed first)."""
        for p in self.processes:
            p.reset()
        with self._cond:
            self._init_state()
        self._call_lifecycle("reset")
        return self

    def write(self, string: str | bytes) -> "Action":
        """Write to every process's stdin."""
        for p in self.processes:
            p.write(string)
        return self

    def expect(self, regexes: Any, timeout: float | None | bool = False, stream: int = STDOUT,
               backtrack: bool = True, start_from_current: bool = False,
               ) -> list[tuple[ProcessBase, int | None, Any]]:
        """:meth:`ProcessBase.expect` on every process (one shared ``timeout``); returns
        ``[(process, regex index or None, match or None), ...]``."""
        deadline = None
        if timeout is not None and timeout is not False:
            deadline = time.monotonic() + float(timeout)
        out = []
        for p in self.processes:
            t: float | None | bool = timeout
            if deadline is not None:
                t = max(0.0, deadline - time.monotonic())
            index, match = p.expect(regexes, t, stream, backtrack, start_from_current)
            out.append((p, index, match))
        return out

    # -- enoslib additions --------------------------------------------------------------------
    @property
    def results(self) -> "Results":
        """The processes that have ended, as enoslib Results (one per process, in order)."""
        from enoslib.api.results import Results

        return Results(_process_result(p) for p in self.processes if p.ended)

    def raise_for_status(self) -> "Results":
        """:attr:`results`, or :class:`~enoslib.errors.EnosUnreachableHostsError` /
        :class:`~enoslib.errors.EnosFailedHostsError` as :meth:`Results.raise_for_status
        <enoslib.api.results.Results.raise_for_status>` raises them. The action must have
        ended (``wait()`` or ``run()`` first)."""
        if not self.ended:
            raise RuntimeError(f"{self!r} has not ended: wait() or run() it first")
        return self.results.raise_for_status()

    def __enter__(self) -> "Action":
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def __repr__(self) -> str:
        s = self.stats()
        state = ("not started" if not self.started else "running" if not self.ended
                 else "ok" if self.ok else "not ok")
        return (f"<{s['name']} {len(self.processes)} processes, {state}: {s['num_ok']} ok, "
                f"{s['num_ended']} ended>")


def _process_result(p: ProcessBase) -> "Result":
    """An ended process as an enoslib Result (status from execo's ``ok``, so ignored exit
    codes and timeouts count as ok)."""
    from enoslib.api.results import Result
    from enoslib.api.ssh import is_ssh_failure

    rc, err = p.exit_code, p.stderr
    if isinstance(p, (_FileProcess, _RecordProcess)):
        unreachable = rc == 255  # scp, or a broadcast hop, could not connect
    else:
        unreachable = isinstance(p, SshProcess) and not p.timeouted and is_ssh_failure(rc, err)
    status = "ok" if p.ok else "unreachable" if unreachable else "failed"
    payload: dict[str, Any] = {"cmd": str(p.cmd), "start": p.start_date, "end": p.end_date}
    if p.timeouted:
        payload["timed_out"] = True
    if status != "ok":
        payload["msg"] = (p.error_reason if p.error else "timed out" if p.timeouted
                          else f"exit code {rc}")
    duration = None
    if p.start_date is not None and p.end_date is not None:
        duration = p.end_date - p.start_date
    return Result(
        host=p.host.alias if p.host is not None else "localhost",
        task=str(p.cmd) if isinstance(p.cmd, str) else shlex.join(p.cmd),
        status=status,  # type: ignore[arg-type]
        stdout=p.stdout.rstrip("\r\n"),
        stderr=err.rstrip("\r\n"),
        rc=None if status == "unreachable" else rc,
        changed=status != "unreachable",
        payload=payload,
        duration=duration,
    )


class Remote(Action):
    """``cmd`` on every host, in parallel, over enoslib's shared SSH connections (one
    :class:`SshProcess` per host). ``cmd`` may use ``{{{host}}}`` and ``{{expression}}``
    (see :mod:`enoslib.execo.substitutions`); substituted values are shell-quoted."""

    _process_class: type[SshProcess] = SshProcess

    def __init__(self, cmd: str, hosts: Any, connection_params: dict[str, Any] | None = None,
                 process_args: dict[str, Any] | None = None, **kwargs: Any) -> None:
        action_args, process_args = _split_kwargs(process_args, kwargs)
        super().__init__(**action_args)
        self.cmd = cmd
        self.hosts = get_hosts_list(hosts)
        self.connection_params = connection_params
        subst = Substituter(self.hosts, get_caller_context())
        self.processes = [
            self._process_class(subst(cmd, i), h, connection_params=connection_params, **process_args)
            for i, h in enumerate(self.hosts)
        ]


class TaktukRemote(Remote):
    """execo's TaktukRemote, on enoslib's SSH fan-out (same API as :class:`Remote`)."""


class _FileProcess(Process):
    """scp (and ``mkdir -p`` over ssh first, with ``create_dirs``) for one host."""

    def __init__(self, host: _EnosHost, sources: Sequence[str], dest: str, upload: bool,
                 connection_params: dict[str, Any], create_dirs: bool, **kwargs: Any) -> None:
        direction = "put" if upload else "get"
        super().__init__(f"{direction} {shlex.join(sources)} -> {dest}", close_stdin=True, **kwargs)
        self.host = host
        self.sources, self.dest, self.upload = list(sources), dest, upload
        self.connection_params = connection_params
        self.create_dirs = create_dirs

    def _argv(self) -> tuple[list[str], bool]:
        from enoslib.api.ssh import connection

        conn = connection(ssh_host(self.host, self.connection_params))
        options = [str(o) for o in self.connection_params.get("scp_options") or ()]
        if self.upload:
            paths = [*self.sources, conn.remote(self.dest)]
        else:
            paths = [*(conn.remote(s) for s in self.sources), self.dest]
        scp = conn.scp_argv("-p", "-r", *options, "--", *paths)
        scp[0] = self.connection_params.get("scp") or "scp"
        if not self.create_dirs:
            return scp, False
        if not self.upload:
            os.makedirs(self.dest, exist_ok=True)
            return scp, False
        mkdir = conn.argv(f"mkdir -p -- {shlex.quote(self.dest)}")
        mkdir[0] = self.connection_params.get("ssh") or "ssh"
        return ["/bin/sh", "-c", f"{shlex.join(mkdir)} && exec {shlex.join(scp)}"], False


def _file_list(files: Iterable[str | os.PathLike[str]] | str | os.PathLike[str]) -> list[str]:
    return [str(files)] if isinstance(files, (str, os.PathLike)) else [str(f) for f in files]


class _FileAction(Action):
    """One scp process per host; ``sources`` / ``dest`` substituted per host."""

    def _build(self, hosts: Any, sources: list[str], dest: str, upload: bool,
               connection_params: dict[str, Any] | None, create_dirs: bool,
               process_args: dict[str, Any]) -> None:
        self.hosts = get_hosts_list(hosts)
        self.connection_params = connection_params
        params = make_connection_params(connection_params)
        subst = Substituter(self.hosts, get_caller_context())
        self.processes = [
            _FileProcess(h, [subst(f, i, quote=False) for f in sources], subst(dest, i, quote=False),
                         upload, params, create_dirs, **process_args)
            for i, h in enumerate(self.hosts)
        ]


class Put(_FileAction):
    """Copy ``local_files`` to ``remote_location`` on every host, in parallel (scp over the
    shared connections). Paths may use ``{{{host}}}`` / ``{{expression}}``;
    ``create_dirs=True`` creates ``remote_location`` first."""

    def __init__(self, hosts: Any, local_files: Iterable[str] | str, remote_location: str = ".",
                 connection_params: dict[str, Any] | None = None, create_dirs: bool = False,
                 process_args: dict[str, Any] | None = None, **kwargs: Any) -> None:
        action_args, process_args = _split_kwargs(process_args, kwargs)
        super().__init__(**action_args)
        self.local_files, self.remote_location = _file_list(local_files), remote_location
        self._build(hosts, self.local_files, remote_location, True, connection_params,
                    create_dirs, process_args)


class Get(_FileAction):
    """Copy ``remote_files`` of every host to ``local_location``, in parallel. Use
    ``{{{host}}}`` in ``local_location`` to keep hosts' files apart; ``create_dirs=True``
    creates ``local_location``."""

    def __init__(self, hosts: Any, remote_files: Iterable[str] | str, local_location: str = ".",
                 connection_params: dict[str, Any] | None = None, create_dirs: bool = False,
                 process_args: dict[str, Any] | None = None, **kwargs: Any) -> None:
        action_args, process_args = _split_kwargs(process_args, kwargs)
        super().__init__(**action_args)
        self.remote_files, self.local_location = _file_list(remote_files), str(local_location)
        self._build(hosts, self.remote_files, self.local_location, False, connection_params,
                    create_dirs, process_args)


class TaktukPut(Put):
    """execo's TaktukPut, on enoslib's SSH fan-out (same API as :class:`Put`)."""


class TaktukGet(Get):
    """execo's TaktukGet, on enoslib's SSH fan-out (same API as :class:`Get`)."""


class _RecordProcess(ProcessBase):
    """A process whose outcome is computed elsewhere (one host of a ChainPut)."""

    def __init__(self, cmd: str, host: _EnosHost, **kwargs: Any) -> None:
        super().__init__(cmd, **kwargs)
        self.host = host

    def start(self) -> "ProcessBase":
        with self._cond:
            if self.started:
                raise ValueError(f"{self!r} already started (reset() it to run it again)")
            self.started, self.start_date = True, time.time()
            self.pid = os.getpid()
        self._conductor.call(lambda: self._call_lifecycle("start"))
        return self

    def _signal(self, sig: int) -> None:  # the relay cannot be stopped half-way
        pass

    def complete(self, exit_code: int | None, stdout: str = "", stderr: str = "",
                 error: str | None = None) -> None:
        def finish() -> None:
            if self.ended:
                return
            for stream, text in ((self._out, stdout), (self._err, stderr)):
                stream.feed(text, eof=True)
                stream.eof = True
            with self._cond:
                self.exit_code = exit_code
                if error:
                    self.error, self.error_reason = True, error
                self.ended, self.end_date = True, time.time()
                self._cond.notify_all()
            self._log_failure()
            self._call_lifecycle("end")

        self._conductor.call(finish)


class ChainPut(Action):
    """Send ``local_files`` to ``remote_location`` on every host through a chain: each host
    stores the stream and forwards it to the next (enoslib's
    :func:`~enoslib.api.files.broadcast`: TCP between hosts, no credentials on them, sha256
    checked). One process per host records its outcome. ``remote_location`` may use
    ``{{{host}}}``."""

    def __init__(self, hosts: Any, local_files: Iterable[str] | str, remote_location: str = ".",
                 connection_params: dict[str, Any] | None = None,
                 process_args: dict[str, Any] | None = None, **kwargs: Any) -> None:
        action_args, process_args = _split_kwargs(process_args, kwargs)
        super().__init__(**action_args)
        self.hosts = get_hosts_list(hosts)
        self.local_files, self.remote_location = _file_list(local_files), remote_location
        self.connection_params = make_connection_params(connection_params)
        self.process_args = process_args
        self.processes = [
            _RecordProcess(f"chainput {shlex.join(self.local_files)} -> {remote_location}", h,
                           **process_args)
            for h in self.hosts
        ]

    def _start_processes(self) -> None:
        for p in self.processes:
            p.start()
        threading.Thread(target=self._transfer, name="enoslib-execo-chainput", daemon=True).start()

    def _transfer(self) -> None:
        from enoslib.api.files import broadcast

        params = self.connection_params
        targets = [ssh_host(h, params) for h in self.hosts]
        timeout = float(params.get("chainput_nc_server_timeout") or 30)
        outcome: dict[int, list[Any]] = {i: [0, [], []] for i in range(len(targets))}
        error = None
        try:
            for f in self.local_files:
                if self._killed:
                    break
                dest = self.remote_location
                if os.path.isdir(f):
                    raise ValueError(f"ChainPut sends files, {f!r} is a directory")
                results = broadcast(targets, f, dest, timeout=timeout, on_error_continue=True)
                for i, r in enumerate(results):
                    if r.status != "ok":
                        outcome[i][0] = r.rc if r.rc else 255
                        outcome[i][2].append(f"{f}: {r.stderr}")
                    else:
                        outcome[i][1].append(f"{f}: {r.payload.get('sha256', '')}")
        except Exception as exc:  # a local problem: every host fails with it
            error = f"{type(exc).__name__}: {exc}"
        for i, p in enumerate(self.processes):
            rc, out, err = outcome[i]
            if self._killed and not out:
                rc = -signal.SIGTERM
            assert isinstance(p, _RecordProcess)
            p.complete(None if error else rc, "\n".join(out), "\n".join(err), error)


class Local(Action):
    """One local :class:`Process` as an action."""

    def __init__(self, cmd: str | Sequence[str], process_args: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        action_args, process_args = _split_kwargs(process_args, kwargs)
        super().__init__(**action_args)
        self.cmd = cmd
        self.processes = [Process(cmd, **process_args)]


class ParallelActions(Action):
    """Several actions started together; ended when all have ended."""

    def __init__(self, actions: Iterable[Action], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.actions = list(actions)
        self.processes = [p for a in self.actions for p in a.processes]

    def _start_processes(self) -> None:
        for a in self.actions:
            a.start()

    def reset(self) -> "Action":
        for a in self.actions:
            a.reset()
        return super().reset()


class _Next(ActionLifecycleHandler):
    def __init__(self, parent: "SequentialActions", index: int) -> None:
        self.parent, self.index = parent, index

    def end(self, action: Action) -> None:
        self.parent._next(self.index + 1)


class SequentialActions(Action):
    """Several actions run one after the other (the next starts when the previous ends,
    whatever its outcome); killing it kills the current one and starts no more."""

    def __init__(self, actions: Iterable[Action], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.actions = list(actions)
        self.processes = [p for a in self.actions for p in a.processes]
        for i, a in enumerate(self.actions):
            a.lifecycle_handlers.append(_Next(self, i))

    def _start_processes(self) -> None:
        self._next(0)

    def _next(self, index: int) -> None:
        if self._killed or index >= len(self.actions):
            self._check_end()
            return
        self.actions[index].start()

    def _all_ended(self) -> bool:
        if self._killed:
            return all(a.ended or not a.started for a in self.actions)
        return all(a.ended for a in self.actions)

    def kill(self, sig: int = signal.SIGTERM, auto_sigterm_timeout: bool = True) -> "Action":
        self._killed = True
        for a in self.actions:
            if a.running:
                a.kill(sig, auto_sigterm_timeout)
        self._conductor.call(self._check_end)
        return self

    def reset(self) -> "Action":
        for a in self.actions:
            a.reset()
        return super().reset()


def wait_any_actions(actions: Iterable[Action], timeout: float | None = None) -> list[Action]:
    """Wait until one of ``actions`` has ended (or ``timeout``); returns the ended ones."""
    actions = list(actions)
    the_conductor().wait_until(lambda: not actions or any(a.ended for a in actions), timeout,
                               "wait_any_actions()")
    return [a for a in actions if a.ended]


def wait_all_actions(actions: Iterable[Action], timeout: float | None = None) -> list[Action]:
    """Wait until all ``actions`` have ended (or ``timeout``); returns the ended ones."""
    actions = list(actions)
    deadline = None if timeout is None else time.monotonic() + timeout
    for a in actions:
        a.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
    return [a for a in actions if a.ended]


def get_remote(*args: Any, **kwargs: Any) -> Action:
    """A :class:`Remote` or :class:`TaktukRemote`, per ``configuration['remote_tool']``
    (``remote_tool=`` overrides it)."""
    tool = kwargs.pop("remote_tool", configuration["remote_tool"])
    return (TaktukRemote if tool == TAKTUK else Remote)(*args, **kwargs)


def get_fileput(*args: Any, **kwargs: Any) -> Action:
    """A :class:`Put`, :class:`TaktukPut` or :class:`ChainPut`, per
    ``configuration['fileput_tool']`` (``fileput_tool=`` overrides it)."""
    tool = kwargs.pop("fileput_tool", configuration["fileput_tool"])
    return {TAKTUK: TaktukPut, CHAINPUT: ChainPut}.get(tool, Put)(*args, **kwargs)


def get_fileget(*args: Any, **kwargs: Any) -> Action:
    """A :class:`Get` or :class:`TaktukGet`, per ``configuration['fileget_tool']``
    (``fileget_tool=`` overrides it)."""
    tool = kwargs.pop("fileget_tool", configuration["fileget_tool"])
    return (TaktukGet if tool == TAKTUK else Get)(*args, **kwargs)


__all__ = [
    "Action", "ActionLifecycleHandler", "ChainPut", "Get", "Local", "ParallelActions", "Put",
    "Remote", "SCP", "SSH", "SequentialActions", "TaktukGet", "TaktukPut", "TaktukRemote",
    "get_fileget", "get_fileput", "get_remote", "wait_all_actions", "wait_any_actions",
]
