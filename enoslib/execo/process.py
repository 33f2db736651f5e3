"""execo's processes: ``Process`` (local) and ``SshProcess`` (over enoslib's shared SSH).

A process is started asynchronously; the conductor thread (:mod:`._conductor`) collects its
output, calls its handlers, enforces its timeout and notices its end. Nothing raises for a
failing process: flags record what happened and ``ok`` sums them up::

    p = SshProcess("uptime", Host("10.0.0.1", user="root")).run()
    p.ok, p.exit_code, p.stdout

Flags: ``started``, ``ended``, ``running``, ``error`` (could not be run; ``error_reason``),
``timeouted``, ``killed``, ``forced_kill``, ``expect_fail``, ``write_error``, ``exit_code``.
``ok`` is True while not ended, then only if no flag is set (or ignored with
``ignore_error`` / ``ignore_timeout`` / ``ignore_exit_code`` / ``ignore_expect_fail`` /
``ignore_write_error``) and the exit code is 0. Failures are logged (warning) unless
``nolog_*`` says otherwise. Most methods return the process itself (method chaining).
"""

from __future__ import annotations

import atexit
import codecs
import os
import re
import shlex
import signal
import subprocess
import threading
import time
from typing import IO, Any, Iterable, Sequence

from enoslib.execo._conductor import call_handlers, the_conductor
from enoslib.execo.config import STDERR, STDOUT, configuration, log, make_connection_params
from enoslib.execo.host import as_host
from enoslib.objects import Host as _EnosHost

# processes alive now: killed when the interpreter exits (execo's kill_childs_at_end), since
# they run in their own session and a Ctrl-C does not reach them
_alive: set["ProcessBase"] = set()


@atexit.register
def _kill_alive_processes() -> None:
    if not configuration.get("kill_childs_at_end", True):
        return
    pending = []
    for p in list(_alive):
        try:
            if getattr(p, "_pid_buffer", None) is not None and getattr(p, "remote_pid", 0) is None:
                p.killed = True  # its remote pid, when read, gets the remote command killed
                pending.append(p)
            p._signal(signal.SIGTERM)
        except Exception:  # noqa: S110 - best effort at exit
            pass
    # an SshProcess whose remote pid was not read yet (its marker comes on stderr, which may
    # still sit in the pipe when a match on stdout lets the script end): a moment to read it
    deadline = time.monotonic() + 2.0
    for p in pending:
        try:
            p._conductor.wait_until(lambda p=p: p.ended, max(0.0, deadline - time.monotonic()), "exit")
        except Exception:  # noqa: S110 - best effort at exit
            pass


class ProcessLifecycleHandler:
    """Called (in the conductor thread) when a process starts, ends, or is reset."""

    def start(self, process: "ProcessBase") -> None:
        pass

    def end(self, process: "ProcessBase") -> None:
        pass

    def reset(self, process: "ProcessBase") -> None:
        pass


class ProcessOutputHandler:
    """Receives a process's output. Override ``read`` for raw chunks, or ``read_line`` for
    whole lines (with their newline; the last line may lack it, with ``eof=True``)."""

    def __init__(self) -> None:
        self._partial: dict[tuple[int, int], str] = {}

    def read(self, process: "ProcessBase", stream: int, string: str, eof: bool, error: bool) -> None:
        key = (id(process), stream)
        data = self._partial.pop(key, "") + string
        lines = data.splitlines(keepends=True)
        if lines and not lines[-1].endswith(("\n", "\r")):
            rest = lines.pop()
            if eof:
                lines.append(rest)
            else:
                self._partial[key] = rest
        for i, line in enumerate(lines):
            self.read_line(process, stream, line, eof and i == len(lines) - 1, error)
        if eof and not lines:
            self.read_line(process, stream, "", True, error)

    def read_line(self, process: "ProcessBase", stream: int, string: str, eof: bool, error: bool) -> None:
        pass


