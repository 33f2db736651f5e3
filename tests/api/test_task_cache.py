"""What the TaskExecutor threads keep across hosts (enoslib.api._task_cache: keywords
post-validated once per task; enoslib.api._plugin_options: ansible-core's own settings
resolved once per inputs): the same values as ansible-core's for every host, and nothing
reused when what the value depends on differs (host variables, environment, the keyword's
value). No SSH here; whole plays on both paths are in test_semantics_modules.py."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("ansible._internal._templating._engine")

from ansible._internal._templating._engine import TemplateEngine as Templar  # noqa: E402
from ansible.parsing.dataloader import DataLoader  # noqa: E402

from enoslib.api import _plugin_options, _task_cache  # noqa: E402
from enoslib.api._executor import _end_of_play, _executor_class, in_our_thread  # noqa: E402
from enoslib.api.ansible import _prepare_environment, trusted  # noqa: E402

TASK = {
    "name": "t",
    "command": "echo {{ word }}",
    "check_mode": "{{ cm }}",  # templated: per host
    "become": True,  # no template: once per task
    "become_user": "{{ who }}",
    "ignore_errors": True,
    "tags": ["a", "b"],
    "when": "word != 'x'",
    "no_log": "{{ secret | default(false) }}",
}
HOSTS = [
    {"word": "one", "cm": True, "who": "alice"},
    {"word": "two", "cm": False, "who": "bob", "secret": True},
    {"word": "three", "cm": True, "who": "carol"},
]


def _task(data: dict[str, Any] = TASK) -> Any:
    """The task as run_actions compiles it (in a play and its block)."""
    from ansible import constants as C
    from ansible.inventory.manager import InventoryManager
    from ansible.playbook.play import Play
    from ansible.vars.manager import VariableManager

    _prepare_environment()
    loader = DataLoader()
    variables = VariableManager(loader=loader, inventory=InventoryManager(loader, sources=[]))
    play = Play().load(trusted({"hosts": "all", "gather_facts": False, "tasks": [data]}),
                       variable_manager=variables, loader=loader)
    tasks = [t for b in play.compile() for t in b.block if t.action not in C._ACTION_META]
    assert len(tasks) == 1
    return tasks[0]


def _validated(task: Any, variables: dict[str, Any], ours: bool = True) -> Any:
    copy = _task_cache.cached(task.copy()) if ours else task.copy()
    templar = Templar(loader=DataLoader(), variables=variables)
    if ours:
        with in_our_thread():
            copy.post_validate(templar=templar)
    else:
        copy.post_validate(templar=templar)
    return copy


def _attrs(task: Any) -> dict[str, Any]:
    """The task's keywords (its loop_control made per copy: its uuid left out)."""
    attrs = task.dump_attrs()
    attrs["loop_control"] = {k: v for k, v in attrs["loop_control"].items() if k != "uuid"}
    return attrs


def test_keywords_post_validated_once_per_task_same_as_ansible_core() -> None:
    _end_of_play()
    task = _task()
    plain = [_attrs(_validated(task, v, ours=False)) for v in HOSTS]
    assert not _task_cache._VALIDATED  # ansible-core's own class: nothing kept
    for _ in range(2):  # the first round fills the cache, the second reads it
        ours = [_validated(task, v) for v in HOSTS]
        assert [_attrs(o) for o in ours] == plain
    kept = {name for uuid, name in _task_cache._VALIDATED if uuid == task._uuid}
    assert {"become", "ignore_errors", "tags", "when"} <= kept
    # templated keywords and the per-host ones are never kept: one value per host
    assert not kept & {"check_mode", "become_user", "no_log", "args", "name", "action"}
    assert [o.check_mode for o in ours] == [True, False, True]
    assert [o.become_user for o in ours] == ["alice", "bob", "carol"]
    assert [o.no_log for o in ours] == [False, True, False]
    assert [o.args["_raw_params"] for o in ours] == ["echo one", "echo two", "echo three"]
    # each host's task has its own containers
    ours[0].tags.append("mutated")
    assert _validated(task, HOSTS[1]).tags == ["a", "b"]
    _end_of_play()
    assert not _task_cache._VALIDATED


