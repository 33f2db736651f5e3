"""Files to and from hosts: ``put``, ``get`` (scp over the multiplexed connections, all hosts
in parallel) and ``broadcast`` (one file to many hosts through a chain).

``broadcast`` follows execo's ChainPut idea: the sender streams the file once, to the first
host; every host writes it and streams it on to the next one at the same time, so the
sender's bandwidth is not divided N ways and the transfer takes about one file-time plus
the chain's latency. Hosts relay to each other over plain TCP with a small Python relay
(``python3`` needed on hosts, as for Ansible):

- why not ssh between hosts: that needs credentials on the hosts, either a forwarded agent
  (every key of the user exposed to root on every host) or a temporary key added to
  ``authorized_keys`` (edited concurrently where homes are shared, e.g. over NFS). The
  relay needs neither: each hop listens on an ephemeral port and accepts only a
  connection presenting a random one-time token (given to it over our ssh, never on a
  command line), then exits.
- each hop writes to ``dest.enoslib-part`` and renames on completion; a hop that cannot
  reach the next host skips it and tries the one after.
- at the end every host reports the sha256 of what it wrote; a mismatch is a failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shlex
from pathlib import Path
from typing import Any, Iterable, Iterator

from enoslib.api.commands import exec_commands
from enoslib.api.hosts import RolesLike, get_hosts, safe_dirname
from enoslib.api.proc import Job, run_jobs
from enoslib.api.results import Result, Results, Status, dumps_results
from enoslib.api.ssh import SSH_ERROR, connection
from enoslib.objects import Host, Network

_CHUNK = 1 << 18


def _scp_results(jobs: dict[Host, Job], task: str, payloads: dict[Host, dict[str, Any]]) -> Results:
    out = Results()
    for h, job in jobs.items():
        err = job.text("stderr").strip()
        status: Status
        # scp exits 255 when its ssh could not connect (its message is not always shown)
        if job.error or job.rc == 255 or (job.rc != 0 and SSH_ERROR.search(err)):
            status = "unreachable"
        else:
            status = "ok" if job.rc == 0 else "failed"
        rc = None if status == "unreachable" else job.rc
        out.append(
            Result(h.alias, task, status, "", err, rc, status == "ok", payloads[h], job.duration)
        )
    return out


def host_path(path: str, host: Host) -> str:
    """``path`` with ``{{{alias}}}`` / ``{{{host}}}`` replaced by the host's (filesystem-safe)
    alias / address: distinct destinations when hosts share a filesystem."""
    return path.replace("{{{alias}}}", safe_dirname(host.alias)).replace(
        "{{{host}}}", safe_dirname(host.address)
    )


def _paths(src: str | Path | Iterable[str | Path]) -> list[str]:
    return [str(src)] if isinstance(src, (str, Path)) else [str(s) for s in src]


@dumps_results
def put(
    roles: RolesLike,
    src: str | Path | Iterable[str | Path],
    dest: str,
    *,
    pattern_hosts: str = "all",
    on_error_continue: bool = False,
    timeout: float | None = None,
) -> Results:
    """Copy local file(s)/directories to ``dest`` on every host, in parallel (scp, modes
    and times preserved). With several sources, ``dest`` must be a directory.
    ``{{{alias}}}`` in ``dest`` is replaced per host (see :func:`host_path`)."""
    sources = _paths(src)
    for s in sources:
        if not os.path.exists(s):
            raise FileNotFoundError(f"put: no such local file {s!r}")
    hosts = get_hosts(roles, pattern_hosts)
    jobs = {}
    for h in hosts:
        conn = connection(h)
        jobs[h] = Job(
            conn.scp_argv("-p", "-r", "--", *sources, conn.remote(host_path(dest, h))),
            timeout=timeout,
        )
    run_jobs(jobs.values())
    results = _scp_results(
        jobs, "put", {h: {"src": sources, "dest": host_path(dest, h)} for h in hosts}
    )
    return results if on_error_continue else results.raise_for_status()


@dumps_results
def get(
    roles: RolesLike,
    src: str | Iterable[str],
    dest_dir: str | Path,
    *,
    pattern_hosts: str = "all",
    on_error_continue: bool = False,
    timeout: float | None = None,
) -> Results:
    """Fetch remote file(s)/directories from every host into ``dest_dir/<alias>/``.

    Aliases are made safe as directory names (no ``/``, no leading dot)."""
    sources = _paths(src)
    hosts = get_hosts(roles, pattern_hosts)
    jobs, payloads = {}, {}
    for h in hosts:
        local = Path(dest_dir) / safe_dirname(h.alias)
        local.mkdir(parents=True, exist_ok=True)
        conn = connection(h)
        jobs[h] = Job(
            conn.scp_argv("-p", "-r", "--", *(conn.remote(s) for s in sources), str(local)),
            timeout=timeout,
        )
        payloads[h] = {"src": sources, "dest": str(local)}
    run_jobs(jobs.values())
    results = _scp_results(jobs, "get", payloads)
    return results if on_error_continue else results.raise_for_status()


# The relay run on each host (python3, stdlib only). Modes:
#   listen SID TIMEOUT  token on stdin; print the port; daemonize; receive, store, forward;
#                       write a status file named after SID
#   feed SID PORT       stream stdin to the local listener
#   wait SID TIMEOUT    print the status file once it exists, then remove it
_RELAY = r"""
import hashlib, json, os, socket, sys, tempfile, time
mode, sid = sys.argv[1], sys.argv[2]
status = os.path.join(tempfile.gettempdir(), "enoslib-broadcast-%s.json" % sid)
CHUNK = 1 << 18