class _FileSink:
    """Output sent to a file object, a file descriptor or a file name (opened at start)."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.file: IO[str] | None = None

    def open(self) -> None:
        if isinstance(self.target, (str, os.PathLike)):
            self.file = open(self.target, "w", encoding="utf-8")  # noqa: SIM115

    def write(self, string: str) -> None:
        if isinstance(self.target, int):
            os.write(self.target, string.encode())
        elif self.file is not None:
            self.file.write(string)
        else:
            self.target.write(string)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        elif hasattr(self.target, "flush"):
            self.target.flush()


def _sink(handler: Any) -> Any:
    if isinstance(handler, ProcessOutputHandler):
        return handler
    if isinstance(handler, (str, os.PathLike, int)) or hasattr(handler, "write"):
        return _FileSink(handler)
    raise TypeError(
        f"an output handler is a ProcessOutputHandler, a file, a file descriptor or a file name; "
        f"got {type(handler).__name__}"
    )


class _Stream:
    """What one output stream produced: text, lines (for expect), incremental decoding."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.chunks: list[str] = []
        self.lines: list[str] = []
        self.partial = ""
        self.expect_pos = 0
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.eof = False

    def feed(self, text: str, eof: bool) -> None:
        if self.keep and text:
            self.chunks.append(text)
        data = self.partial + text
        lines = data.splitlines(keepends=True)
        self.partial = ""
        if lines and not lines[-1].endswith(("\n", "\r")) and not eof:
            self.partial = lines.pop()
        self.lines.extend(line.rstrip("\r\n") for line in lines)

    @property
    def text(self) -> str:
        if len(self.chunks) > 1:
            self.chunks[:] = ["".join(self.chunks)]
        return self.chunks[0] if self.chunks else ""


