"""The agents of the module fast path: one Python per host (and become user), kept alive
over the host's multiplexed SSH connection for the process's lifetime; a session of the
host's agent daemon (per host, user and agent version), which outlives the process by
``agent_persist`` (default: ``ssh_control_persist``), so the next process's agents start
warm: ``close_agents(hosts, stop_daemons=True)`` stops the daemons now.

:mod:`enoslib.api._agent` is the remote half (its text is sent with ``python -c``); this is
the controller half: start agents on many hosts at once, exchange length-prefixed JSON frames
with all of them in parallel from one thread (a selector), notice the ones that die
(unreachable when ssh itself failed), and stop them (at exit, or with
:func:`~enoslib.api.ssh.close_connections`). :mod:`enoslib.api.modules` decides what they run.

A module's library (its AnsiballZ zip) is named by :func:`lib_key`, a hash of its files'
content and of the agent's source (kept in the cache dir with the zip's files' hashes, as
the agent's code compiled for hosts whose Python runs this one's bytecode: a new process
hashes and compiles none of it again); a host keeps the libraries it was sent between processes
(see :mod:`enoslib.api._agent`), says which it holds when its agent starts, and is sent a zip
only when it holds no valid copy: a new process neither resends nor re-unpacks them.
"""

from __future__ import annotations

import atexit
import base64
import functools
import hashlib
import io
import json
import logging
import os
import selectors
import shlex
import struct
import subprocess
import threading
import time
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any, Iterable, Mapping

from enoslib.api.commands import wrap
from enoslib.api.ssh import connection, is_ssh_failure
from enoslib.config import cache_store
from enoslib.objects import Host

log = logging.getLogger("enoslib.api.agents")

_HELLO_TIMEOUT = 120.0
# one module run at a time per process (agents answer one request at a time)
LOCK = threading.RLock()


# -- starting and talking to agents --------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _agent_source() -> tuple[bytes, str]:
    """The agent's source and its hash (part of every library key: a changed agent never
    uses what an older one unpacked)."""
    code = (Path(__file__).with_name("_agent.py")).read_bytes()
    return code, hashlib.sha256(code).hexdigest()


@functools.lru_cache(maxsize=None)
def _packed() -> str:
    return base64.b64encode(zlib.compress(_agent_source()[0], 9)).decode()


@functools.lru_cache(maxsize=None)
def _our_bytecode() -> tuple[str | None, str]:
    """This Python's bytecode: its cache tag and magic number (hex), as hosts say theirs."""
    import importlib.util
    import sys

    return sys.implementation.cache_tag, importlib.util.MAGIC_NUMBER.hex()


def _runs_our_bytecode(tag: Any, magic: Any) -> bool:
    """Does a Python of cache tag ``tag`` and magic number ``magic`` run this one's bytecode?"""
    ours = _our_bytecode()
    return bool(ours[0]) and (tag, magic) == ours


def _packed_code(digest: str) -> str:
    """The agent (of hash ``digest``) compiled by this Python, for a host's with the same
    cache tag and magic number (its daemon then compiles nothing), packed as
    :func:`_packed`; kept in the cache dir (a new process compiles nothing either)."""
    import marshal

    from enoslib.config import cache_dir

    name = "-".join((digest[:32], *map(str, _our_bytecode())))
    disk = Path(cache_dir("ansible", "agent")) / f"{name}.json"
    try:
        cached: str = json.loads(disk.read_text())["code"]
        return cached
    except (OSError, ValueError, KeyError, TypeError):
        pass
    code = compile(_agent_source()[0], "<string>", "exec", dont_inherit=True, optimize=0)
    packed = base64.b64encode(zlib.compress(marshal.dumps(code), 6)).decode()
    cache_store(disk, {"code": packed})
    return packed


def _agent_frame(tag: Any, magic: Any) -> bytes:
    """The answer to a relay's ``{"send": "agent", "tag", "magic"}``: the packed agent, and
    its code compiled here when the relay's Python runs this one's bytecode."""
    return _agent_frame_of(_agent_source()[1], tag, magic)


