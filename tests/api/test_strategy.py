"""ansible-core's strategy with tasks in threads on enoslib's agents (``run_ansible`` and
plays through ansible-core) against ansible-core's forked workers and ssh plugin
(``ansible_workers="processes"``) on the same hosts: the same Results, the same files."""

from __future__ import annotations

import logging
import tarfile
from pathlib import Path

import pytest

from enoslib.api import run_ansible, run_command, run_play
from enoslib.config import config_context
from enoslib.errors import EnosConfigError
from enoslib.objects import Roles

pytestmark = pytest.mark.root

ROLE_TASKS = """
- name: work dir
  file: path="{{ d }}" state=directory
- name: role template
  template: src=conf.j2 dest="{{ d }}/conf.txt"
  notify: conf changed
- name: role tagged
  shell: echo tagged {{ greeting }}
  tags: [tagged]
"""
ROLE_HANDLERS = """
- name: conf changed
  copy: content="handled {{ inventory_hostname }}\\n" dest="{{ d }}/handled.txt"
"""
PLAYBOOK = """
- hosts: server
  gather_facts: true
  vars:
    d: "/tmp/enos-strategy-{{ run }}"
  roles: [web]
  tasks:
    - name: facts in a file
      copy: content="{{ ansible_hostname }} {{ greeting }}\\n" dest="{{ d }}/facts.txt"
    - name: register
      command: cat {{ d }}/facts.txt
      register: out
    - name: when true
      shell: echo yes {{ out.stdout }}
      when: out.stdout is search(inventory_hostname)
    - name: when false
      shell: echo no
      when: out.rc != 0
    - name: block
      block:
        - name: fails in block
          command: /bin/false
        - name: never
          shell: echo never
      rescue:
        - name: rescued
          shell: echo rescued {{ ansible_failed_task.name }}
      always:
        - name: always
          shell: echo always
    - name: delegated to a client
      shell: echo on $(hostname) for {{ inventory_hostname }}
      delegate_to: "{{ groups['client'][0] }}"
    - name: delegated to localhost
      command: echo local {{ inventory_hostname }}
      delegate_to: localhost
    - name: once
      shell: echo once {{ inventory_hostname }}
      run_once: true
    - name: fetch
      fetch: src="{{ d }}/facts.txt" dest="{{ fetched }}/{{ run }}/"
    - name: unarchive
      unarchive: src="{{ archive }}" dest="{{ d }}"
    - name: ignored failure
      command: /bin/false
      ignore_errors: true
    - name: async
      shell: sleep 0.2; echo async
      async: 20
      poll: 1
    - name: included
      include_tasks: more.yml
    - name: skipped by tag
      shell: echo skipme
      tags: [skipme]

- hosts: client
  strategy: free
  gather_facts: false
  tasks:
    - name: free one
      shell: echo free {{ inventory_hostname }}
    - name: free copy
      copy: content="free\\n" dest="/tmp/enos-strategy-{{ run }}-free.txt"
"""


def _view(results) -> list[tuple]:
    return [(r.host, r.task, r.status, r.changed, r.rc, r.stdout, r.stderr,
             bool(r.payload.get("ignored")), r.payload.get("msg") if r.status != "ok" else None)
            for r in results]


def _files(hosts, run: str) -> dict[str, str]:
    r = run_command(f"cd /tmp/enos-strategy-{run} && find . -type f | sort | xargs md5sum; "
                    f"cat /tmp/enos-strategy-{run}-free.txt 2>/dev/null; rm -rf /tmp/enos-strategy-{run}*",
                    roles=hosts)
    return {x.host: x.stdout for x in r}