def relay(src, header, timeout):
    dest, size, hops = header["dest"], header["size"], header["hops"]
    if os.path.isdir(dest):
        dest = os.path.join(dest, header["name"])
    down, skipped = None, []
    while hops and down is None:
        addr, port, next_dest = hops.pop(0)
        try:
            down = socket.create_connection((addr, port), timeout=timeout)
            down.sendall((json.dumps(dict(header, hops=hops, dest=next_dest)) + "\n").encode())
        except OSError as e:
            skipped.append([addr, str(e)])
            down = None
    part = dest + ".enoslib-part"
    digest, n, down_error = hashlib.sha256(), 0, None
    with open(part, "wb") as out:
        while n < size:
            chunk = src.read(min(CHUNK, size - n))
            if not chunk:
                break
            out.write(chunk)
            digest.update(chunk)
            n += len(chunk)
            if down is not None:
                try:
                    down.sendall(chunk)
                except OSError as e:
                    down_error, down = str(e), None
    if down is not None:
        down.close()
    if n != size:
        os.unlink(part)
        return {"ok": False, "error": "received %d of %d bytes" % (n, size), "skipped": skipped}
    os.chmod(part, header["mode"])
    os.replace(part, dest)
    return {"ok": True, "sha256": digest.hexdigest(), "bytes": n, "dest": dest,
            "skipped": skipped, "down_error": down_error}

if mode == "listen":
    timeout = float(sys.argv[3])
    token = sys.stdin.readline().strip()
    if socket.has_dualstack_ipv6():
        srv = socket.create_server(("", 0), family=socket.AF_INET6, dualstack_ipv6=True)
    else:
        srv = socket.create_server(("", 0))
    print(srv.getsockname()[1], flush=True)
    if os.fork():
        os._exit(0)
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    try:
        srv.settimeout(timeout)
        while True:
            conn, _ = srv.accept()
            conn.settimeout(timeout)
            src = conn.makefile("rb")
            try:
                header = json.loads(src.readline(65536))
            except ValueError:
                header = {}
            if isinstance(header, dict) and header.get("token") == token:
                break
            conn.close()
        srv.close()
        result = relay(src, header, timeout)
    except Exception as e:
        result = {"ok": False, "error": repr(e)}
    with open(status + ".tmp", "w") as out:
        json.dump(result, out)
    os.replace(status + ".tmp", status)
elif mode == "feed":
    s = socket.create_connection(("localhost", int(sys.argv[3])))
    while True:
        chunk = sys.stdin.buffer.read1(CHUNK)
        if not chunk:
            break
        s.sendall(chunk)
    s.close()
elif mode == "wait":
    deadline = time.time() + float(sys.argv[3])
    while not os.path.exists(status) and time.time() < deadline:
        time.sleep(0.05)
    if not os.path.exists(status):
        print(json.dumps({"ok": False, "error": "no status (relay never finished)"}))
        sys.exit(1)
    with open(status) as f:
        print(f.read())
    os.unlink(status)
