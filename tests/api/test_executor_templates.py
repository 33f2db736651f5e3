"""Templates on the threaded TaskExecutor path (compiled once per process,
enoslib.api._templating_cache) against ansible-core's own runs on the same hosts: values
that depend on the host, ``#jinja2:`` override headers, strings from a host that must not be
templated, and the error of a bad template: the same Results on both paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from enoslib.api import _templating_cache, actions, run_command, run_play
from enoslib.config import config_context

pytestmark = pytest.mark.root


def _view(results: Any) -> list[tuple[Any, ...]]:
    return [(r.host, r.task, r.status, r.changed, r.rc, r.stdout,
             r.payload.get("msg"), r.payload.get("results") and [
                 (i.get("item"), i.get("stdout"), i.get("skipped")) for i in r.payload["results"]])
            for r in results]


def _play(tpl: Path, headed: Path) -> list[dict[str, Any]]:
    return [
        {"name": "copy", "copy": {"content": "hello {{ inventory_hostname | upper }}\n",
                                  "dest": "/tmp/enos-tc/copy"}},
        {"name": "template", "template": {"src": str(tpl), "dest": "/tmp/enos-tc/tpl"}},
        {"name": "headed", "template": {"src": str(headed), "dest": "/tmp/enos-tc/headed"}},
        {"name": "cat", "command": "cat /tmp/enos-tc/copy /tmp/enos-tc/tpl /tmp/enos-tc/headed"},
        {"name": "loop", "command": "echo {{ item }} {{ inventory_hostname }}",
         "loop": ["a", "b", "c"], "when": "item != 'b' or inventory_hostname == 'h2'"},
        # a host's output that looks like a template stays as it is (not trusted)
        {"name": "braces", "shell": "printf '%s%s' '{' '{ inventory_hostname }}'",
         "register": "braces"},
        {"name": "untrusted", "debug": {"msg": "got {{ braces.stdout }}"}},
        {"name": "undefined", "debug": {"msg": "{{ nothere }}"}, "ignore_errors": True},
        {"name": "syntax", "command": "echo {{ inventory_hostname ", "ignore_errors": True},
        {"name": "bad when", "command": "true", "when": "inventory_hostname ==",
         "ignore_errors": True},
    ]


def test_templates_same_as_ansible_core(hosts: list[Any], tmp_path: Path) -> None:
    tpl = tmp_path / "app.j2"
    tpl.write_text("host={{ inventory_hostname }}\n{% for i in [1, 2] %}\n{{ i }}\n{% endfor %}\n")
    headed = tmp_path / "headed.j2"
    headed.write_text("#jinja2: variable_start_string:'[%', variable_end_string:'%]', "
                      "trim_blocks:False\n[% inventory_hostname %] {{ kept }}\n"
                      "{% if true %}\nx\n{% endif %}\n")
    tasks = _play(tpl, headed)
    seen = {}
    _templating_cache._CODE.clear()
    for engine in ("ansible", "auto", "auto"):  # the second auto run: compiled code reused
        run_command("rm -rf /tmp/enos-tc; mkdir /tmp/enos-tc", roles=hosts[:2])
        with actions(roles=hosts[:2], engine=engine, on_error_continue=True) as a:
            for task in tasks:
                task = dict(task)
                name = task.pop("name")
                module = next(k for k in task if k not in ("loop", "when", "register",
                                                           "ignore_errors"))
                args = task.pop(module)
                kw = {k: v for k, v in task.items()}
                if isinstance(args, dict):
                    getattr(a, module)(**args, task_name=name, **kw)
                else:
                    getattr(a, module)(args, task_name=name, **kw)
        if engine == "auto":
            assert a.engine_used == "modules"
        seen.setdefault(engine, []).append(_view(a.results))
    assert {k[0] for k in _templating_cache._CODE} >= {"template", "expression"}
    assert seen["auto"][0] == seen["auto"][1] == seen["ansible"][0]
    by = {(r[0], r[1]): r for r in seen["auto"][0]}
    assert by[("h2", "cat")][5] == "hello H2\nhost=h2\n1\n2\nh2 {{ kept }}\n\nx"
    assert [i[:2] for i in by[("h1", "loop")][7]] == [("a", "a h1"), ("b", None), ("c", "c h1")]
    assert by[("h2", "loop")][7][1][:2] == ("b", "b h2")
    assert by[("h1", "untrusted")][6] == "got {{ inventory_hostname }}"
    assert by[("h1", "undefined")][2] == "FAILED" and "nothere" in by[("h1", "undefined")][6]
    assert by[("h1", "syntax")][2] == "FAILED" and "Syntax error" in by[("h1", "syntax")][6]
    assert by[("h1", "bad when")][2] == "FAILED"


def test_templates_in_strategy_threads_same_as_forked_workers(hosts: list[Any],
                                                             tmp_path: Path) -> None:
    tpl = tmp_path / "app.j2"
    tpl.write_text("host={{ inventory_hostname }}\n")
    headed = tmp_path / "headed.j2"
    headed.write_text("#jinja2: variable_start_string:'[%', variable_end_string:'%]'\n"
                      "[% inventory_hostname %] {{ kept }}\n")
    play = {"hosts": "all", "gather_facts": False, "tasks": [
        {"name": "mkdir", "file": {"path": "/tmp/enos-tc", "state": "directory"}},
        *_play(tpl, headed)]}
    seen = {}
    for workers in ("processes", "threads"):
        run_command("rm -rf /tmp/enos-tc", roles=hosts[:2])
        with config_context(ansible_workers=workers):
            seen[workers] = _view(run_play(play, hosts[:2], on_error_continue=True))
    assert seen["threads"] == seen["processes"]
    by = {(r[0], r[1]): r for r in seen["threads"]}
    assert by[("h1", "cat")][5] == "hello H1\nhost=h1\nh1 {{ kept }}"
    assert by[("h2", "untrusted")][6] == "got {{ inventory_hostname }}"
