"""The hosts' agent daemons outlive the controller's process (enoslib.api._agent).

Each process's agent on a host is a relay to a daemon of that host and user (started by the
first one, kept until idle for ``agent_persist``): a new process's agents start warm. These
tests run plays in separate Python processes (what a user's successive scripts are) on real
local SSH hosts; the daemon each agent talked to is in its hello.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import marshal
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

from enoslib.api import actions, close_connections, run_command
from enoslib.api import agents
from enoslib.config import config_context

pytestmark = pytest.mark.root

ROOT = Path(__file__).resolve().parents[2]
CACHE = "~/.cache/enoslib-agent"

# One user's script: runs a play on the hosts, prints the daemons its agents talked to and
# the results, as JSON.
SCRIPT = r"""
import json, os, sys
spec = json.loads(sys.argv[1])
from enoslib.config import set_config
set_config(cache_dir=spec["cache"], **spec["config"])
import enoslib as en
from enoslib.api import agents
hosts = [en.Host(h["address"], alias=h["alias"], user=h["user"], port=h["port"],
                 keyfile=h["keyfile"], extra={"ansible_host_key_checking": False})
         for h in spec["hosts"]]
with en.actions(roles=hosts, run_as=spec.get("run_as")) as a:
    a.stat(path="/etc/hostname")
    a.lineinfile(path="/tmp/agent-daemon-li-%d" % os.getpid(), line="x", create=True)
    a.command(argv=["id", "-un"], task_name="who")
    a.shell("echo $HOME; pwd; umask", task_name="env")
daemons = {agent.host.alias: (agent.hello or {}).get("daemon")
           for agent in agents._AGENTS.values()}
en.close_connections(hosts)  # no ssh master left behind (other tests count connections)
print(json.dumps({"engine": a.engine_used, "daemons": daemons,
                  "results": [[r.host, r.task, r.status == "ok", r.changed, r.stdout,
                               (r.payload.get("stat") or {}).get("exists")]
                              for r in a.results]}))