def frame(body: bytes) -> bytes:
    """``body`` as one frame of the agents' protocol (its length, 4 bytes big-endian, first)."""
    return struct.pack(">I", len(body)) + body


def read_frame(stream: IO[bytes]) -> dict[str, Any]:
    """The next frame of a blocking ``stream`` (an agent's stdout), decoded (JSON); raises
    EOFError when the agent exited."""
    head = stream.read(4)
    if len(head) != 4:
        raise EOFError("the agent exited")
    reply: dict[str, Any] = json.loads(stream.read(struct.unpack(">I", head)[0]))
    return reply


@functools.lru_cache(maxsize=8)
def _agent_frame_of(digest: str, tag: Any, magic: Any) -> bytes:
    body = _packed()
    if _runs_our_bytecode(tag, magic):
        body += " " + _packed_code(digest)
    return frame(body.encode())


@functools.lru_cache(maxsize=None)
def _relay_source() -> str:
    """The relay part of the agent's source (what ``python3 -S -c`` runs first)."""
    text = _agent_source()[0].decode()
    start = text.index("# -- relay:")
    return text[start : text.index("# -- end of relay", start)]


def persist_seconds(value: Any = None) -> float:
    """How long (seconds) an idle agent daemon stays on a host: the ``agent_persist``
    setting, or ``ssh_control_persist`` when it is None; ssh's ``ControlPersist`` syntax
    (``600``, ``"600s"``, ``"10m"``, ``"1h30m"``, ``"yes"``: forever; ``0``/``"no"``: no
    daemon, one agent per process as before), see :func:`enoslib.config.duration_seconds`."""
    from enoslib.config import duration_seconds, get_config

    setting = "agent_persist"
    if value is None:
        cfg = get_config()
        value = cfg["agent_persist"]
        if value is None:
            value, setting = cfg["ssh_control_persist"], "ssh_control_persist"
    return duration_seconds(value, setting)


def _python_command(interpreter: str | None, run_as: str | None, args: list[str]) -> str:
    """``args`` run by the host's Python (the configured one, else the first found)."""
    candidates = [interpreter] if interpreter else ["/usr/bin/python3", "python3",
                                                    "/usr/libexec/platform-python", "python"]
    tried = " ".join(shlex.quote(c) for c in candidates)
    argv = " ".join(shlex.quote(a) for a in args)
    script = (
        f"for p in {tried}; do if command -v \"$p\" >/dev/null 2>&1; then "
        f"exec \"$p\" {argv}; fi; done; "
        f"echo 'no Python interpreter found on the host (tried {' '.join(candidates)})' >&2; "
        "exit 127"
    )
    return wrap(script, run_as=run_as)


def _agent_command(interpreter: str | None, run_as: str | None) -> str:
    """The relay (``-S``: no site-packages to scan), given the daemon's version (the hash
    of the agent's source) and its idle time; the agent's packed source only without
    daemons (``agent_persist`` 0): the relay asks for it when no daemon runs (see
    :func:`_agents_for`)."""
    idle = persist_seconds()
    version = _agent_source()[1][:16]
    args = ["-S", "-c", _relay_source() + "relay()\n", version, repr(idle)]
    return _python_command(interpreter, run_as, args + ([] if idle > 0 else [_packed()]))