def test_playbook_same_as_forked_workers(tmp_path: Path, hosts, ghost, caplog) -> None:
    role = tmp_path / "roles" / "web"
    for sub, name, text in (("tasks", "main.yml", ROLE_TASKS),
                            ("handlers", "main.yml", ROLE_HANDLERS),
                            ("defaults", "main.yml", "greeting: from-default\n"),
                            ("templates", "conf.j2", "{{ ansible_hostname }} {{ ansible_os_family }}\n")):
        (role / sub).mkdir(parents=True, exist_ok=True)
        (role / sub / name).write_text(text)
    (tmp_path / "site.yml").write_text(PLAYBOOK)
    (tmp_path / "more.yml").write_text("- name: from include\n  command: echo {{ item }}\n"
                                       "  loop: [a, b]\n  when: item != 'b'\n")
    (tmp_path / "data.txt").write_text("archived\n")
    archive = tmp_path / "a.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "data.txt", arcname="data.txt")
    h1, h2, h3, h4 = hosts
    roles = Roles(server=[h1, h2, ghost], client=[h3, h4])
    seen = {}
    for run, workers in (("classic", "processes"), ("threads", "threads")):
        caplog.clear()
        with config_context(ansible_workers=workers), caplog.at_level(logging.DEBUG, "enoslib.api.ansible"):
            results = run_ansible(tmp_path / "site.yml", roles, on_error_continue=True,
                                  extra_vars={"run": run, "fetched": str(tmp_path / "fetched"),
                                              "archive": str(archive), "greeting": "from-extra"},
                                  skip_tags=["skipme"])
        seen[run] = (_view(results), _files([h1, h2, h3, h4], run))
        logged = caplog.text
    assert seen["threads"] == seen["classic"]
    view, files = seen["threads"]
    by = {(h, t): (s, out) for h, t, s, _, _, out, *_ in view}
    assert by[("ghost", "Gathering Facts")][0] == "unreachable"
    assert by[("h1", "rescued")] == ("ok", "rescued fails in block")
    assert by[("h2", "delegated to a client")] == ("ok", "on h3 for h2")
    assert by[("h1", "delegated to localhost")] == ("ok", "local h1")
    assert by[("h1", "once")] == ("ok", "once h1") and ("h2", "once") not in by  # reported once
    assert by[("h1", "ignored failure")][0] == "failed" and by[("h1", "async")] == ("ok", "async")
    assert by[("h1", "conf changed")][0] == "ok" and by[("h2", "role tagged")] == ("ok", "tagged from-extra")
    assert by[("h1", "from include")][0] == "ok"
    assert ("h1", "skipped by tag") not in by and by[("h4", "free one")] == ("ok", "free h4")
    assert "data.txt" in files["h1"] and "handled.txt" in files["h2"] and files["h3"] == "free"
    for run in ("classic", "threads"):
        assert (tmp_path / "fetched" / run / "h1" / f"tmp/enos-strategy-{run}/facts.txt").read_text() == "h1 from-extra\n"
    # only the async task went to a forked worker in the threaded run
    assert "forked worker (async)" in logged and logged.count("forked worker") == 2  # h1, h2
    # and ansible-core's connection plugins only for localhost
    assert logged.count("connection plugin, in a thread") == 2
    assert "'delegated to localhost' on h1: ansible-core's local connection" in logged


def test_run_play_through_core_same_as_forked_workers(hosts, caplog) -> None:
    play = {"hosts": "all", "gather_facts": False, "tasks": [
        {"name": "block", "block": [{"name": "echo", "shell": "echo {{ inventory_hostname }}"},
                                    {"name": "stat", "stat": {"path": "/etc/hostname"},
                                     "register": "st"}],
         "when": "inventory_hostname != 'h2'"},
        {"name": "uses register", "debug": {"msg": "{{ st.stat.exists }}"},
         "when": "st is not skipped"},
        {"name": "become", "command": "id -un", "become": True},
        # not sudo: ansible-core's ssh connection plugin (in the thread)
        {"name": "su", "command": "id -un", "become": True, "become_method": "su"},
    ]}
    seen = {}
    for workers in ("processes", "threads"):
        with config_context(ansible_workers=workers), caplog.at_level(logging.DEBUG, "enoslib.api.ansible"):
            caplog.clear()
            seen[workers] = _view(run_play(play, hosts[:2], on_error_continue=True))
    assert seen["threads"] == seen["processes"]
    assert caplog.text.count("ansible-core's ssh connection plugin, in a thread") == 2
    assert [r[5] for r in seen["threads"] if r[1] == "become"] == ["root", "root"]
    # refused when set, before any play (EnosConfigError at $.ansible_workers)
    with pytest.raises(EnosConfigError, match="ansible_workers"):
        with config_context(ansible_workers="forks"):
            run_play(play, hosts[:1])