"""


def _script(hosts: list[Any], tmp_path: Path, run_as: str | None = None,
            **config: Any) -> dict[str, Any]:
    done = _start(hosts, tmp_path, run_as, **config).communicate(timeout=300)
    return _output(done)


def _start(hosts: list[Any], tmp_path: Path, run_as: str | None = None,
           **config: Any) -> subprocess.Popen[str]:
    spec = {"cache": str(tmp_path / "controller-cache"), "run_as": run_as, "config": config,
            "hosts": [{"address": h.address, "alias": h.alias, "user": h.user, "port": h.port,
                       "keyfile": h.keyfile} for h in hosts]}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, json.dumps(spec)], text=True, env=env,
                            cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _output(done: tuple[str, str]) -> dict[str, Any]:
    stdout, stderr = done
    lines = stdout.strip().splitlines()
    assert lines, stderr[-3000:]
    out: dict[str, Any] = json.loads(lines[-1])
    assert out["engine"] == "modules", out
    assert all(r[2] for r in out["results"]), out
    return out


def _alive(host: Any, pid: int) -> str | None:
    """The owner of process ``pid`` on ``host`` when it runs, else None."""
    r = run_command(f"stat -c %U /proc/{pid} 2>/dev/null || true", [host])
    return r[0].stdout.strip() or None


def _gone(host: Any, pid: int, within: float = 60.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if _alive(host, pid) is None:
            return True
        time.sleep(0.5)
    return False


def _ping_new_host(host: Any, caplog: pytest.LogCaptureFixture, compiled: int) -> None:
    """``ping`` on ``host`` made new to our modules (no daemon, no cache, no connection): it
    answers, and the agent was sent to it, ``compiled`` times compiled by the controller."""
    import logging

    _stop(host)
    run_command(f"rm -rf {CACHE}", [host])  # no daemon's socket left either
    close_connections([host])
    caplog.set_level(logging.DEBUG, logger="enoslib.api.agents")
    with actions(roles=[host]) as a:
        a.ping()
    assert a.results[0].status == "ok" and a.results[0].payload["ping"] == "pong"
    assert any(f"agent sent to 1 host(s) (no daemon running there), compiled for {compiled}"
               in r.getMessage() for r in caplog.records)


def _stop(host: Any, users: tuple[str | None, ...] = (None,)) -> None:
    agents._stop_daemons([(host, set(users))])


def test_a_second_process_reuses_the_hosts_daemon(hosts: list[Any], tmp_path: Path) -> None:
    h1, h2 = hosts[0], hosts[1]
    _stop(h1)
    _stop(h2)
    first = _script([h1, h2], tmp_path)
    d1, d2 = first["daemons"]["h1"], first["daemons"]["h2"]
    assert d1 and d2 and d1["pid"] != d2["pid"]  # one per host (each its own namespaces)
    second = _script([h1, h2], tmp_path)
    assert second["daemons"]["h1"]["pid"] == d1["pid"]
    assert second["daemons"]["h2"]["pid"] == d2["pid"]
    # the second process's agents start warm: ansible's basic already imported
    assert second["daemons"]["h1"]["warm"] and second["daemons"]["h2"]["warm"]
    assert second["results"] == first["results"]
    # without daemons (one agent per process, as before): the same results
    without = _script([h1, h2], tmp_path, agent_persist=0)
    assert without["daemons"] == {"h1": None, "h2": None}
    assert without["results"] == first["results"]
    # the session's environment and directory, as its own process would have
    env = {r[0]: r[4] for r in first["results"] if r[1] == "env"}
    home, cwd, umask = env["h1"].splitlines()
    assert home == cwd and umask.startswith("0")
    assert env == {r[0]: r[4] for r in without["results"] if r[1] == "env"}


def test_two_processes_at_once_share_one_daemon(hosts: list[Any], tmp_path: Path) -> None:
    h = hosts[2]
    _stop(h)  # both processes find no daemon: one starts it, the other waits and uses it
    # each process its own controller cache, hence its own SSH master: a script ends with
    # close_connections, which would cut the other's commands on a shared master
    dirs = [tmp_path / f"p{i}" for i in range(2)]
    for d in dirs:
        d.mkdir()
    procs = [_start([h], d) for d in dirs]
    outs = [_output(p.communicate(timeout=300)) for p in procs]
    assert outs[0]["daemons"]["h3"]["pid"] == outs[1]["daemons"]["h3"]["pid"]
    assert outs[0]["results"] == outs[1]["results"]


def test_an_idle_daemon_exits(hosts: list[Any], tmp_path: Path) -> None:
    h = hosts[3]
    _stop(h)
    out = _script([h], tmp_path, agent_persist="1s")
    pid = out["daemons"]["h4"]["pid"]
    assert _gone(h, pid)
    assert run_command(f"ls {CACHE}", [h])[0].stdout.count(".sock") == 0


def test_a_killed_daemon_is_replaced(hosts: list[Any], tmp_path: Path) -> None:
    h = hosts[0]
    pid = _script([h], tmp_path)["daemons"]["h1"]["pid"]
    run_command(f"kill -9 {pid}", [h])
    assert _gone(h, pid)
    again = _script([h], tmp_path)  # its socket is still there: nobody listens on it
    assert again["daemons"]["h1"]["pid"] != pid


def test_a_changed_agent_gets_its_own_daemon(
    hosts: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    h = hosts[1]
    close_connections([h])
    live = agents._agents_for([h], None)
    before = live[h].hello["daemon"]["pid"]
    close_connections([h])
    code, digest = agents._agent_source()
    changed = code + b"\n# another agent\nANOTHER_AGENT = True\n"
    for cached in (agents._agent_source, agents._packed, agents._relay_source):
        cached.cache_clear()
    monkeypatch.setattr(agents, "_agent_source", lambda: (changed, "f" * 64))
    try:
        # what a new host's relay is sent: this agent, compiled (not a cached older one)
        frame = agents._agent_frame(sys.implementation.cache_tag,
                                    importlib.util.MAGIC_NUMBER.hex())[4:]
        source, compiled = frame.split(b" ")
        assert zlib.decompress(base64.b64decode(source)) == changed
        code_object = marshal.loads(zlib.decompress(base64.b64decode(compiled)))
        assert "ANOTHER_AGENT" in code_object.co_names
        live = agents._agents_for([h], None)
        after = live[h].hello["daemon"]["pid"]
        assert after != before and _alive(h, before)  # the older one stays for older agents
        with actions(roles=[h]) as a:
            a.stat(path="/etc/hostname")
        assert a.results[0].status == "ok" and a.results[0].payload["stat"]["exists"]
    finally:
        close_connections([h])
        _stop(h)
        monkeypatch.undo()
        agents._packed.cache_clear()
        agents._relay_source.cache_clear()


def test_a_become_user_has_its_own_daemon(
    hosts: list[Any], tmp_path: Path, become_user: str
) -> None:
    h = hosts[2]
    mine = _script([h], tmp_path)["daemons"]["h3"]["pid"]
    theirs = _script([h], tmp_path, run_as=become_user)
    assert [r[4] for r in theirs["results"] if r[1] == "who"] == [become_user]
    pid = theirs["daemons"]["h3"]["pid"]
    assert pid != mine and _alive(h, pid) == become_user
    again = _script([h], tmp_path, run_as=become_user)
    assert again["daemons"]["h3"]["pid"] == pid and again["daemons"]["h3"]["warm"]
    # close_agents(stop_daemons=True) stops the daemons of every user this process used
    with actions(roles=[h], run_as=become_user) as a:
        a.ping()
    agents.close_agents([h], stop_daemons=True)
    assert _gone(h, pid) and _gone(h, mine)


def test_a_cache_dir_others_can_write_gets_no_daemon(hosts: list[Any], tmp_path: Path) -> None:
    h = hosts[3]
    _stop(h)
    run_command(f"rm -rf {CACHE}; mkdir -p {CACHE} && chmod 0777 {CACHE}", [h])
    try:
        out = _script([h], tmp_path)
        assert out["daemons"] == {"h4": None}  # a process of its own, as before
        assert run_command(f"ls -A {CACHE}", [h])[0].stdout == ""
    finally:
        run_command(f"rm -rf {CACHE}", [h])


def test_persist_durations() -> None:
    assert agents.persist_seconds("600s") == 600
    assert agents.persist_seconds("1h30m") == 5400
    assert agents.persist_seconds(0) == 0 and agents.persist_seconds("no") == 0
    with config_context(agent_persist=None, ssh_control_persist="10m"):
        assert agents.persist_seconds() == 600
    with pytest.raises(ValueError, match="agent_persist"):
        agents.persist_seconds("ten minutes")


@pytest.mark.parametrize("bad", ["ten minutes", -5, "1h30x", "1.2.3"])
def test_a_bad_agent_persist_is_refused_by_set_config(bad: Any) -> None:
    from enoslib.config import get_config, set_config
    from enoslib.errors import EnosConfigError

    before = get_config()["agent_persist"]
    with pytest.raises(EnosConfigError, match="agent_persist") as info:
        set_config(agent_persist=bad)
    assert info.value.path == "$.agent_persist"
    assert get_config()["agent_persist"] == before  # nothing changed
    with pytest.raises(EnosConfigError, match="agent_persist"):
        with config_context(agent_persist=bad):
            pass


def test_the_agent_is_sent_only_where_no_daemon_runs(
    hosts: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    """The relay's command does not carry the agent's source (only without daemons): a host
    where none runs asks for it once, to start its daemon; later processes' relays don't."""
    with config_context(agent_persist="10m"):
        assert agents._packed() not in agents._agent_command(None, None)
    with config_context(agent_persist=0):
        assert agents._packed() in agents._agent_command(None, None)
    h = hosts[2]
    # compiled by the controller: the host's Python has its cache tag and magic number
    _ping_new_host(h, caplog, compiled=1)
    caplog.clear()
    close_connections([h])  # a new process's agent: a session of the running daemon
    with actions(roles=[h]) as a:
        a.ping()
    assert a.results[0].status == "ok"
    assert not any("agent sent" in r.getMessage() for r in caplog.records)


def test_a_python_of_another_bytecode_gets_the_agents_source(
    hosts: list[Any], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relay whose Python runs other bytecode (another magic number) is sent the agent's
    source only: its daemon compiles it and serves as any."""
    real = agents._agent_frame
    monkeypatch.setattr(agents, "_agent_frame", lambda tag, magic: real(tag, "00000000"))
    h = hosts[3]
    _ping_new_host(h, caplog, compiled=0)
    (agent,) = [ag for ag in agents._AGENTS.values() if ag.host == h]
    assert (agent.hello or {}).get("daemon"), "a daemon serves the session"
    close_connections([h])
