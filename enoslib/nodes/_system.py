"""Low-level helpers shared by the lab backends: commands, processes.

Stdlib only. Everything here is about *this* machine; nothing knows about labs.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._types import LabError

#: PATH given to every process we start: never the caller's (pyenv shims, venvs...).
CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def run(
    argv: Sequence[str],
    *,
    input: str | None = None,
    check: bool = True,
    timeout: float | None = 60,
    env: Mapping[str, str] | None = None,
    what: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (never through a shell) and capture its output as text.

    Raises :class:`LabError` naming the command and its stderr when it cannot be
    started, times out, or (with ``check``) exits non-zero.
    """
    label = what or shlex.join(argv)
    try:
        cp = subprocess.run(
            list(argv),
            input=input,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            env=dict(env) if env is not None else None,
            stdin=None if input is not None else subprocess.DEVNULL, check=False)
    except FileNotFoundError as e:
        raise LabError(f"command not found: {argv[0]} (running {label})") from e
    except subprocess.TimeoutExpired as e:
        raise LabError(f"command timed out after {timeout}s: {label}") from e
    if check and cp.returncode != 0:
        raise LabError(
            f"command failed (exit {cp.returncode}): {label}: "
            f"{(cp.stderr or cp.stdout).strip() or 'no output'}"
        )
    return cp


def ip_batch(
    lines: Sequence[str],
    *,
    netns: str | None = None,
    force: bool = False,
    argv_prefix: Sequence[str] = (),
) -> None:
    """Run many ``ip`` commands in one process (``ip -batch``): one fork instead of hundreds.

    With ``force`` every line runs even if some fail (used to clean up), and
    failures are ignored: the caller verifies the end result instead.
    ``argv_prefix`` wraps the ``ip`` command (e.g. ``ip netns exec <ns>``).
    """
    if not lines:
        return
    argv = [*argv_prefix, "ip"]
    if netns:
        argv += ["-n", netns]
    if force:
        argv.append("-force")
    argv += ["-batch", "-"]
    text = "\n".join(lines) + "\n"
    cp = run(argv, input=text, check=False)
    if cp.returncode != 0 and not force:
        shown = "; ".join(lines[:6]) + ("; ..." if len(lines) > 6 else "")
        raise LabError(
            f"command failed (exit {cp.returncode}): {shlex.join(argv)} "
            f"[{shown}]: {cp.stderr.strip()}"
        )


def ip_json(args: Sequence[str], *, netns: str | None = None) -> list[dict[str, Any]]:
    """``ip -j <args>`` parsed."""
    argv = ["ip", "-j"] + (["-n", netns] if netns else []) + list(args)
    out = run(argv).stdout.strip()
    return json.loads(out) if out else []


def delete_links(names: Iterable[str]) -> None:
    """Delete network links by name, quickly and ignoring those already gone.

    Deleting links one by one costs an RCU grace period (~20 ms) each; moving
    them into a throw-away group and deleting the group unregisters them all
    at once (50 veths: ~40 ms instead of ~1 s).
    """
    names = list(dict.fromkeys(names))
    if not names:
        return
    if len(names) <= 2:
        ip_batch([f"link del dev {n}" for n in names], force=True)
        return
    group = secrets.randbelow(2**30) + 2**30  # far from groups people set by hand
    ip_batch([f"link set dev {n} group {group}" for n in names], force=True)
    ip_batch([f"link del group {group}"], force=True)


def existing_links() -> dict[str, str]:
    """``{ifname: alias}`` of every link of the root network namespace."""
    return {d["ifname"]: d.get("ifalias", "") for d in ip_json(["link", "show"])}


def netns_names() -> list[str]:
    """Names of the named network namespaces (``ip netns list``), without stat-ing them."""
    try:
        return sorted(os.listdir("/run/netns"))
    except FileNotFoundError:
        return []


def ns_inode(path: str) -> int | None:
    """Inode identifying a namespace (``/run/netns/x`` or ``/proc/<pid>/ns/net``)."""
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


# --------------------------------------------------------------------------- processes


@dataclass
class ProcInfo:
    """What we need to know about one process to decide whether it is ours."""

    pid: int
    ppid: int
    net: int | None
    mnt: int | None
    cmdline: bytes
    #: Values of the marker variable found in the environment or the command line.
    markers: frozenset[bytes] = frozenset()


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def scan_processes(marker: bytes = b"") -> Iterator[ProcInfo]:
    """Yield every live (non-zombie) process we are allowed to inspect.

    ``marker`` (``b"NAME="``) is looked for in each environment and command
    line: sshd overwrites its environment area with its process title, so a
    marker it must carry is passed as ``-o SetEnv=NAME=value`` (which also
    puts it in the environment of every session it opens).
    """
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid == me:
            continue
        stat = _read(f"/proc/{pid}/stat")
        if not stat:
            continue
        # "pid (comm) state ppid ...": comm may contain spaces and parentheses.
        fields = stat[stat.rfind(b")") + 2 :].split()
        if not fields or fields[0] == b"Z":
            continue
        cmdline = _read(f"/proc/{pid}/cmdline")
        markers: set[bytes] = set()
        if marker:
            tokens = _read(f"/proc/{pid}/environ").split(b"\0")
            tokens += [
                t[len(b"SetEnv="):] for t in cmdline.replace(b"\0", b" ").split()
                if t.startswith(b"SetEnv=")
            ]
            markers = {t[len(marker):] for t in tokens if t.startswith(marker)}
        yield ProcInfo(
            pid=pid,
            ppid=int(fields[1]),
            net=ns_inode(f"/proc/{pid}/ns/net"),
            mnt=ns_inode(f"/proc/{pid}/ns/mnt"),
            cmdline=cmdline,
            markers=frozenset(markers),
        )


