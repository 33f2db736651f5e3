"""Ansible in-process on the same connections: actions, plays, playbooks, facts."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from enoslib.api import (
    actions,
    gather_facts,
    generate_inventory,
    run_ansible,
    run_command,
    run_play,
)
from enoslib.errors import EnosFailedHostsError, EnosUnreachableHostsError

# every test here uses the session lab of namespaces + sshd (conftest.py)
pytestmark = pytest.mark.root


def test_actions_several_modules_with_register(roles) -> None:
    with actions(roles=roles, pattern_hosts="server") as a:
        a.ansible.builtin.copy(
            content="v={{ inventory_hostname }}\n", dest="/tmp/conf", task_name="write conf"
        )
        a.shell("cat /tmp/conf", register="conf")
        a.debug(msg="got {{ conf.stdout }}", task_name="show")
        a.command("echo only-h1", when="inventory_hostname == 'h1'", task_name="conditional")
    r = a.results
    assert r.hosts == ["h1", "h2"]
    assert [x.task for x in r.filter(host="h1")] == [
        "write conf",
        "cat /tmp/conf",
        "show",
        "conditional",
    ]
    assert r.filter(task="cat /tmp/conf", host="h2")[0].stdout == "v=h2"
    assert r.filter(task="show", host="h1")[0].payload["msg"] == "got v=h1"
    assert r.filter(task="write conf")[0].changed
    assert [x.status for x in r.filter(task="conditional")] == ["ok", "skipped"]


def test_fast_and_ansible_engines_agree(hosts) -> None:
    def play(engine: str):
        with actions(roles=hosts[:2], engine=engine, on_error_continue=True) as a:
            a.shell("echo $((1+2)) | tr 3 x; echo e >&2")
            a.command("echo 'a  b' $HOME")  # no shell: $HOME stays literal
            a.shell("[ $(hostname) = h1 ]", task_name="only h1 passes")
            a.shell("echo after", task_name="after failure")
        return a.results

    fast, slow = play("auto"), play("ansible")
    key = lambda res: [(x.host, x.task, x.status, x.stdout, x.stderr, x.rc) for x in res]  # noqa: E731
    assert key(fast) == key(slow)
    assert fast.filter(task="after failure").hosts == ["h1"]  # h2 dropped out, as in Ansible


def test_actions_failures_raise(hosts, ghost) -> None:
    with pytest.raises(EnosUnreachableHostsError) as err:
        with actions(roles=[hosts[0], ghost], engine="ansible") as a:
            a.ping()
    assert [(x.host, x.status) for x in err.value.results] == [
        ("h1", "ok"),
        ("ghost", "unreachable"),
    ]
    with pytest.raises(EnosFailedHostsError) as failed:
        with actions(roles=hosts[:1]) as a:
            a.file(path="/nonexistent/dir/x", state="touch")
    assert failed.value.results[0].status == "failed" and failed.value.results[0].payload.get("msg")
    with actions(roles=hosts[:1], on_error_continue=True) as a:
        a.shell("exit 4", ignore_errors=True)
        a.shell("echo still")
    assert [x.status for x in a.results] == ["failed", "ok"]


def test_run_play_and_background(hosts) -> None:
    results = run_play(
        {"hosts": "all", "tasks": [{"name": "echo", "shell": "echo {{ word }}"}]},
        roles=hosts[:2],
        extra_vars={"word": "hi"},
    )
    assert [x.stdout for x in results] == ["hi", "hi"]
    with actions(roles=hosts[:1], background=True, engine="ansible") as a:
        a.shell("sleep 30")
    assert a.results[0].status == "ok" and a.results[0].payload.get("started")


def test_run_ansible_playbook(tmp_path: Path, roles) -> None:
    playbook = tmp_path / "site.yml"
    playbook.write_text(
        """
- hosts: client
  gather_facts: false
  tasks:
    - name: tagged
      shell: echo {{ msg }} {{ inventory_hostname }}
      tags: [mine]
    - name: untagged
      shell: echo nope
"""
    )
    results = run_ansible([playbook], roles=roles, extra_vars={"msg": "from-extra"}, tags=["mine"])
    assert [(x.host, x.task, x.stdout) for x in results] == [
        ("h3", "tagged", "from-extra h3"),
        ("h4", "tagged", "from-extra h4"),
    ]
    assert not list(Path.cwd().glob("*.retry"))
    with pytest.raises(FileNotFoundError):
        run_ansible(tmp_path / "missing.yml", roles=roles)


def test_gather_facts_and_jinja_run_command(hosts) -> None:
    facts = gather_facts(hosts[:2], gather_subset=["min"])
    assert {alias: f["ansible_hostname"] for alias, f in facts.items()} == {"h1": "h1", "h2": "h2"}
    r = run_command("echo {{ ansible_hostname }} {{{alias}}}", roles=hosts[:1], gather_facts=True)[
        0
    ]
    assert r.stdout == "h1 h1"


def test_generate_inventory(tmp_path: Path, roles, networks) -> None:
    path = generate_inventory(roles, networks, tmp_path / "inv" / "hosts.ini", check_networks=True)
    text = path.read_text()
    assert "[server]" in text and "ControlPath=" in text
    binary = shutil.which("ansible-inventory", path=str(Path(sys.executable).parent))
    if binary is None:
        pytest.skip("ansible-inventory not installed")
    out = subprocess.run(
        [binary, "-i", str(path), "--list"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    data = json.loads(out.stdout)
    assert sorted(data["server"]["hosts"]) == ["h1", "h2"]
    h1 = data["_meta"]["hostvars"]["h1"]
    assert (
        h1["ansible_host"] == "10.77.0.2" and h1["n2_ip"] == "10.78.0.2" and h1["n2_dev"] == "eth1"
    )
