"""The SSH fast path on real hosts: commands, failures, run_as, background, timeouts."""

from __future__ import annotations

import subprocess
import time

import pytest

import enoslib as en
from enoslib import execo
from enoslib.api import run, run_command, wait_for
from enoslib.errors import EnosFailedHostsError, EnosSSHNotReady, EnosUnreachableHostsError
from enoslib.objects import Host

# every test here uses the session lab of namespaces + sshd (conftest.py)
pytestmark = pytest.mark.root


def test_run_command_per_host_results(roles) -> None:
    results = run_command("hostname", roles=roles)
    assert [(r.host, r.status, r.stdout, r.rc) for r in results] == [
        (h, "ok", h, 0) for h in ("h1", "h2", "h3", "h4")
    ]
    assert results[0].task == "hostname" and results[0].duration is not None
    # warm connections: later calls are quick; the best of 3 keeps a load burst from failing it
    durations = []
    for _ in range(3):
        start = time.perf_counter()
        run("true", roles)
        durations.append(time.perf_counter() - start)
    assert min(durations) < 2, durations


def test_pattern_hosts(roles) -> None:
    assert run_command("true", roles=roles, pattern_hosts="server:&rack1").hosts == ["h1"]
    assert run_command("true", roles=roles, pattern_hosts="all:!server").hosts == ["h3", "h4"]
    assert run_command("true", roles=roles, pattern_hosts="h2:h4").hosts == ["h2", "h4"]
    assert run_command("true", roles=roles, pattern_hosts="nobody") == []


def test_failing_command_raises_with_results(hosts) -> None:
    with pytest.raises(EnosFailedHostsError) as err:
        run_command("echo out; echo err >&2; [ $(hostname) = h1 ] || exit 3", roles=hosts)
    results = err.value.results
    assert sorted(err.value.hosts) == ["h2", "h3", "h4"]
    failed = results.filter(host="h2")[0]
    assert (failed.status, failed.rc, failed.stdout, failed.stderr) == ("failed", 3, "out", "err")
    assert results.filter(host="h1")[0].status == "ok"
    # exit code 255 of the command itself is a failure, not an unreachable host
    r = run_command("exit 255", roles=hosts[0], on_error_continue=True)[0]
    assert (r.status, r.rc) == ("failed", 255)


def test_on_error_continue(hosts) -> None:
    results = run_command("false", roles=hosts, on_error_continue=True)
    assert len(results.failed) == 4 and all(r.rc == 1 for r in results)


def test_unreachable_host(hosts, ghost) -> None:
    with pytest.raises(EnosUnreachableHostsError) as err:
        run_command("true", roles=[*hosts[:2], ghost])
    assert err.value.hosts == ["ghost"]
    results = err.value.results
    assert [r.status for r in results] == ["ok", "ok", "unreachable"]
    assert results.unreachable[0].rc is None and "10.77.0.250" in results.unreachable[0].stderr
    kept = run_command("true", roles=[hosts[0], ghost], on_error_continue=True)
    assert kept.report().counts["unreachable"] == 1


@pytest.fixture(scope="module")
def unprivileged_user(lab):
    # nodes share /etc with this machine: a user added here exists on every node
    name = "enosapitest"
    subprocess.run(["userdel", name], capture_output=True)
    subprocess.run(["useradd", "-M", "-s", "/bin/sh", name], check=True)
    yield name
    subprocess.run(["userdel", name], capture_output=True)


def test_run_as(hosts, unprivileged_user) -> None:
    results = run_command("id -un; echo $HOME", roles=hosts[:2], run_as=unprivileged_user)
    assert {r.stdout.splitlines()[0] for r in results} == {unprivileged_user}
    denied = run_command(
        "touch /root/nope", roles=hosts[0], run_as=unprivileged_user, on_error_continue=True
    )
    assert denied[0].status == "failed" and "Permission denied" in denied[0].stderr


def test_background(hosts) -> None:
    # the command waits for a go the test gives only once run_command returned: no clock involved
    run_command("rm -f /tmp/bg /tmp/bg-go", roles=hosts[:2])
    wait_go = "for i in $(seq 600); do [ -e /tmp/bg-go ] && break; sleep 0.1; done"
    results = run_command(f"{wait_go}; echo done > /tmp/bg", roles=hosts[:2], background=True)
    assert [r.status for r in results] == ["ok", "ok"]
    assert run_command("test -e /tmp/bg", roles=hosts[:2], on_error_continue=True).failed  # not yet
    run_command("touch /tmp/bg-go", roles=hosts[:2])
    done = run_command("for i in $(seq 300); do [ -s /tmp/bg ] && break; sleep 0.1; done; cat /tmp/bg",
                       roles=hosts[:2])
    assert [r.stdout for r in done] == ["done", "done"]


def test_timeout_kills_and_fails(hosts) -> None:
    start = time.perf_counter()
    results = run_command(
        "echo started; sleep 31; echo never", roles=hosts[:2], timeout=1, on_error_continue=True
    )
    assert time.perf_counter() - start < 30  # killed long before the 31 s sleep ends
    r = results[0]
    assert (r.status, r.payload["timed_out"], r.stdout) == ("failed", True, "started")
    assert "timed out" in r.stderr
    # the remote command is gone, not left running
    time.sleep(0.3)
    left = run_command("pgrep -f 'sleep [3]1'", roles=hosts[:2], on_error_continue=True)
    assert [x.rc for x in left] == [1, 1]
    with pytest.raises(EnosFailedHostsError):
        run_command("sleep 5", roles=hosts[0], timeout=0.5)


