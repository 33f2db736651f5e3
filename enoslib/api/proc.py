"""Run many local processes (ssh, scp) at once from one thread.

A selector multiplexes every child's stdout/stderr, so 1,000 hosts need no 1,000 threads
and no asyncio loop (which would clash with a notebook's running loop). Children get their
own session: a Ctrl-C in the terminal reaches us, and we decide what to kill.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from collections import deque
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Iterable, Iterator

# enough to saturate a machine's sshd's and our CPU, low enough for a 1024-fd limit
MAX_PARALLEL = 200
_CHUNK = 1 << 16


@dataclass(eq=False)
class Job:
    """One process to run. ``stdin`` is bytes to write, an iterator of byte chunks (streamed
    as the process reads), an open file, or None (``/dev/null``). ``timeout`` (seconds)
    kills the process and sets ``timed_out``."""

    argv: list[str]
    stdin: bytes | IO[bytes] | Iterator[bytes] | None = None
    timeout: float | None = None
    tag: Any = None
    # filled in by run_jobs
    rc: int | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    start: float = 0.0
    end: float = 0.0
    timed_out: bool = False
    error: str | None = None
    _out: list[bytes] = field(default_factory=list, repr=False)
    _err: list[bytes] = field(default_factory=list, repr=False)

    @property
    def duration(self) -> float:
        return self.end - self.start

    def text(self, which: str = "stdout") -> str:
        return getattr(self, which).decode("utf-8", errors="replace")


class _Running:
    __slots__ = ("job", "proc", "open_fds", "pending_in", "more_in", "deadline")

    def __init__(self, job: Job, proc: subprocess.Popen[bytes], deadline: float | None) -> None:
        self.job = job
        self.proc = proc
        self.open_fds = 0
        self.pending_in = b""
        self.more_in: Iterator[bytes] | None = None
        self.deadline = deadline


def _start(job: Job, sel: selectors.BaseSelector) -> _Running | None:
    stdin: Any = subprocess.DEVNULL
    if isinstance(job.stdin, (bytes, bytearray)) or hasattr(job.stdin, "__next__"):
        stdin = subprocess.PIPE
    elif job.stdin is not None:
        stdin = job.stdin
    job.start = time.monotonic()
    try:
        proc = subprocess.Popen(
            job.argv,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        job.rc, job.error, job.end = 255, f"cannot run {job.argv[0]}: {exc}", time.monotonic()
        job.stderr = job.error.encode()
        return None
    run = _Running(job, proc, job.start + job.timeout if job.timeout else None)
    for stream, kind in ((proc.stdout, "out"), (proc.stderr, "err")):
        assert stream is not None
        os.set_blocking(stream.fileno(), False)
        sel.register(stream, selectors.EVENT_READ, (run, kind))
        run.open_fds += 1
    if stdin is subprocess.PIPE:
        assert proc.stdin is not None
        if isinstance(job.stdin, (bytes, bytearray)):
            run.pending_in = bytes(job.stdin)
        else:
            run.more_in = job.stdin  # type: ignore[assignment]
            run.pending_in = next(run.more_in, b"")  # type: ignore[arg-type]
        if run.pending_in:
            os.set_blocking(proc.stdin.fileno(), False)
            sel.register(proc.stdin, selectors.EVENT_WRITE, (run, "in"))
        else:
            proc.stdin.close()
    return run


def _finish(run: _Running, sel: selectors.BaseSelector, killed: bool = False) -> None:
    job, proc = run.job, run.proc
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None and not stream.closed:
            try:
                sel.unregister(stream)
            except (KeyError, ValueError):
                pass
            stream.close()
    if killed:
        _kill(proc)
    try:
        # both pipes are closed; a child that still lingers is killed at its deadline
        left = None if run.deadline is None else max(0.1, run.deadline - time.monotonic())
        job.rc = proc.wait(timeout=left)
    except subprocess.TimeoutExpired:
        _kill(proc)
        job.timed_out = True
        job.rc = proc.wait()
    job.end = time.monotonic()
    job.stdout, job.stderr = b"".join(job._out), b"".join(job._err)
    job._out.clear()
    job._err.clear()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_jobs(
    jobs: Iterable[Job],
    max_parallel: int = MAX_PARALLEL,
    on_done: Callable[[Job], None] | None = None,
) -> list[Job]:
    """Run ``jobs`` with at most ``max_parallel`` alive at once; returns them (same order),
    filled in. ``on_done`` is called as each job ends (for progress display).
    """
    jobs = list(jobs)
    todo = deque(jobs)
    sel = selectors.DefaultSelector()
    running: set[_Running] = set()
    try:
        while todo or running:
            while todo and len(running) < max_parallel:
                job = todo.popleft()
                run = _start(job, sel)
                if run is None:
                    if on_done:
                        on_done(job)
                else:
                    running.add(run)
            now = time.monotonic()
            deadlines = [r.deadline for r in running if r.deadline is not None]
            wait = max(0.0, min(deadlines) - now) if deadlines else None
            finished: list[_Running] = []
            for key, _ in sel.select(wait):
                run, kind = key.data
                if kind == "in":
                    try:
                        n = os.write(key.fd, run.pending_in[:_CHUNK])
                        run.pending_in = run.pending_in[n:]
                        while not run.pending_in and run.more_in is not None:
                            run.pending_in = next(run.more_in, None)  # type: ignore[arg-type]
                            if run.pending_in is None:
                                run.pending_in, run.more_in = b"", None
                    except OSError:  # the process stopped reading
                        run.pending_in, run.more_in = b"", None
                    if not run.pending_in:
                        sel.unregister(key.fileobj)
                        key.fileobj.close()  # type: ignore[union-attr]
                    continue
                try:
                    data = os.read(key.fd, _CHUNK)
                except BlockingIOError:
                    continue
                if data:
                    (run.job._out if kind == "out" else run.job._err).append(data)
                    continue
                sel.unregister(key.fileobj)
                key.fileobj.close()  # type: ignore[union-attr]
                run.open_fds -= 1
                if run.open_fds == 0:
                    finished.append(run)
            now = time.monotonic()
            for run in list(running):
                if run in finished:
                    _finish(run, sel)
                elif run.deadline is not None and now >= run.deadline:
                    run.job.timed_out = True
                    _finish(run, sel, killed=True)
                else:
                    continue
                running.discard(run)
                if on_done:
                    on_done(run.job)
    except BaseException:
        for run in running:  # Ctrl-C or a bug: leave no ssh behind
            _kill(run.proc)
            _finish(run, sel)
        raise
    finally:
        sel.close()
    return jobs