class ProcessBase:
    """What every process has: lifecycle, flags, output, handlers, expect."""

    def __init__(
        self,
        cmd: str | Sequence[str],
        timeout: float | None = None,
        ignore_exit_code: bool = False,
        nolog_exit_code: bool = False,
        ignore_timeout: bool = False,
        nolog_timeout: bool = False,
        ignore_error: bool = False,
        nolog_error: bool = False,
        ignore_expect_fail: bool = False,
        nolog_expect_fail: bool = False,
        ignore_write_error: bool = False,
        nolog_write_error: bool = False,
        default_expect_timeout: float | None = None,
        default_stdout_handler: bool = True,
        default_stderr_handler: bool = True,
        lifecycle_handlers: Iterable[ProcessLifecycleHandler] | None = None,
        stdout_handlers: Iterable[Any] | None = None,
        stderr_handlers: Iterable[Any] | None = None,
        name: str | None = None,
        close_stdin: bool = False,
    ) -> None:
        self.cmd = cmd
        self.timeout = timeout
        self.ignore_exit_code = ignore_exit_code
        self.nolog_exit_code = nolog_exit_code
        self.ignore_timeout = ignore_timeout
        self.nolog_timeout = nolog_timeout
        self.ignore_error = ignore_error
        self.nolog_error = nolog_error
        self.ignore_expect_fail = ignore_expect_fail
        self.nolog_expect_fail = nolog_expect_fail
        self.ignore_write_error = ignore_write_error
        self.nolog_write_error = nolog_write_error
        self.default_expect_timeout = default_expect_timeout
        self.default_stdout_handler = default_stdout_handler
        self.default_stderr_handler = default_stderr_handler
        self.lifecycle_handlers: list[ProcessLifecycleHandler] = list(lifecycle_handlers or [])
        self.stdout_handlers: list[Any] = list(stdout_handlers or [])
        self.stderr_handlers: list[Any] = list(stderr_handlers or [])
        self.name = name
        self.close_stdin = close_stdin
        self.host: _EnosHost | None = None
        self._conductor = the_conductor()
        self._cond = self._conductor.condition
        self._generation = 0
        self._init_state()

    # -- state ---------------------------------------------------------------------------
    def _init_state(self) -> None:
        self.started = False
        self.start_date: float | None = None
        self.ended = False
        self.end_date: float | None = None
        self.error = False
        self.error_reason: str | None = None
        self.exit_code: int | None = None
        self.timeouted = False
        self.timeout_date: float | None = None
        self.killed = False
        self.forced_kill = False
        self.expect_fail = False
        self.write_error = False
        self.pid: int | None = None
        self._out = _Stream(self.default_stdout_handler)
        self._err = _Stream(self.default_stderr_handler)
        self._sinks: dict[int, list[Any]] = {}
        self._start_mono = 0.0

    @property
    def stdout(self) -> str:
        return self._out.text

    @property
    def stderr(self) -> str:
        return self._err.text

    @property
    def running(self) -> bool:
        return self.started and not self.ended

    def _flags_ok(self) -> bool:
        return (
            (not self.error or self.ignore_error)
            and (not self.timeouted or self.ignore_timeout)
            and (not self.expect_fail or self.ignore_expect_fail)
            and (not self.write_error or self.ignore_write_error)
        )

    @property
    def ok(self) -> bool:
        """True while not started or running; once ended, True only if nothing went wrong
        (or what went wrong is ignored) and the exit code is 0 (or ignored)."""
        with self._cond:
            if not self.ended:
                return True
            if self.error and self.ignore_error:
                return self._flags_ok()
            return self._flags_ok() and (self.exit_code == 0 or self.ignore_exit_code)

    @property
    def finished_ok(self) -> bool:
        """Started, ended and ok."""
        return self.started and self.ended and self.ok

    def stats(self) -> dict[str, Any]:
        """This process's figures, in the shape :class:`~enoslib.execo.Report` aggregates."""
        with self._cond:
            return {
                "name": self.name or type(self).__name__,
                "start_date": self.start_date,
                "end_date": self.end_date,
                "num_processes": 1,
                "num_started": int(self.started),
                "num_ended": int(self.ended),
                "num_errors": int(self.error),
                "num_timeouts": int(self.timeouted),
                "num_forced_kills": int(self.forced_kill),
                "num_non_zero_exit_codes": int(self.ended and not self.error
                                               and self.exit_code not in (0, None)),
                "num_expect_fail": int(self.expect_fail),
                "num_write_error": int(self.write_error),
                "num_ok": int(self.ok),
                "num_finished_ok": int(self.finished_ok),
                "sub_stats": [],
            }

    # -- lifecycle -------------------------------------------------------------------------
    def _argv(self) -> tuple[list[str], bool]:
        """(argv, use a pty) to spawn; subclasses define it."""
        raise NotImplementedError

    def start(self) -> "ProcessBase":
        """Start the process; returns at once (output is collected in the background)."""
        sinks = {STDOUT: [_sink(h) for h in self.stdout_handlers],
                 STDERR: [_sink(h) for h in self.stderr_handlers]}  # bad handlers raise here
        with self._cond:
            if self.started:
                raise ValueError(f"{self!r} already started (reset() it to run it again)")
            self.started = True
            self.start_date = time.time()
            self._start_mono = time.monotonic()
        self._sinks = sinks
        try:
            for s in (s for group in sinks.values() for s in group):
                if isinstance(s, _FileSink):
                    s.open()
            argv, use_pty = self._argv()
            popen, fds = self._spawn(argv, use_pty)
        except (OSError, ValueError) as exc:
            with self._cond:
                self.error, self.error_reason = True, str(exc)
            self._conductor.call(lambda: self._call_lifecycle("start"))
            self._conductor.call(lambda: self._finish(None))
            return self
        self.pid = popen.pid
        generation = self._generation
        self._conductor.call(lambda: self._watch(popen, fds, generation))
        if self.timeout is not None:
            self._conductor.at(self._start_mono + float(self.timeout),
                               lambda: self._on_timeout(generation))
        return self

    def _spawn(self, argv: list[str], use_pty: bool) -> tuple[subprocess.Popen[bytes], dict[int, int]]:
        if use_pty:
            import pty

            master, slave = pty.openpty()
            try:
                popen = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                         start_new_session=True)
            finally:
                os.close(slave)
            self._stdin_fd: int | None = master
            os.set_blocking(master, False)
            return popen, {master: STDOUT}
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL if self.close_stdin else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self._stdin_fd = None if popen.stdin is None else popen.stdin.fileno()
        self._stdin_file = popen.stdin
        fds = {}
        for stream, which in ((popen.stdout, STDOUT), (popen.stderr, STDERR)):
            assert stream is not None
            os.set_blocking(stream.fileno(), False)
            fds[stream.fileno()] = which
        self._pipes = (popen.stdout, popen.stderr)
        return popen, fds

    # conductor thread --------------------------------------------------------------------
    def _watch(self, popen: subprocess.Popen[bytes], fds: dict[int, int], generation: int) -> None:
        self._popen, self._open = popen, dict(fds)
        _alive.add(self)
        self._exited = False
        self._call_lifecycle("start")
        for fd, which in fds.items():
            self._conductor.watch(fd, lambda fd=fd, which=which: self._on_output(fd, which, generation))
        try:
            self._pidfd: int | None = os.pidfd_open(popen.pid)
        except (AttributeError, OSError):
            self._pidfd = None
            self._poll_exit(generation)
        else:
            self._conductor.watch(self._pidfd, lambda: self._on_exit(generation))

    def _poll_exit(self, generation: int) -> None:
        if generation != self._generation or self.ended:
            return
        if self._popen.poll() is not None:
            self._on_exit(generation)
        else:
            self._conductor.at(time.monotonic() + 0.05, lambda: self._poll_exit(generation))

    def _on_output(self, fd: int, which: int, generation: int) -> None:
        try:
            data = os.read(fd, _CHUNK)
        except BlockingIOError:
            return
        except OSError:  # EIO: pty closed
            data = b""
        if data:
            self._deliver(which, data, eof=False)
            return
        self._conductor.unwatch(fd)
        del self._open[fd]
        self._deliver(which, b"", eof=True)
        if self._exited and not self._open:
            self._finish(generation)

    def _filter(self, which: int, data: bytes) -> bytes:
        return data

    def _deliver(self, which: int, data: bytes, eof: bool) -> None:
        data = self._filter(which, data)
        stream = self._out if which == STDOUT else self._err
        text = stream.decoder.decode(data, final=eof)
        with self._cond:
            stream.feed(text, eof)
            stream.eof = eof
            self._cond.notify_all()
        for sink in self._sinks.get(which, ()):
            try:
                if isinstance(sink, ProcessOutputHandler):
                    sink.read(self, which, text, eof, False)
                elif text:
                    sink.write(text)
            except Exception:
                log.exception("output handler %r of %s failed", sink, self._short())

    def _on_exit(self, generation: int) -> None:
        if generation != self._generation:
            return
        if self._pidfd is not None:
            self._conductor.unwatch(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        self._exited = True
        if not self._open:
            self._finish(generation)
        else:  # children may hold the pipes: drain what is there, then end anyway
            grace = float(configuration.get("pipe_grace", 0.5))
            self._conductor.at(time.monotonic() + grace, lambda: self._finish(generation))

    def _finish(self, generation: int | None) -> None:
        if generation is not None and (generation != self._generation or self.ended):
            return
        if generation is not None:
            for fd, which in list(self._open.items()):
                while True:  # what is already in the pipe
                    try:
                        data = os.read(fd, _CHUNK)
                    except OSError:
                        data = b""
                    if not data:
                        break
                    self._deliver(which, data, eof=False)
                self._conductor.unwatch(fd)
                self._deliver(which, b"", eof=True)
            self._open.clear()
            for f in getattr(self, "_pipes", ()):
                if f is not None:
                    f.close()
            if self._stdin_fd is not None:
                self._close_stdin_fd()
            rc = self._popen.wait()
            _alive.discard(self)
        else:
            rc = None
        for sinks in self._sinks.values():
            for s in sinks:
                if isinstance(s, _FileSink):
                    s.close()
        # waiters see the end only once it is logged and the end handlers have run (what
        # execo guarantees: after run() returns, a handler's side effects are there); the
        # condition is reentrant, so handlers may still read the process's state
        with self._cond:
            self.exit_code = rc
            self.ended = True
            self.end_date = time.time()
            try:
                self._log_failure()
                self._call_lifecycle("end")
            finally:
                self._cond.notify_all()

    def _close_stdin_fd(self) -> None:
        f = getattr(self, "_stdin_file", None)
        try:
            if f is not None:
                f.close()
            elif self._stdin_fd is not None:
                os.close(self._stdin_fd)
        except OSError:
            pass
        self._stdin_fd, self._stdin_file = None, None

    def _call_lifecycle(self, event: str) -> None:
        call_handlers(self.lifecycle_handlers, event, self)

    def _on_timeout(self, generation: int) -> None:
        if generation != self._generation or self.ended:
            return
        with self._cond:
            self.timeouted = True
            self.timeout_date = time.time()
        self.kill()

    def _log_failure(self) -> None:
        if self.ok:
            return
        reasons = []
        if self.error and not self.nolog_error:
            reasons.append(f"error: {self.error_reason}")
        if self.timeouted and not self.nolog_timeout and not self.ignore_timeout:
            reasons.append(f"timeout after {self.timeout} s")
        if self.expect_fail and not self.nolog_expect_fail and not self.ignore_expect_fail:
            reasons.append("expect failed")
        if self.write_error and not self.nolog_write_error and not self.ignore_write_error:
            reasons.append("write error")
        if (not self.error and not self.timeouted and self.exit_code != 0
                and not self.nolog_exit_code and not self.ignore_exit_code):
            reasons.append(f"exit code {self.exit_code}")
        if reasons:
            err = self.stderr.strip()
            log.warning("%s: %s%s", self._short(), ", ".join(reasons),
                        f"; stderr: {err[-500:]}" if err else "")

    # -- control -------------------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> "ProcessBase":
        """Wait until the process ends (or ``timeout`` seconds pass); starts it if needed."""
        if not self.started:
            self.start()
        self._conductor.wait_until(lambda: self.ended, timeout, "wait()")
        return self

    def run(self, timeout: float | None = None) -> "ProcessBase":
        """Start, then wait for the end."""
        return self.start().wait(timeout)

    def kill(self, sig: int = signal.SIGTERM, auto_sigterm_timeout: bool = True) -> "ProcessBase":
        """Send ``sig`` (to the process and the children of its session); after SIGTERM, send
        SIGKILL ``configuration['kill_timeout']`` seconds later if it is still alive."""
        with self._cond:
            if not self.running or self.pid is None:
                return self
            self.killed = True
        self._signal(sig)
        if auto_sigterm_timeout and sig != signal.SIGKILL:
            generation = self._generation
            self._conductor.at(time.monotonic() + float(configuration["kill_timeout"]),
                               lambda: self._force_kill(generation))
        return self

    def _force_kill(self, generation: int) -> None:
        if generation == self._generation and not self.ended:
            self.forced_kill = True
            self._signal(signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        if self.pid is None:
            return
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            try:
                os.kill(self.pid, sig)
            except OSError:
                pass

    def reset(self) -> "ProcessBase":
        """Back to the not-started state (killing and waiting for it if it runs)."""
        if self.running:
            self.kill(signal.SIGKILL)
            self.wait()
        with self._cond:
            self._generation += 1
            self._init_state()
        self._call_lifecycle("reset")
        return self

    def write(self, string: str | bytes) -> "ProcessBase":
        """Write to the process's stdin (a failure sets ``write_error``)."""
        data = string.encode() if isinstance(string, str) else bytes(string)
        fd = getattr(self, "_stdin_fd", None)
        try:
            if fd is None or not self.running:
                raise OSError("stdin is closed (process not running, or close_stdin)")
            view = memoryview(data)
            while view:
                try:
                    n = os.write(fd, view)
                except BlockingIOError:
                    time.sleep(0.01)
                    continue
                view = view[n:]
        except OSError as exc:
            with self._cond:
                self.write_error = True
            if not self.nolog_write_error and not self.ignore_write_error:
                log.warning("%s: write to stdin failed: %s", self._short(), exc)
        return self

    def expect(
        self,
        regexes: str | re.Pattern[str] | Sequence[str | re.Pattern[str]],
        timeout: float | None | bool = False,
        stream: int = STDOUT,
        backtrack: bool = True,
        start_from_current: bool = False,
    ) -> tuple[int | None, re.Match[str] | None]:
        """Wait for a line of ``stream`` matching one of ``regexes``; returns ``(index of the
        regex, match)``, or ``(None, None)`` when ``timeout`` passes (default:
        ``default_expect_timeout``) or the process ends first (``expect_fail`` is then set).

        Each call continues after the line the previous one matched; ``backtrack=False``
        (or ``start_from_current=True``) looks only at output arriving after the call."""
        if isinstance(regexes, (str, re.Pattern)):
            regexes = [regexes]
        patterns = [re.compile(r) if isinstance(r, str) else r for r in regexes]
        if timeout is False:
            timeout = self.default_expect_timeout
        if not self.started:
            raise ValueError(f"expect() on {self._short()} which is not started")
        if self._conductor.in_conductor:
            raise RuntimeError("expect() called from a handler (the conductor thread) would deadlock")
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        out = self._out if stream == STDOUT else self._err
        with self._cond:
            if start_from_current or not backtrack:
                out.expect_pos = len(out.lines)
            while True:
                while out.expect_pos < len(out.lines):
                    line = out.lines[out.expect_pos]
                    out.expect_pos += 1
                    for i, pattern in enumerate(patterns):
                        match = pattern.search(line)
                        if match:
                            return i, match
                if out.eof or self.ended:
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(left)
            self.expect_fail = True
        if not self.nolog_expect_fail and not self.ignore_expect_fail:
            log.warning("%s: expect %s: no match%s", self._short(),
                        [p.pattern for p in patterns],
                        " (timeout)" if not self.ended else " (process ended)")
        return None, None

    # -- context manager, strings --------------------------------------------------------------
    def __enter__(self) -> "ProcessBase":
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def _short(self) -> str:
        where = f" on {self.host.alias}" if self.host is not None else ""
        return f"{self.name or type(self).__name__}({_cmd_text(self.cmd)!r}{where})"

    def _state(self) -> str:
        if not self.started:
            return "not started"
        parts = ["running" if not self.ended else f"exit_code={self.exit_code}"]
        for flag in ("error", "timeouted", "killed", "forced_kill", "expect_fail", "write_error"):
            if getattr(self, flag):
                parts.append(flag)
        if self.ended:
            parts.append("ok" if self.ok else "not ok")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"<{self._short()} {self._state()}>"

    def __str__(self) -> str:
        return repr(self)


def _cmd_text(cmd: str | Sequence[str]) -> str:
    return cmd if isinstance(cmd, str) else shlex.join(cmd)


_CHUNK = 1 << 16


class Process(ProcessBase):
    """A local process. ``cmd`` is a string (split like a shell would, or run by ``/bin/sh``
    when ``shell=True``) or a list of arguments. ``pty=True`` runs it on a terminal (stdout
    and stderr then merge). ``kill()`` signals its whole session."""

    def __init__(self, cmd: str | Sequence[str], shell: bool = False, pty: bool = False,
                 kill_subprocesses: bool | None = None, **kwargs: Any) -> None:
        super().__init__(cmd, **kwargs)
        self.shell = shell
        self.pty = pty
        self.kill_subprocesses = kill_subprocesses

    def _argv(self) -> tuple[list[str], bool]:
        if self.shell:
            return ["/bin/sh", "-c", _cmd_text(self.cmd)], self.pty
        if isinstance(self.cmd, str):
            argv = shlex.split(self.cmd)
            if not argv:
                raise ValueError("empty command")
            return argv, self.pty
        return [str(a) for a in self.cmd], self.pty

    def _signal(self, sig: int) -> None:
        if self.kill_subprocesses is False and self.pid is not None:
            try:
                os.kill(self.pid, sig)
            except OSError:
                pass
            return
        super()._signal(sig)


# The remote command tells us its process group (sshd makes every session a new one) on its
# first stderr line, so kill() and timeouts end the remote command, not only our local ssh.
_PID_MARK = "__enoslib_execo_pid__"
_PID_LINE = re.compile(rb"(?:^|\n)" + _PID_MARK.encode() + rb"(\d+)\n")


def ssh_host(host: str | _EnosHost, connection_params: dict[str, Any]) -> _EnosHost:
    """The enoslib Host to connect to: ``host`` completed by the connection parameters
    (the host's own user/keyfile/port win, as in execo)."""
    h = as_host(host)
    address = h.address
    rewrite = connection_params.get("host_rewrite_func")
    if rewrite is not None:
        address = str(rewrite(address))
    extra = dict(h.extra)
    jump = connection_params.get("jump_host")
    if jump and "gateway" not in extra:
        jh = as_host(jump)
        extra.update(gateway=jh.address, gateway_user=jh.user, gateway_port=jh.port)
    options = list(connection_params.get("ssh_options") or ())
    checking = connection_params.get("strict_host_key_checking")
    if checking is not None:
        if str(checking).lower() in ("no", "false", "0"):  # gateway included
            extra["ansible_host_key_checking"] = False
        else:
            options += ["-o", f"StrictHostKeyChecking={checking}"]
    if options:
        previous = str(extra.get("ansible_ssh_extra_args") or "")
        extra["ansible_ssh_extra_args"] = " ".join(filter(None, [previous, shlex.join(options)]))
    return _EnosHost(
        address,
        alias=h.alias,
        user=h.user or connection_params.get("user"),
        keyfile=h.keyfile or connection_params.get("keyfile"),
        port=h.port or connection_params.get("port"),
        extra=extra,
    )


def remote_command(cmd: str, connection_params: dict[str, Any], mark_pid: bool) -> str:
    """The command line sent to the remote shell: ``cmd`` under nice/ionice, after the
    pid marker."""
    prefix = ""
    if connection_params.get("nice") is not None:
        prefix += f"nice -n {int(connection_params['nice'])} "
    if connection_params.get("ionice") is not None:
        prefix += f"ionice -c {int(connection_params['ionice'])} "
    if prefix:
        cmd = f"{prefix}sh -c {shlex.quote(cmd)}"
    if mark_pid:
        cmd = f"echo {_PID_MARK}$$ >&2; {cmd}"
    return cmd


class SshProcess(ProcessBase):
    """``cmd`` run on ``host`` over enoslib's shared, multiplexed SSH connection to it.

    ``host`` is an address, an execo :class:`~enoslib.execo.Host` or any enoslib Host (its
    gateway and ssh arguments apply). ``connection_params`` completes
    ``default_connection_params`` (see :mod:`enoslib.execo.config`). ``kill()`` and timeouts
    stop the remote command (its whole process group), not only the local ssh.
    """

    def __init__(self, cmd: str, host: str | _EnosHost,
                 connection_params: dict[str, Any] | None = None, pty: bool | None = None,
                 **kwargs: Any) -> None:
        super().__init__(cmd, **kwargs)
        self.host = as_host(host)
        self.connection_params = make_connection_params(connection_params)
        self.pty = self.connection_params.get("pty", False) if pty is None else pty
        self._ssh_host: _EnosHost | None = None

    def _init_state(self) -> None:
        super()._init_state()
        self.remote_pid: int | None = None
        self._pid_buffer: bytes | None = b""

    def _argv(self) -> tuple[list[str], bool]:
        from enoslib.api.ssh import connection

        self._ssh_host = ssh_host(self.host, self.connection_params)
        conn = connection(self._ssh_host)
        self.remote_cmd = remote_command(str(self.cmd), self.connection_params,
                                         mark_pid=not self.pty)
        if self.pty:
            self._pid_buffer = None
        argv = conn.argv(self.remote_cmd)
        argv[0] = self.connection_params.get("ssh") or "ssh"
        if self.pty:
            argv.insert(1, "-tt")
        return argv, False

    def _filter(self, which: int, data: bytes) -> bytes:
        # stderr is held back until the pid marker line is seen (then removed), or cannot
        # come any more (ssh failed before running the command: its messages pass through)
        if which != STDERR or self._pid_buffer is None:
            return data
        buffered = self._pid_buffer + data
        match = _PID_LINE.search(buffered)
        if match:
            self.remote_pid = int(match.group(1))
            self._pid_buffer = None
            if self.killed and self._ssh_host is not None:  # killed before we knew the pid
                _kill_remote(self._ssh_host, self.remote_pid, signal.SIGKILL, self.connection_params)
            start = match.start() + (1 if buffered[match.start():match.start() + 1] == b"\n" else 0)
            return buffered[:start] + buffered[match.end():]
        if len(buffered) > 4096 or not data:
            self._pid_buffer = None
            return buffered
        self._pid_buffer = buffered
        return b""

    def _signal(self, sig: int) -> None:
        if self.remote_pid is not None and self._ssh_host is not None:
            _kill_remote(self._ssh_host, self.remote_pid, sig, self.connection_params)
        super()._signal(sig)


def _kill_remote(host: _EnosHost, pid: int, sig: int, connection_params: dict[str, Any]) -> None:
    """Signal a remote process group over the host's connection, in the background."""
    from enoslib.api.ssh import connection

    argv = connection(host).argv(f"kill -{int(sig)} -- -{int(pid)} 2>/dev/null")
    argv[0] = connection_params.get("ssh") or "ssh"
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        return
    threading.Thread(target=proc.wait, daemon=True, name="enoslib-execo-kill").start()


def get_process(*args: Any, **kwargs: Any) -> ProcessBase:
    """A :class:`SshProcess` when a ``host`` (keyword or second argument) is given, else a
    :class:`Process`."""
    host = kwargs.get("host", args[1] if len(args) > 1 else None)
    if host is not None:
        return SshProcess(*args, **kwargs)
    kwargs.pop("host", None)
    kwargs.pop("connection_params", None)
    return Process(*args, **kwargs)