class _Agent:
    def __init__(self, host: Host, run_as: str | None, interpreter: str | None) -> None:
        self.host = host
        argv = connection(host).argv(_agent_command(interpreter, run_as))
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            assert stream is not None
            os.set_blocking(stream.fileno(), False)
        self.buffer = b""
        self.errors = b""
        self.libs: set[str] = set()  # library keys the host holds (said in its hello)
        self.used: set[str] = set()  # library keys this agent ran a module from
        self.hello: dict[str, Any] | None = None
        self.dead: str | None = None

    def alive(self) -> bool:
        """Neither found dead by an exchange nor exited."""
        return not self.dead and self.proc.poll() is None

    def take_frame(self) -> dict[str, Any] | None:
        if len(self.buffer) < 4:
            return None
        size = struct.unpack(">I", self.buffer[:4])[0]
        if len(self.buffer) < 4 + size:
            return None
        body, self.buffer = self.buffer[4 : 4 + size], self.buffer[4 + size :]
        frame: dict[str, Any] = json.loads(body.decode("utf-8", "surrogateescape"))
        return frame

    def failure(self) -> tuple[str, str]:
        """(status, message) for an agent that died: unreachable when ssh itself failed."""
        try:
            rc = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.close()
            rc = None
        stderr = self.errors.decode("utf-8", "replace")
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        message = lines[-1] if lines else f"connection lost (exit code {rc})"
        if rc == 255 and (is_ssh_failure(rc, stderr) or not lines):
            return "unreachable", message
        return "failed", message

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 15)
            except OSError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()


_AGENTS: dict[tuple[Any, ...], _Agent] = {}
_USERS: dict[str, set[str | None]] = {}  # control path -> users agents ran as (their daemons)


def _agent_key(host: Host, run_as: str | None) -> tuple[Any, ...]:
    return (connection(host).control_path, run_as)


def _interpreter(host: Host) -> str | None:
    from enoslib.api.ansible import _INTERPRETERS, _host_key
    from enoslib.config import get_config

    value = (
        host.extra.get("ansible_python_interpreter")
        or get_config().get("ansible_python_interpreter")
        or _INTERPRETERS.get(_host_key(host))
    )
    return str(value) if value and not str(value).startswith("auto") else None


def _write_some(fd: int, data: bytes) -> bytes:
    """Write what a non-blocking pipe takes of ``data`` now; what is left to write (nothing
    once the agent is gone: its streams end, and _exchange notices it there)."""
    try:
        return data[os.write(fd, data[: 1 << 16]):]
    except BlockingIOError:
        return data
    except OSError:
        return b""


def _exchange(requests: Mapping[_Agent, bytes | None], timeout: float | None = None) -> None:
    """Write each agent's request (if any), then read one frame from each into
    ``agent.reply``; agents whose process ends get ``dead`` set instead."""
    # one agent (a request of a host's thread): poll(2), no epoll instance to make, fill
    # and close per request (~5% of the controller's CPU of a play on the TaskExecutor path)
    sel = selectors.PollSelector() if len(requests) == 1 else selectors.DefaultSelector()
    pending_out: dict[_Agent, bytes] = {}
    waiting = set(requests)
    for agent, data in requests.items():
        agent.reply = None  # type: ignore[attr-defined]
        assert agent.proc.stdout is not None and agent.proc.stderr is not None
        sel.register(agent.proc.stdout, selectors.EVENT_READ, (agent, "out"))
        sel.register(agent.proc.stderr, selectors.EVENT_READ, (agent, "err"))
        if data:  # most requests fit in the pipe: written now, not after a select
            data = _write_some(agent.proc.stdin.fileno(), data)  # type: ignore[union-attr]
        if data:
            pending_out[agent] = data
            sel.register(agent.proc.stdin, selectors.EVENT_WRITE, (agent, "in"))  # type: ignore[arg-type]
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while waiting:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                for agent in waiting:
                    agent.dead = agent.dead or "no answer"
                    agent.close()
                return
            for key, _ in sel.select(left):
                agent, kind = key.data
                if kind == "in":
                    pending_out[agent] = _write_some(key.fd, pending_out[agent])
                    if not pending_out[agent]:
                        sel.unregister(key.fileobj)
                    continue
                chunk = os.read(key.fd, 1 << 16)
                if kind == "err":
                    if chunk:
                        agent.errors = (agent.errors + chunk)[-65536:]
                    else:
                        sel.unregister(key.fileobj)
                    continue
                if not chunk:
                    sel.unregister(key.fileobj)
                    if agent in waiting:
                        waiting.discard(agent)
                        agent.dead = agent.dead or "exited"
                    continue
                agent.buffer += chunk
                frame = agent.take_frame()
                if frame is not None and agent in waiting:
                    agent.reply = frame  # type: ignore[attr-defined]
                    waiting.discard(agent)
    finally:
        for key in list(sel.get_map().values()):
            sel.unregister(key.fileobj)
        sel.close()


