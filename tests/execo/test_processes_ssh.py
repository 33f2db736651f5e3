"""execo's process API over SSH on real local hosts: SshProcess, Remote, TaktukRemote, Put,
Get, ChainPut, timeouts and kills that reach the remote command, failing hosts, expect,
substitutions, connection parameters, Report."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from enoslib.execo import (ChainPut, Get, Host, ParallelActions, Put, Remote, Report, SshProcess,
                           TaktukGet, TaktukPut, TaktukRemote, get_fileput, get_remote)
from enoslib.objects import Host as EnosHost

pytestmark = pytest.mark.root


def _alive(host: EnosHost, pid: int) -> bool:
    """Whether ``pid`` is still our ``sleep 60``: lab hosts share the machine's pid space
    (pid_max may be 32768), so during a full suite another process may get the number."""
    check = f"tr '\\0' ' ' < /proc/{pid}/cmdline | grep -q '^sleep 60'"
    return SshProcess(check, host, nolog_exit_code=True, nolog_error=True).run().exit_code == 0


def test_ssh_process_lifecycle(hosts) -> None:
    p = SshProcess("hostname; echo err >&2; exit 4", hosts[0], nolog_exit_code=True)
    assert p.host == hosts[0] and not p.started
    p.run()
    assert (p.stdout, p.stderr, p.exit_code, p.ok, p.ended) == ("e1\n", "err\n", 4, False, True)
    assert SshProcess("true", hosts[0]).run().finished_ok


def test_execo_host_with_user_keyfile_port(lab, hosts) -> None:
    node = lab.nodes["e2"]
    h = Host(node.address, node.user, node.keyfile, node.port)
    p = SshProcess("hostname; whoami", h,
                   connection_params={"strict_host_key_checking": "no"}).run()
    assert p.ok and p.stdout.split() == ["e2", node.user]
    # connection parameters fill what the host leaves unset
    bare = Host(node.address)
    q = SshProcess("hostname", bare, connection_params={
        "user": node.user, "keyfile": node.keyfile, "port": node.port,
        "strict_host_key_checking": "no", "ssh_options": ("-o", "ServerAliveInterval=7"),
    }).run()
    assert q.ok and q.stdout == "e2\n"


def test_jump_host_and_host_rewrite(lab, hosts) -> None:
    jump, target = hosts[0], lab.nodes["e3"]
    p = SshProcess("hostname; echo $SSH_CLIENT", Host("e3-name", target.user, target.keyfile), connection_params={
        "jump_host": Host(jump.address, "root"),
        "host_rewrite_func": lambda name: target.address,
        "strict_host_key_checking": "no",
    }).run()
    name, client = p.stdout.splitlines()
    assert p.ok and name == "e3" and client.split()[0] == jump.address


def test_remote_substitutions_quoted_one_pass(hosts) -> None:
    targets = list(reversed(hosts))  # noqa: F841 - used by {{targets}}
    labels = ["a b; echo INJECTED", "{{{host}}}"]  # noqa: F841 - used by {{labels}}
    r = Remote("echo {{{host}}} {{targets}} {{labels}}", hosts).run()
    assert r.finished_ok and len(r.processes) == 3
    outs = [p.stdout.strip() for p in r.processes]
    assert outs[0] == f"{hosts[0].address} {hosts[2].address} a b; echo INJECTED"
    assert outs[1] == f"{hosts[1].address} {hosts[1].address} {{{{{{host}}}}}}"
    assert outs[2].endswith("a b; echo INJECTED")
    assert [p.host for p in r.processes] == hosts


def test_failing_host_does_not_stop_the_others(hosts, ghost) -> None:
    r = Remote("hostname", [*hosts, ghost], nolog_exit_code=True).run()
    assert r.ended and not r.ok and not r.finished_ok
    by_host = {p.host.alias: p for p in r.processes}
    assert by_host["ghost"].exit_code == 255 and not by_host["ghost"].ok
    assert by_host["ghost"].stderr  # ssh's own message is kept
    assert all(by_host[h.alias].ok and by_host[h.alias].stdout.strip() == h.alias for h in hosts)
    stats = Report([r]).stats()
    assert (stats["num_processes"], stats["num_ok"], stats["num_non_zero_exit_codes"]) == (4, 3, 1)


def test_timeout_kills_the_remote_command(hosts) -> None:
    t = time.monotonic()
    r = Remote("echo $$; exec sleep 60", hosts[:2], timeout=1.5, nolog_timeout=True,
               nolog_exit_code=True).run()
    assert time.monotonic() - t < 30
    assert not r.ok and all(p.timeouted and p.killed for p in r.processes)
    for p in r.processes:
        pid = int(p.stdout.split()[0])
        deadline = time.monotonic() + 10
        while _alive(p.host, pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(p.host, pid)


def test_expect_then_kill_remote_listener(hosts) -> None:
    with SshProcess("echo listening on 5000; exec sleep 60", hosts[1], nolog_exit_code=True).start() as server:
        index, match = server.expect(r"^listening on (\d+)", timeout=20)
        assert index == 0 and match.group(1) == "5000"
        assert server.running
    server.wait(30)
    assert server.ended and server.killed and not server.ok


def test_write_to_remote_stdin(hosts) -> None:
    p = SshProcess("head -n 1 | tr a-z A-Z", hosts[0]).start()
    p.write("hello\n")
    p.wait(30)
    assert p.ok and p.stdout == "HELLO\n"


def test_remote_action_expect_and_report(hosts) -> None:
    servers = Remote("echo ready {{{host}}}; exec sleep 60", hosts, nolog_exit_code=True).start()
    matches = servers.expect("^ready", timeout=20)
    assert [m[1] for m in matches] == [0, 0, 0]
    clients = TaktukRemote("true", hosts).run()
    servers.kill().wait(30)
    assert clients.finished_ok and servers.ended and not servers.ok
    text = Report([servers, clients]).to_string(wide=True)
    assert "Remote" in text and "TaktukRemote" in text
    assert get_remote("true", hosts, remote_tool="taktuk").run().ok


def test_put_get_with_substitutions(tmp_path: Path, hosts, ghost) -> None:
    src = tmp_path / "data.bin"
    src.write_bytes(os.urandom(10_000))
    put = Put(hosts, [str(src)], "/tmp/execo-put/{{{host}}}/", create_dirs=True).run()
    assert put.finished_ok
    out = tmp_path / "back"
    get = Get(hosts, ["/tmp/execo-put/{{{host}}}/data.bin"], str(out / "{{{host}}}"),
              create_dirs=True).run()
    assert get.finished_ok
    for h in hosts:
        assert (out / h.address / "data.bin").read_bytes() == src.read_bytes()
    failed = TaktukPut([ghost, hosts[0]], [str(src)], "/tmp/", nolog_exit_code=True).run()
    assert [p.ok for p in failed.processes] == [False, True]
    missing = TaktukGet(hosts[:1], ["/nonexistent"], str(out), nolog_exit_code=True).run()
    assert not missing.ok and missing.processes[0].exit_code != 0


def test_chainput(tmp_path: Path, hosts) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(1 << 20))
    c = ChainPut(hosts, [str(src)], "/tmp/chained.bin").run(60)
    assert c.finished_ok, [p.stderr for p in c.processes]
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    check = Remote("sha256sum /tmp/chained.bin", hosts).run()
    assert all(p.stdout.split()[0] == digest for p in check.processes)
    assert type(get_fileput(hosts, [str(src)], "/tmp/", fileput_tool="chainput")) is ChainPut


def test_parallel_remote_and_put(tmp_path: Path, hosts) -> None:
    f = tmp_path / "f.txt"
    f.write_text("x")
    both = ParallelActions([Remote("true", hosts), Put(hosts, [str(f)], "/tmp/")]).run()
    assert both.finished_ok and len(both.processes) == 6


def test_remote_command_killed_when_python_exits(tmp_path: Path, hosts) -> None:
    import subprocess
    import sys

    h = hosts[0]
    script = (
        "from enoslib.execo import SshProcess\nfrom enoslib.objects import Host\n"
        f"h = Host({h.address!r}, user={h.user!r}, keyfile={h.keyfile!r}, port={h.port!r}, "
        "extra={'ansible_host_key_checking': False})\n"
        "p = SshProcess('echo $$; exec sleep 60', h).start()\n"
        "p.expect(r'^\\d+$', timeout=20)\n"
        "print(p.stdout.strip(), flush=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path,
                          env={**os.environ, "ENOSLIB_CACHE_DIR": str(tmp_path / "cache")})
    pid = int(done.stdout.split()[0])
    deadline = time.monotonic() + 30  # the kill is sent in the background at exit: a loaded machine
    while _alive(h, pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(h, pid)


def test_port_forwarder(hosts) -> None:
    import socket

    from enoslib.execo import PortForwarder

    # through e1, to e2's sshd: the local port answers with e2's ssh banner
    with PortForwarder(hosts[0], hosts[1].address, 22).start() as fwd:
        assert fwd.forwarding.wait(30)
        with socket.create_connection(("127.0.0.1", fwd.local_port), timeout=10) as s:
            assert s.recv(100).startswith(b"SSH-2.0")
    fwd.wait(30)
    assert fwd.ended and fwd.ok


def test_serial_over_ssh_on_a_pty(hosts) -> None:
    import select

    from enoslib.execo import RemoteSerial

    master, slave = os.openpty()
    try:
        ports = RemoteSerial(hosts[:1], os.ttyname(slave), 9600).start()
        os.write(master, b"prompt> \n")
        assert [m[1] for m in ports.expect("^prompt>", timeout=20)] == [0]
        ports.write("ls\n")
        got, deadline = b"", time.monotonic() + 20
        while b"ls\n" not in got and time.monotonic() < deadline:
            if select.select([master], [], [], 0.5)[0]:
                got += os.read(master, 100)
        assert b"ls\n" in got
        ports.kill().wait(30)
        assert ports.ended
    finally:
        os.close(master)
        os.close(slave)


def test_ssh_pty(hosts) -> None:
    p = SshProcess("tty", hosts[2], pty=True).run()
    assert p.ok and p.stdout.startswith("/dev/pts/")
    q = SshProcess("echo up; exec sleep 60", hosts[2], connection_params={"pty": True},
                   nolog_exit_code=True).start()
    assert q.expect("^up", timeout=20)[0] == 0
    q.kill().wait(30)
    assert q.ended and q.killed