def test_kept_keyword_not_reused_for_another_value() -> None:
    _end_of_play()
    task = _task()
    assert _validated(task, HOSTS[0]).ignore_errors is True
    # the same task (same uuid) whose keyword now holds another value: validated again
    other = task.copy()
    other.ignore_errors = False
    other.tags = ["c"]
    got = _validated(other, HOSTS[0])
    assert got.ignore_errors is False and got.tags == ["c"]
    assert _validated(task, HOSTS[0]).ignore_errors is True
    # outside our threads: ansible-core's own post-validation, nothing read nor kept
    _end_of_play()
    copy = _task_cache.cached(task.copy())
    copy.post_validate(templar=Templar(loader=DataLoader(), variables=HOSTS[0]))
    assert copy.ignore_errors is True and not _task_cache._VALIDATED


def test_check_mode_from_a_variable_per_host_in_loops() -> None:
    """A loop's per-item copies (TaskExecutor copies by class) keep the per-host rule."""
    _end_of_play()
    task = _task({"command": "true", "check_mode": "{{ cm }}", "diff": True})
    host_copy = _task_cache.cached(task.copy())
    items = [host_copy.copy(exclude_parent=True, exclude_tasks=True) for _ in HOSTS]
    for item, variables in zip(items, HOSTS):
        assert type(item) is type(host_copy) and type(item).__name__ == "Task"
        item._parent = host_copy._parent  # as TaskExecutor's loop does
        with in_our_thread():
            item.post_validate(templar=Templar(loader=DataLoader(), variables=variables))
    assert [i.check_mode for i in items] == [True, False, True]
    assert [i.diff for i in items] == [True, True, True]
    assert (task._uuid, "diff") in _task_cache._VALIDATED
    _end_of_play()


def _setting(name: str, variables: dict[str, Any] | None = None) -> Any:
    from ansible import constants as C

    return C.config.get_config_value(name, variables=variables)


def test_settings_resolved_once_per_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    _executor_class()  # installs it
    _plugin_options._CACHE.clear()
    monkeypatch.delenv("ANSIBLE_NO_TARGET_SYSLOG", raising=False)
    hosts = [{"ansible_no_target_syslog": b, "unrelated": i} for i, b in enumerate(
        (True, False, True))]
    plain = [_setting("DEFAULT_NO_TARGET_SYSLOG", v) for v in hosts]
    assert plain == [True, False, True]
    assert not _plugin_options._CACHE  # outside our threads: nothing kept
    with in_our_thread():
        for _ in range(2):
            assert [_setting("DEFAULT_NO_TARGET_SYSLOG", v) for v in hosts] == plain
        kept = len(_plugin_options._CACHE)
        assert kept == 2  # one per value of the variable the setting reads
        # a variable the setting does not read makes no new entry
        assert _setting("DEFAULT_NO_TARGET_SYSLOG", {**hosts[1], "unrelated": "x"}) is False
        assert len(_plugin_options._CACHE) == kept
        # the environment is read as ansible-core reads it (variables first)
        assert _setting("DEFAULT_NO_TARGET_SYSLOG", {}) is False
        monkeypatch.setenv("ANSIBLE_NO_TARGET_SYSLOG", "true")
        assert _setting("DEFAULT_NO_TARGET_SYSLOG", {}) is True
        assert _setting("DEFAULT_NO_TARGET_SYSLOG", hosts[1]) is False
        # a list setting: each caller gets its own list
        listed = _setting("DISPLAY_TRACEBACK")
        listed.append("mutated")
        assert "mutated" not in _setting("DISPLAY_TRACEBACK")
    monkeypatch.delenv("ANSIBLE_NO_TARGET_SYSLOG")
    assert _setting("DEFAULT_NO_TARGET_SYSLOG", {}) is False
