"""ansible-core's own settings and a bare ``LocalHost`` on every path (issue 12's leftovers).

* ``remote_tmp`` set by ``ANSIBLE_REMOTE_TMP`` or ansible.cfg is where modules make their
  temporary files on the module fast path too, as with ``engine="ansible"``.
* ``keep_remote_files`` (modules copied to the hosts and left there) sends plays to
  ansible-core's own ssh plugin: the fast paths would leave nothing.
* ``become_user`` set by ``ANSIBLE_BECOME_USER`` or ansible.cfg is who tasks become.
* a bare ``LocalHost()`` runs its modules with the controller's Python (ansible-core's
  implicit localhost does so); SSH hosts next to it keep the interpreter Ansible discovers.

Settings read by ansible-core when it is imported are set in a new Python process (a user's
script), as a user sets them: environment variables, an ansible.cfg in the working directory.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from enoslib.api import actions, run_command
from enoslib import LocalHost
from enoslib.objects import Roles

pytestmark = pytest.mark.root

ROOT = Path(__file__).resolve().parents[2]

# One user's script: a play of modules on the hosts with the given engine; prints which path
# ran and what the user gets back, as JSON.
SCRIPT = r"""
import json, sys
spec = json.loads(sys.argv[1])
import enoslib as en
en.set_config(cache_dir=spec["cache"])
hosts = [en.Host(h["address"], alias=h["alias"], user=h["user"], port=h["port"],
                 keyfile=h["keyfile"], extra={"ansible_host_key_checking": False})
         for h in spec["hosts"]]
with en.actions(roles=hosts, engine=spec["engine"]) as a:
    for module, kwargs in spec["tasks"]:
        getattr(a, module)(**kwargs)
en.close_connections(hosts)
print(json.dumps({"engine": a.engine_used,
                  "results": [[r.host, r.task, r.status, r.changed,
                               r.payload.get("warnings") or [], r.stdout] for r in a.results]}))