"""


def _relay(mode: str, sid: str, arg: object) -> str:
    return f"python3 -c {shlex.quote(_RELAY)} {mode} {sid} {shlex.quote(str(arg))}"


def _file_chunks(header: bytes, path: str) -> Iterator[bytes]:
    yield header
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            yield chunk


def _hop_address(host: Host, network: Network | None) -> str:
    if network is not None:
        for dev in sorted(host.net_devices, key=lambda d: d.name):
            found = dev.filter(network)
            if found:
                return sorted(a.ip for a in found)[0]
    return host.address


@dumps_results
def broadcast(
    roles: RolesLike,
    src: str | Path,
    dest: str,
    *,
    pattern_hosts: str = "all",
    network: Network | None = None,
    timeout: float = 60,
    on_error_continue: bool = False,
) -> Results:
    """Send one local file to ``dest`` on every host through a chain of hosts (see the module
    docstring); each host's Result carries the sha256 it computed (``payload["sha256"]``),
    checked against the local file.

    Hosts reach each other at their ``address``, or at their address in ``network`` when
    given (hosts must then have ``net_devices``, see :func:`sync_info`). ``timeout`` is
    how long a hop waits for its upstream (connection or data) before giving up.
    """
    path = str(src)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"broadcast: no such local file {path!r}")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    size, expected = os.path.getsize(path), digest.hexdigest()
    hosts = get_hosts(roles, pattern_hosts)
    sid, token = secrets.token_hex(8), secrets.token_hex(16)

    # 1. a listener on every host; hosts where it cannot start leave the chain
    # a status file per host: hosts may share /tmp (containers, local test hosts)
    sids = {h: f"{sid}-{i}" for i, h in enumerate(hosts)}
    started = exec_commands(
        {h: _relay("listen", sids[h], timeout) for h in hosts},
        task="broadcast",
        stdin=(token + "\n").encode(),
        shown=dict.fromkeys(hosts, "broadcast listen"),
    )
    ports: dict[Host, int] = {}
    final: dict[str, Result] = {}
    for h, r in zip(hosts, started, strict=True):
        if r.status == "ok" and r.stdout.strip().isdigit():
            ports[h] = int(r.stdout.strip())
        else:
            if r.status == "failed" and r.rc == 127:
                r.stderr += "\nbroadcast needs python3 on the hosts (see ensure_python)"
            final[h.alias] = r
    chain = [h for h in hosts if h in ports]

    if chain:
        # 2. stream the file into the first host's listener; it forwards along the chain
        header = {
            "token": token,
            "dest": dest,
            "size": size,
            "name": os.path.basename(path),
            "mode": os.stat(path).st_mode & 0o7777,
            "hops": [[_hop_address(h, network), ports[h], host_path(dest, h)] for h in chain[1:]],
        }
        header["dest"] = host_path(dest, chain[0])
        first = chain[0]
        feed = Job(
            connection(first).argv(_relay("feed", sids[first], ports[first])),
            stdin=_file_chunks((json.dumps(header) + "\n").encode(), path),
        )
        run_jobs([feed])
        # 3. every host says what it stored
        waited = exec_commands(
            {h: _relay("wait", sids[h], timeout * 2 + 30) for h in chain},
            task="broadcast",
            shown=dict.fromkeys(chain, "broadcast wait"),
        )
        for h, r in zip(chain, waited, strict=True):
            final[h.alias] = _check(r, expected, host_path(dest, h), feed if h is first else None)
    results = Results(final[h.alias] for h in hosts)
    return results if on_error_continue else results.raise_for_status()


def _check(r: Result, expected: str, dest: str, feed: Job | None) -> Result:
    if r.status == "unreachable":
        return r
    try:
        status = json.loads(r.stdout)
    except ValueError:
        status = {"ok": False, "error": r.stdout or r.stderr}
    status["expected_sha256"] = expected
    ok = bool(status.get("ok")) and status.get("sha256") == expected
    error = "" if ok else str(status.get("error") or "sha256 mismatch")
    if feed is not None and feed.rc:
        error += f" (sending to the first host failed: {feed.text('stderr').strip()})"
    return Result(
        r.host,
        "broadcast",
        "ok" if ok else "failed",
        "",
        error,
        0 if ok else 1,
        ok,
        {**status, "dest": status.get("dest", dest)},
        r.duration,
    )