def select_processes(
    procs: Iterable[ProcInfo],
    *,
    net_inodes: Iterable[int] = (),
    mnt_inodes: Iterable[int] = (),
    roots: Iterable[int] = (),
) -> set[int]:
    """Pids in any of the namespaces, plus every descendant of ``roots``."""
    procs = list(procs)
    nets, mnts = set(net_inodes), set(mnt_inodes)
    chosen = set()
    for p in procs:
        if (p.net is not None and p.net in nets) or (p.mnt is not None and p.mnt in mnts):
            chosen.add(p.pid)
    roots = set(roots) & {p.pid for p in procs}
    if roots:
        children: dict[int, list[int]] = {}
        for p in procs:
            children.setdefault(p.ppid, []).append(p.pid)
        todo = list(roots)
        while todo:
            pid = todo.pop()
            if pid in chosen and pid not in roots:
                continue
            chosen.add(pid)
            todo.extend(c for c in children.get(pid, ()) if c not in chosen)
    return chosen


def pid_alive(pid: int | None, marker: bytes | None = None) -> bool:
    """True if ``pid`` runs (not a zombie) and, if given, its cmdline contains ``marker``.

    The marker guards against pid reuse after a crash or a reboot of sshd.
    """
    if not pid:
        return False
    stat = _read(f"/proc/{pid}/stat")
    if not stat or stat[stat.rfind(b")") + 2 :].startswith(b"Z"):
        return False
    return marker is None or marker in _read(f"/proc/{pid}/cmdline")


def _stat_fields(pid: int) -> list[bytes]:
    stat = _read(f"/proc/{pid}/stat")
    return stat[stat.rfind(b")") + 2 :].split() if stat else []


def _zombie_children(parents: set[int]) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if len(fields) > 1 and fields[0] == b"Z" and int(fields[1]) in parents:
                found.add(int(entry))
    return found


@contextlib.contextmanager
def _subreaper() -> Iterator[None]:
    """Become a child subreaper for a while (Linux ``prctl``).

    When we SIGKILL a node's sshd and its sessions together, the sessions
    are orphaned before they are reaped. Orphans go to the nearest
    subreaper, else to pid 1, and some machines (containers, VMs) run a pid 1
    that never reaps: ``<defunct>`` sshd would pile up. As a subreaper we
    collect the orphans of the sshd we started ourselves.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        previous = ctypes.c_int(0)
        if libc.prctl(37, ctypes.byref(previous), 0, 0, 0) != 0:  # PR_GET_CHILD_SUBREAPER
            raise OSError
        if not previous.value:
            libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        yield
        return
    try:
        yield
    finally:
        if not previous.value:
            libc.prctl(36, 0, 0, 0, 0)


def kill_processes(
    find: Callable[[], Iterable[int]],
    *,
    children: Mapping[int, subprocess.Popen[bytes]] | None = None,
    timeout: float = 5.0,
) -> None:
    """SIGKILL whatever ``find()`` returns until it returns nothing, and reap what we can.

    Re-scanning matters: sshd may fork a session between a scan and the kill.
    ``children`` are our own Popen objects (waited for through Popen, so it
    knows); orphans handed to us as subreaper are reaped with ``waitpid``.
    A process counts as gone once it is reaped, or is a zombie that some
    other live process (not one being killed) is responsible for.
    """
    children = dict(children or {})
    me = os.getpid()
    deadline = time.monotonic() + timeout

    def gone(pid: int, killing: set[int]) -> bool:
        proc = children.get(pid)
        if proc is not None:
            if proc.poll() is None:
                return False
            del children[pid]
            return True
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        fields = _stat_fields(pid)
        if not fields:
            return True
        if fields[0] != b"Z":
            return False
        ppid = int(fields[1])
        # A zombie whose parent is still dying will be handed over: wait for that.
        return ppid != me and not (ppid in killing and pid_alive(ppid))

    with _subreaper():
        while True:
            pids = set(find())
            if not pids:
                break
            # Children already dead but not yet reaped by the sshd we kill now
            # are orphaned too: wait for them as well.
            waiting = pids | _zombie_children(pids)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            while waiting and time.monotonic() < deadline:
                waiting = {pid for pid in waiting if not gone(pid, pids)}
                if waiting:
                    time.sleep(0.005)
            if time.monotonic() >= deadline:
                left = set(find())
                if left:
                    raise LabError(f"processes still alive after SIGKILL: {sorted(left)}")
                break
    for proc in children.values():  # ours, but already gone before the scan: reap
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.5)
