"""EnOSlib's ``dump_results`` and ``ansible_stdout`` settings on real SSH hosts.

``en.set_config(dump_results=path)``: each api call returning results appends them to the file
as one JSON list per line (a call made inside another writes nothing of its own; a call that
raises writes nothing, as in EnOSlib); ``no_log`` output is never written.
"""

from __future__ import annotations

import json
import stat

import pytest

import enoslib as en
from enoslib.errors import EnosFailedHostsError

pytestmark = pytest.mark.root


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_each_api_call_appends_its_results(roles, tmp_path):
    path = tmp_path / "results.json"
    with en.config_context(dump_results=path):
        first = en.run_command("echo {{{alias}}}", roles=roles["server"])
        with en.actions(roles=roles["client"]) as a:
            a.shell("echo from-actions", task_name="act")
        en.run_play({"hosts": "all", "tasks": [
            {"name": "secret", "shell": "echo s3cr3t-value", "no_log": True},
            {"name": "shown", "shell": "echo visible"}]}, roles=roles["rack1"])
        facts = en.gather_facts(roles=roles["rack1"], gather_subset=["min"])
        with pytest.raises(EnosFailedHostsError):  # raised: nothing dumped, as in EnOSlib
            en.run_command("false", roles=roles["server"])
        en.run_command("false", roles=roles["server"], on_error_continue=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    dumped = lines(path)
    assert len(dumped) == 5  # one line per call; actions' and run_play's inner runs: none
    assert dumped[0] == first.to_dict()  # Results.to_dict: host, task, status, stdout ... payload
    assert {(r["host"], r["stdout"].strip()) for r in dumped[0]} == {(h.alias, h.alias) for h in roles["server"]}
    assert [(r["task"], r["stdout"].strip(), r["status"]) for r in dumped[1]] == [
        ("act", "from-actions", "OK")] * 2
    assert "s3cr3t-value" not in path.read_text()
    by_task = {r["task"]: r for r in dumped[2]}
    assert "censored" in by_task["secret"]["payload"] and by_task["shown"]["stdout"].strip() == "visible"
    assert {r["host"] for r in dumped[3]} == set(facts)
    assert all("ansible_facts" in r["payload"] for r in dumped[3])
    assert {(r["status"], r["rc"]) for r in dumped[4]} == {("FAILED", 1)}
    # the next script (or set_config) with the same path: a new file, the old one untouched
    with en.config_context(dump_results=path) as config:
        assert config["dump_results"] == tmp_path / "results.json.1"
        en.run(":", roles["server"])
    assert len(lines(path)) == 5 and len(lines(tmp_path / "results.json.1")) == 1


def test_ansible_stdout_other_strings_print_ansible_output(roles, capfd):
    play = {"hosts": "all", "tasks": [{"name": "hello-task", "shell": "echo hi"}]}
    with en.config_context(ansible_stdout="spinner"):
        en.run_play(play, roles=roles["server"], engine="ansible")
        with en.actions(roles=roles["server"], engine="ansible") as a:
            a.shell("echo hi", task_name="hello-task")
    assert "hello-task" not in capfd.readouterr().out
    with en.config_context(ansible_stdout="default"):  # EnOSlib: ansible.cfg's callback
        with en.actions(roles=roles["server"], engine="ansible") as a:
            a.shell("echo hi", task_name="hello-task")
    assert "TASK [hello-task]" in capfd.readouterr().out