def _agents_for(hosts: list[Host], run_as: str | None) -> dict[Host, _Agent | tuple[str, str]]:
    """A live agent per host, started (all at once) where missing; a host whose agent
    cannot start maps to (status, message)."""
    out: dict[Host, _Agent | tuple[str, str]] = {}
    fresh: dict[Host, _Agent] = {}
    for h in hosts:
        key = _agent_key(h, run_as)
        agent = _AGENTS.get(key)
        if agent is not None and not agent.alive():
            agent.close()
            agent = None
        if agent is None:
            agent = fresh[h] = _Agent(h, run_as, _interpreter(h))
            _USERS.setdefault(key[0], {None}).add(run_as)
            _AGENTS[key] = agent
        out[h] = agent
    if fresh:
        # the hosts start their Python meanwhile: import what parsing results needs now
        warm = threading.Thread(target=_import_result_parsing, daemon=True)
        warm.start()
        _exchange(dict.fromkeys(fresh.values(), None), timeout=_HELLO_TIMEOUT)
        # relays that found no daemon running ask for the agent (to start one), then hello
        replies = {a: getattr(a, "reply", None) or {} for a in fresh.values()}
        asked = {a: _agent_frame(r.get("tag"), r.get("magic"))
                 for a, r in replies.items() if r.get("send") == "agent"}
        if asked:
            log.debug("agent sent to %d host(s) (no daemon running there), compiled for %d",
                      len(asked), sum(b" " in frame[4:] for frame in asked.values()))
            _exchange(asked, timeout=_HELLO_TIMEOUT)
        warm.join()
        for h, agent in fresh.items():
            reply = getattr(agent, "reply", None)
            if reply and "hello" in reply:
                agent.hello = reply["hello"]
                agent.libs.update(str(k) for k in agent.hello.get("libs") or ())
                _discovered(h, agent)
                continue
            status_message = agent.failure()
            agent.close()
            _AGENTS.pop(_agent_key(h, run_as), None)
            out[h] = status_message
    return out


def _lib_key(zip_data: str) -> str:
    return _zip_hashes(zip_data, _agent_source()[1])[0]


def _py_files(zip_data: str) -> frozenset[tuple[str, str]]:
    """(name, sha256) of the ``.py`` files of a module's zip."""
    return _zip_hashes(zip_data, _agent_source()[1])[1]


@functools.lru_cache(maxsize=256)
def _zip_hashes(zip_data: str, agent: str) -> tuple[str, frozenset[tuple[str, str]]]:
    """The library key of a module's zip (its files hashed with the agent's hash ``agent``)
    and the (name, sha256) of its ``.py`` files: computed once per zip (its bytes hashed)
    and agent, kept in the cache dir (a new process hashes no file again)."""
    from enoslib.config import cache_dir

    name = hashlib.sha256(f"{agent}\0{zip_data}".encode()).hexdigest()[:32]
    disk = Path(cache_dir("ansible", "libkeys")) / f"{name}.json"
    try:
        cached = json.loads(disk.read_text())
        return str(cached["key"]), frozenset((str(n), str(h)) for n, h in cached["py"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    files = hashlib.sha256(agent.encode())
    py = set()
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(zip_data))) as z:
        for info in sorted(z.infolist(), key=lambda i: i.filename):
            digest = hashlib.sha256(z.read(info))
            files.update(info.filename.encode() + b"\0")
            files.update(digest.digest())
            if info.filename.endswith(".py"):
                py.add((info.filename, digest.hexdigest()))
    key = files.hexdigest()[:40]
    cache_store(disk, {"key": key, "py": sorted(py)})
    return key, frozenset(py)