"""


def _script(hosts: list[Any], tmp_path: Path, engine: str, env: dict[str, str],
            cwd: Path, tasks: list[Any] | None = None) -> dict[str, Any]:
    file = f"/tmp/enos-settings-{uuid.uuid4().hex[:8]}"
    tasks = tasks or [["stat", {"path": "/etc/hostname"}],
                      ["lineinfile", {"path": file, "line": "x", "create": True}]]
    spec = {"cache": str(tmp_path / "cache"), "engine": engine, "tasks": tasks,
            "hosts": [{"address": h.address, "alias": h.alias, "user": h.user, "port": h.port,
                       "keyfile": h.keyfile} for h in hosts]}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(spec)], text=True,
                          env={**clean, "PYTHONPATH": str(ROOT), **env}, cwd=str(cwd),
                          capture_output=True, timeout=300)
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr[-3000:]
    out: dict[str, Any] = json.loads(lines[-1])
    run_command(f"rm -f {file}", hosts)
    return out


def _listing(hosts: list[Any], path: str) -> list[str]:
    """What is under ``path`` on each host (``find``), relative paths, sorted."""
    res = run_command(f"find {path} -mindepth 1 -printf '%P\\n' 2>/dev/null | sort; true", hosts)
    return [r.stdout for r in res]


def _remote_tmp(tag: str) -> str:
    return f"/tmp/enos-rt-{tag}-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("source", ["env", "ansible.cfg"])
def test_remote_tmp_setting_is_where_modules_make_their_files(hosts, tmp_path, source) -> None:
    """``remote_tmp`` from ``ANSIBLE_REMOTE_TMP`` or ``[defaults] remote_tmp`` in an
    ansible.cfg: on the module fast path as with ``engine="ansible"``, ``lineinfile`` makes
    its temporary file there (the directory is created, with the module's warning saying so,
    and left empty), not in ``~/.ansible/tmp``."""
    seen = {}
    for engine in ("auto", "ansible"):
        where = _remote_tmp(engine)
        cwd = tmp_path / engine
        cwd.mkdir()
        env = {}
        if source == "env":
            env["ANSIBLE_REMOTE_TMP"] = where
        else:
            (cwd / "ansible.cfg").write_text(f"[defaults]\nremote_tmp = {where}\n")
        try:
            out = _script(hosts[:2], tmp_path, engine, env, cwd)
            made = run_command(f"test -d {where} && echo made || echo none", hosts[:2])
            assert [r.stdout for r in made] == ["made", "made"], (engine, out)
            assert _listing(hosts[:2], where) == ["", ""]  # nothing left behind
        finally:
            run_command(f"rm -rf {where}", hosts[:2])
        assert out["engine"] == ("modules" if engine == "auto" else "ansible")
        text = json.dumps(out["results"]).replace(where, "<remote_tmp>")
        seen[engine] = json.loads(text)
    assert seen["auto"] == seen["ansible"]
    assert [r[2] for r in seen["auto"]] == ["OK"] * 4
    warned = [w for r in seen["auto"] for w in r[4]]
    assert len(warned) == 2 and all("<remote_tmp> did not exist" in w for w in warned), warned


def test_keep_remote_files_leaves_the_modules_on_the_hosts(hosts, tmp_path) -> None:
    """``ANSIBLE_KEEP_REMOTE_FILES=1``: the play goes through ansible-core's ssh plugin on the
    default engine too, which copies each module to the host and leaves it there."""
    kept = {}
    for engine in ("auto", "ansible"):
        where = _remote_tmp(f"keep-{engine}")
        cwd = tmp_path / engine
        cwd.mkdir()
        try:
            out = _script(hosts[:1], tmp_path, engine, {"ANSIBLE_KEEP_REMOTE_FILES": "1",
                                                       "ANSIBLE_REMOTE_TMP": where}, cwd)
            files = _listing(hosts[:1], where)[0].splitlines()
        finally:
            run_command(f"rm -rf {where}", hosts[:1])
        assert out["engine"] == "ansible"
        assert [r[2] for r in out["results"]] == ["OK", "OK"]
        kept[engine] = sorted(f.rsplit("/", 1)[-1] for f in files if f.endswith(".py"))
    assert kept["auto"] == kept["ansible"] == ["AnsiballZ_lineinfile.py", "AnsiballZ_stat.py"]


@pytest.mark.parametrize("source", ["env", "ansible.cfg"])
def test_become_user_setting_decides_who_runs_tasks(hosts, tmp_path, source) -> None:
    """ansible-core's ``become_user`` setting (``ANSIBLE_BECOME_USER`` or
    ``[privilege_escalation]`` in ansible.cfg): a task with ``become=True`` runs as that user
    on the default engine as with ``engine="ansible"`` (the fast paths ran it as root)."""
    tasks = [["command", {"argv": ["id", "-un"], "become": True, "task_name": "become"}],
             ["command", {"argv": ["id", "-un"], "task_name": "ssh user"}]]
    seen = {}
    for engine in ("auto", "ansible"):
        cwd = tmp_path / engine
        cwd.mkdir()
        env = {}
        if source == "env":
            env["ANSIBLE_BECOME_USER"] = "nobody"
        else:
            (cwd / "ansible.cfg").write_text("[privilege_escalation]\nbecome_user = nobody\n")
        out = _script(hosts[:1], tmp_path, engine, env, cwd, tasks)
        seen[engine] = [(r[1], r[2], r[5]) for r in out["results"]]
    assert seen["auto"] == seen["ansible"] == [("become", "OK", "nobody"),
                                               ("ssh user", "OK", hosts[0].user)]


def test_bare_localhost_runs_out_of_the_box(hosts) -> None:
    """``LocalHost()`` as EnOSlib users make it (only ``ansible_connection: local``):
    run_command and actions work on both engines, modules run by the controller's own
    Python; an SSH host in the same play keeps the interpreter Ansible discovers there."""
    uname = subprocess.run(["uname", "-a"], capture_output=True, text=True).stdout.strip()
    for engine in ("auto", "ansible"):
        r = run_command("uname -a", roles=[LocalHost()], engine=engine)
        assert [(x.host, x.status, x.stdout) for x in r] == [("localhost", "ok", uname)]
    seen = {}
    for engine in ("auto", "ansible"):
        with actions(roles=Roles(local=[LocalHost()], lab=[hosts[0]]), engine=engine) as a:
            a.setup(gather_subset=["!all"])
            a.command("uname -n", task_name="name")
        pythons = {x.host: x.payload["ansible_facts"]["ansible_python"]["executable"]
                   for x in a.results if x.task == "setup"}
        seen[engine] = (pythons, [(x.host, x.task, x.status, x.stdout) for x in a.results
                                  if x.task == "name"])
    assert seen["auto"] == seen["ansible"]
    pythons, names = seen["auto"]
    assert pythons["localhost"] == sys.executable
    assert pythons[hosts[0].alias] != sys.executable
    assert names == [("localhost", "name", "ok", platform.node()),
                     (hosts[0].alias, "name", "ok", hosts[0].alias)]