def test_substitutions(hosts) -> None:
    h = hosts[0]
    saved = dict(h.extra)
    h.set_extra(greeting="hello world; exit 9", cmd="echo raw")
    try:
        r = run_command("echo {{{host}}} {{{alias}}} {{ greeting }}; {{ cmd | raw }}", roles=h)[0]
        assert r.stdout.splitlines() == [f"{h.address} h1 hello world; exit 9", "raw"]
        r = run_command("echo {{ who }}", roles=h, extra_vars={"who": "from-extra-vars"})[0]
        assert r.stdout == "from-extra-vars"
    finally:
        h.extra = saved


def test_no_shell_injection(lab, hosts) -> None:
    """Data (host aliases, variables, file names) never becomes shell code."""
    info = lab.nodes["h1"]
    nasty = Host(
        info.address,
        alias="h1;touch /tmp/pwned-alias",
        user=info.user,
        port=info.port,
        keyfile=info.keyfile,
        extra={"name": "$(touch pwned)`touch pwned2`;touch pwned3", "ansible_host_key_checking": False},
    )
    r = run_command(
        "cd /tmp && touch {{ name }} && echo {{{alias}}} && ls", roles=nasty, chdir="/tmp"
    )[0]
    assert r.host == "h1;touch /tmp/pwned-alias"
    assert "$(touch pwned)`touch pwned2`;touch pwned3" in r.stdout.splitlines()  # created literally
    check = run_command("cd /tmp && ! ls pwned pwned2 pwned3 pwned-alias", roles=hosts[0])
    assert check.ok
    r = run_command('printf %s "$X"', roles=hosts[0], environment={"X": "$(id) ; `id`"})[0]
    assert r.stdout == "$(id) ; `id`"


def test_stdin_and_chdir(hosts) -> None:
    r = run_command("pwd; cat", roles=hosts[0], stdin="line1\nline2\n", chdir="/tmp")[0]
    assert r.stdout.splitlines() == ["/tmp", "line1", "line2"]


def test_wait_for(hosts, ghost) -> None:
    wait_for(hosts, retries=2, interval=0.1)
    with pytest.raises(EnosSSHNotReady, match="ghost"):
        wait_for([hosts[0], ghost], retries=2, interval=0.1)


def test_remote_process_object(roles, hosts, ghost) -> None:
    """``en.Remote`` is execo's Remote (substitutions, connection_params, expect on streamed
    output, kill, failures that do not raise) and takes enoslib Roles; ``results`` and
    ``raise_for_status()`` are enoslib's."""
    assert en.Remote is execo.Remote and en.Report is execo.Report
    p = en.Remote("echo {{{host}}} $(hostname) $(nice)", roles, connection_params={"nice": 5}).start()
    p.wait()
    assert p.finished_ok and [x.host.alias for x in p.processes] == ["h1", "h2", "h3", "h4"]
    assert [x.stdout for x in p.processes] == [f"{h.address} {h.alias} 5\n" for h in hosts]
    assert [(r.host, r.status, r.stdout) for r in p.raise_for_status()][0] == ("h1", "ok", f"{hosts[0].address} h1 5")
    with en.Remote("echo ready; sleep 60", roles["server"]).start() as slow:
        assert [i for _, i, _ in slow.expect("ready", timeout=30)] == [0, 0]  # output as it comes
    slow.wait(30)  # leaving the block killed it (execo's context manager)
    assert slow.ended and not slow.ok and all(x.killed for x in slow.processes)
    bad = en.Remote("true", [hosts[0], ghost], nolog_exit_code=True).run()
    assert bad.ended and not bad.ok and bad.processes[1].exit_code == 255
    assert en.Report([bad]).stats()["num_ok"] == 1
    assert [(r.host, r.status) for r in bad.results] == [("h1", "ok"), ("ghost", "unreachable")]
    with pytest.raises(EnosUnreachableHostsError):
        bad.raise_for_status()


def test_local_connection_host_runs_through_ansible(hosts) -> None:
    """A host that Ansible reaches without SSH (``ansible_connection: local``, as
    ``LocalHost``) is not sent over ssh by ``run_command``'s default engine: the command
    runs on this machine, beside an SSH host, substitutions included; ``engine="ssh"``
    asked explicitly still tries ssh (and says the host is unreachable)."""
    import sys

    local = Host("localhost", alias="me", extra={"ansible_connection": "local",
                                                  "ansible_python_interpreter": sys.executable})
    results = run_command("echo {{{alias}}} $(hostname)", roles=[local, hosts[0]])
    assert [(r.host, r.status, r.stdout) for r in results] == [
        ("me", "ok", f"me {subprocess.run(['hostname'], capture_output=True, text=True).stdout.strip()}"),
        ("h1", "ok", "h1 h1")]
    ssh = run_command("true", roles=[local], engine="ssh", on_error_continue=True)
    assert ssh[0].status == "unreachable"