_FILES: dict[str, frozenset[tuple[str, str]]] = {}  # library key -> its _py_files
_CODE: dict[tuple[str, str], tuple[bytes, bytes] | None] = {}  # (name, sha256) -> compiled


def _bytecode(zip_data: str, skip: frozenset[tuple[str, str]]) -> dict[str, str] | None:
    """The bytecode of the ``.py`` files of a module's zip (but ``skip``), compiled here once
    for hosts whose Python has this one's cache tag and magic number: they store it with the
    library instead of compiling it (see ``_agent._shipped_code``). Code objects name their
    file as in the zip; the host names them after its library file. Kept in the cache dir
    (a new process sending it again compiles nothing)."""
    from enoslib.config import cache_dir

    name = hashlib.sha256(json.dumps([_lib_key(zip_data), *_our_bytecode(),
                                      sorted(skip)]).encode()).hexdigest()[:32]
    disk = Path(cache_dir("ansible", "bytecode")) / f"{name}.json"
    try:
        cached: dict[str, str] | None = json.loads(disk.read_text())
        return cached
    except (OSError, ValueError):
        pass
    out = _compile_zip(zip_data, skip)
    cache_store(disk, out)
    return out


def _compile_zip(zip_data: str, skip: frozenset[tuple[str, str]]) -> dict[str, str] | None:
    import importlib.util
    import marshal

    files = {}
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(zip_data))) as z:
        for info in z.infolist():
            if not info.filename.endswith(".py"):
                continue
            source = z.read(info)
            name = (info.filename, hashlib.sha256(source).hexdigest())
            if name in skip:
                continue
            if name not in _CODE:
                try:
                    code = compile(source, info.filename, "exec", dont_inherit=True, optimize=0)
                    _CODE[name] = (importlib.util.source_hash(source), marshal.dumps(code))
                except (SyntaxError, ValueError):
                    _CODE[name] = None  # compiled (and failing) on the host, as there
            if _CODE[name] is not None:
                files[info.filename] = _CODE[name]
    if not files:
        return None
    raw = zlib.compress(marshal.dumps(files), 6)
    tag, magic = _our_bytecode()
    return {"tag": tag, "magic": magic,
            "sha256": hashlib.sha256(raw).hexdigest(), "data": base64.b64encode(raw).decode()}


def _same_python(agent: _Agent) -> bool:
    """Does the agent's Python run the bytecode this one compiles?"""
    hello = agent.hello or {}
    return _runs_our_bytecode(hello.get("tag"), hello.get("magic"))


def lib_key(payload: Any) -> str:
    """The name of ``payload``'s module library on the hosts: a hash of its files' content
    (paths and bytes, not the zip's timestamps) and of the agent's source."""
    return _lib_key(payload.zip_data)


def run_payload(agents: Iterable[_Agent], payload: Any, request: dict[str, Any] | None = None) -> None:
    """Run ``payload`` (a module with its arguments, from ``modules.payload``) on every
    agent at once, its zip sent only to the agents whose host holds no valid copy; each
    agent's answer in ``agent.reply`` (None when the agent died: ``agent.dead`` says why).
    ``request``: the request to send instead of ``payload``'s own (same module, other
    arguments or environment)."""
    key = lib_key(payload)
    base = dict(payload.request(with_zip=False) if request is None else request)
    base.pop("zip_data", None)
    base["lib"] = key
    pending = list(agents)
    # the same bytes for the hosts in the same state: encoded once
    frames: dict[tuple[bool, frozenset[tuple[str, str]] | None], bytes] = {}
    for attempt in range(2):  # a host whose copy turned out damaged asks for the zip
        requests: dict[_Agent, bytes] = {}
        sent = shipped = 0
        for agent in pending:
            with_zip = attempt > 0 or key not in agent.libs
            skip = None
            if with_zip and _same_python(agent):
                _FILES.setdefault(key, _py_files(payload.zip_data))
                # files whose bytecode the agent has in a library it used: not sent again
                skip = frozenset().union(*(_FILES.get(k, ()) for k in agent.used))
            sent += with_zip
            shipped += skip is not None
            if (with_zip, skip) not in frames:
                req = dict(base, zip_data=payload.zip_data) if with_zip else base
                if skip is not None:
                    req["bytecode"] = _bytecode(payload.zip_data, skip)
                body = json.dumps(req).encode("utf-8", "surrogateescape")
                frames[(with_zip, skip)] = frame(body)
            requests[agent] = frames[(with_zip, skip)]
        if sent:
            log.debug("module library %s (%s): zip sent to %d host(s), with bytecode to %d",
                      key, payload.module, sent, shipped)
        _exchange(requests)
        pending = []
        built = [0, 0, 0]
        for agent in requests:
            reply = getattr(agent, "reply", None)
            if reply is not None and reply.get("need") == key:
                agent.libs.discard(key)
                pending.append(agent)
            elif reply is not None and "rc" in reply:
                agent.libs.add(key)
                agent.used.add(key)
                if reply.get("built"):
                    built[0] += 1
                    built[1] += reply["built"].get("shipped", 0)
                    built[2] += reply["built"].get("compiled", 0)
        if built[0]:
            log.debug("module library %s built on %d host(s): bytecode of %d file(s) sent, "
                      "%d compiled there", key, *built)
        if not pending:
            return


def _discovered(host: Host, agent: _Agent) -> None:
    """An interpreter found by the agent (none configured) is what ansible-core's discovery
    would report: remembered for later ansible-core runs, reported once as a fact."""
    from enoslib.api.ansible import _INTERPRETERS, _host_key

    python = (agent.hello or {}).get("python")
    if python and _interpreter(host) is None:
        _INTERPRETERS[_host_key(host)] = python
        agent.discovered = python  # type: ignore[attr-defined]


def close_agents(hosts: Iterable[Host] | None = None, *, stop_daemons: bool = False) -> None:
    """Stop this process's agents on ``hosts`` (all agents when None): their sessions end,
    the hosts' agent daemons stay (the next process's agents start warm from them) until
    they are idle for ``agent_persist``.

    ``stop_daemons=True`` also asks the daemons of every user this process ran agents as on
    those hosts (the login user included) to exit now, whatever their version; sessions
    other processes have open on them go on until those processes close them."""
    with LOCK:
        hosts = None if hosts is None else list(hosts)
        paths = None if hosts is None else {connection(h).control_path for h in hosts}
        targets: dict[str, tuple[Host, set[str | None]]] = {}
        for key in list(_AGENTS):
            if paths is None or key[0] in paths:
                agent = _AGENTS.pop(key)
                agent.close()
                targets.setdefault(key[0], (agent.host, {None}))[1].add(key[1])
        if not stop_daemons:
            return
        for h in hosts or ():
            path = connection(h).control_path
            targets.setdefault(path, (h, {None}))[1].update(_USERS.get(path, ()))
        _stop_daemons(targets.values())


def _stop_daemons(targets: Iterable[tuple[Host, set[str | None]]]) -> None:
    from enoslib.api.proc import Job, run_jobs

    jobs = []
    for host, users in targets:
        for user in sorted(users, key=str):
            command = _python_command(_interpreter(host), user,
                                      ["-S", "-c", _relay_source() + "stop()\n"])
            jobs.append(Job(connection(host).argv(command), timeout=30))
    run_jobs(jobs)
    for job in jobs:
        if job.rc != 0:
            log.debug("stopping agent daemons: ssh exited %s: %s", job.rc,
                      job.text("stderr").strip()[-200:])


atexit.register(close_agents)


def _import_result_parsing() -> None:
    """What parsing module results imports (ansible-core), imported while the hosts start."""
    try:
        import ansible._internal._errors._error_utils  # noqa: F401
        import ansible.executor.task_result  # noqa: F401
        import ansible.module_utils.json_utils  # noqa: F401
        import ansible.vars.clean  # noqa: F401
    except Exception:  # noqa: BLE001 - imported again (and raising) where used
        pass
