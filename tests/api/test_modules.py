"""The module fast path (enoslib.api.modules) against ansible-core, on real local SSH hosts.

Every play runs twice: on the default engine (modules run by our per-host agent) and forced
through ansible-core (``engine="ansible"``); the Results must be the same.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest

from enoslib.api import actions, close_connections, run_command
from enoslib.api._actions import gather_facts
from enoslib.errors import EnosFailedHostsError

pytestmark = pytest.mark.root

# values that differ between two runs of the same module
_RENAMED = [
    (r"ansible-tmp-[0-9.-]+", "ansible-tmp-N"),
    (r'"_original_basename": "\.[^"]+"', '"_original_basename": "TMP"'),
    (r"\.[0-9]+\.[0-9-]+@[0-9:]+~", ".BACKUP~"),
    (r"/ansible-local-[^/]+/tmp[^/]+/", "/ansible-local-N/tmpN/"),  # a template's rendering
]
VOLATILE = {"start", "end", "delta", "atime", "mtime", "ctime", "ansible_facts"}


def _comparable(result: Any) -> dict[str, Any]:
    d = result.to_dict()
    d.pop("duration")
    payload = d.pop("payload")
    d["payload"] = {k: v for k, v in payload.items() if k not in VOLATILE}
    if isinstance(payload.get("results"), list):  # a loop's items
        d["payload"]["results"] = [
            {k: v for k, v in item.items() if k not in VOLATILE} for item in payload["results"]
        ]
    if isinstance(payload.get("stat"), dict):  # the file is made anew before each run
        d["payload"]["stat"] = {
            k: v for k, v in payload["stat"].items() if k not in VOLATILE | {"inode", "version"}
        }
    # names of temporary files and backups: made anew by each run
    text = json.dumps(d["payload"], sort_keys=True)
    for pattern, fixed in _RENAMED:
        text = re.sub(pattern, fixed, text)
    d["payload"] = json.loads(text)
    facts = payload.get("ansible_facts")
    # reported by whichever path first finds the host's Python in this process
    d["facts"] = sorted(set(facts or ()) - {"discovered_interpreter_python"})
    return d


def _assert_same(fast: Any, core: Any) -> None:
    assert len(fast) == len(core)
    for a, b in zip(fast, core):
        ca, cb = _comparable(a), _comparable(b)
        diff = {k: (ca[k], cb[k]) for k in ca if k != "payload" and ca[k] != cb[k]}
        pa, pb = ca["payload"], cb["payload"]
        diff.update({f"payload.{k}": (pa.get(k), pb.get(k)) for k in set(pa) | set(pb)
                     if pa.get(k, ...) != pb.get(k, ...)})
        assert not diff, f"{a.host} {a.task!r}: {diff}"


def _both(hosts: list[Any], record: Any, reset: str | None = None) -> tuple[Any, Any]:
    """Run the play recorded by ``record(a)`` on each engine; ``reset`` runs before each."""
    out = []
    for engine in ("auto", "ansible"):
        if reset:
            run_command(reset, hosts, on_error_continue=True)
        with actions(roles=hosts, engine=engine, on_error_continue=True) as a:
            record(a)
        out.append(a)
    return out[0], out[1]


def test_modules_give_the_results_of_ansible_core(hosts: list[Any]) -> None:
    def play(a: Any) -> None:
        a.command(argv=["echo", "hi there"], task_name="command argv")
        a.shell("echo out; echo err >&2", creates="/nonexistent", task_name="shell")
        a.lineinfile(path="/tmp/mp-test/li", line="hello", create=True)
        a.lineinfile(path="/tmp/mp-test/li", line="hello", task_name="lineinfile again")
        a.file(path="/tmp/mp-test/d", state="directory", mode="0750")
        a.stat(path="/tmp/mp-test/li")
        a.ansible.builtin.ping(data="pong!")
        a.getent(database="passwd", key="root")
        a.command(argv=["touch", "/tmp/mp-test/no"], check_mode=True, task_name="check")
        a.file(path="/tmp/mp-test/d", state="absent", check_mode=True, task_name="check file")
        a.command(argv=["id", "-un"], become=True, become_user="nobody", task_name="become")
        a.setup(gather_subset=["min"])

    fast, core = _both(hosts[:2], play, reset="rm -rf /tmp/mp-test; mkdir /tmp/mp-test; mkdir -p -m 700 ~/.ansible/tmp")
    assert fast.engine_used == "modules" and core.engine_used == "ansible"
    _assert_same(fast.results, core.results)
    by_task = {r.task: r for r in fast.results if r.host == hosts[0].alias}
    assert by_task["command argv"].stdout == "hi there" and by_task["command argv"].changed
    assert by_task["lineinfile"].changed and not by_task["lineinfile again"].changed
    assert by_task["stat"].payload["stat"]["exists"]
    assert by_task["check"].status == "skipped" or not by_task["check"].changed
    assert by_task["check file"].changed  # would remove it ...
    assert run_command("test -d /tmp/mp-test/d", hosts[:1]).ok  # ... but did not
    assert by_task["become"].stdout == "nobody"
    facts = by_task["setup"].payload["ansible_facts"]
    assert facts["ansible_hostname"] == hosts[0].alias


def test_a_failing_module_fails_on_both_paths_and_hosts_drop_out(hosts: list[Any]) -> None:
    def play(a: Any) -> None:
        a.file(path="/nonexistent/dir/file", state="file", task_name="missing")
        a.ping(task_name="after")

    fast, core = _both(hosts[:2], play)
    _assert_same(fast.results, core.results)
    assert [r.status for r in fast.results] == ["FAILED", "FAILED"]  # no "after": hosts gone
    assert "absent" in fast.results[0].payload["msg"]
    with pytest.raises(EnosFailedHostsError) as err:
        with actions(roles=hosts[:1]) as a:
            a.file(path="/nonexistent/dir/file", state="file")
    assert err.value.results[0].status == "FAILED"


def test_ignore_errors_keeps_the_host_in_play(hosts: list[Any]) -> None:
    def play(a: Any) -> None:
        a.file(path="/nonexistent/x", state="file", ignore_errors=True, task_name="missing")
        a.ping(task_name="after")

    fast, core = _both(hosts[:1], play)
    _assert_same(fast.results, core.results)
    assert [r.status for r in fast.results] == ["FAILED", "OK"]
    assert fast.results[0].payload["ignored"]


def test_unreachable_host(hosts: list[Any], ghost: Any) -> None:
    def play(a: Any) -> None:
        a.ping()

    fast, core = _both([hosts[0], ghost], play)
    assert [(r.host, r.status) for r in fast.results] == [(r.host, r.status) for r in core.results]
    assert [r.status for r in fast.results] == ["OK", "UNREACHABLE"]


def test_what_falls_back_to_ansible_core_is_logged(
    hosts: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    cases = {
        "'fetch'": lambda a: a.fetch(src="/etc/hostname", dest="/tmp/mp-fetch"),
        "delegate_to": lambda a: a.ping(delegate_to=a.roles.all()[0].alias),
        "run_once": lambda a: a.ping(run_once=True),
        "become_method 'su'": lambda a: a.ping(become=True, become_method="su"),
    }
    for reason, record in cases.items():
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="enoslib.api.actions"):
            with actions(roles=hosts[:1]) as a:
                a.ping()
                record(a)
        assert a.engine_used == "ansible", reason
        assert reason in caplog.text and "through ansible-core" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="enoslib.api.actions"):
        with actions(roles=hosts[:1]) as a:
            a.ping()
    assert a.engine_used == "modules" and "module fast path" in caplog.text


def test_gather_facts_and_agents_closed_with_connections(hosts: list[Any]) -> None:
    facts = gather_facts(hosts[:2], gather_subset=["min"])
    assert {f["ansible_hostname"] for f in facts.values()} == {h.alias for h in hosts[:2]}
    close_connections(hosts[:2])  # the agents go with the connections; the next call restarts
    with actions(roles=hosts[:2]) as a:
        a.ping()
    assert a.engine_used == "modules" and len(a.results.ok) == 2


def test_run_play_takes_the_module_path_when_it_can(
    hosts: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    from enoslib.api import run_play

    play = {"hosts": "all", "tasks": [{"ping": {"data": "x"}}, {"name": "st", "stat": {"path": "/"}},
                                      {"command": "echo hi"}]}
    fast = run_play(play, hosts[:2])
    core_play = {**play, "serial": 2}  # serial: ansible-core reads the play
    with caplog.at_level(logging.DEBUG, logger="enoslib.api.actions"):
        core = run_play(core_play, hosts[:2])
    assert "through ansible-core, because of play keys ['serial']" in caplog.text
    assert [(r.host, r.task, r.status, r.stdout) for r in fast] == [
        (r.host, r.task, r.status, r.stdout) for r in core
    ]
    assert [r.task for r in fast[::2]] == ["ping", "st", "command"]
    _assert_same(fast[:4], core[:4])  # the modules' results; command took the SSH fast path


def test_when_register_loops_environment_through_ansible_core_s_executor(
    hosts: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    def play(a: Any) -> None:
        a.stat(path="/etc/hostname", register="st")
        a.command(argv=["echo", "{{ inventory_hostname }} {{ st.stat.exists }}"], task_name="tpl",
                  register="out")
        a.ping(when="out.stdout.startswith('h1')", task_name="only h1")
        a.ping(when=["st.stat.exists", "out is changed"], task_name="when list")
        a.command(argv=["echo", "{{ item }}"], loop=["a", "b"], task_name="loop")
        a.command(argv=["echo", "{{ x }}"], with_items=[1, 2], loop_control={"loop_var": "x"},
                  task_name="with_items")
        a.shell("echo $GREETING", environment={"GREETING": "hi {{ inventory_hostname }}"},
                task_name="env")
        a.command("false", changed_when=False, failed_when="out.rc != 0", task_name="cw fw")
        a.command("false", ignore_errors=True, task_name="ignored")
        a.ping(loop=[], task_name="empty loop")
        a.ping(loop=[1, 2], when="item > 1", task_name="when per item")
        a.set_fact(greeting="hi {{ inventory_hostname }}")
        a.debug(msg="{{ greeting }} {{ out.stdout }}")
        getattr(a, "assert")(that=["greeting.startswith('hi')"], task_name="assert")
        a.command("echo u", register="u", task_name="until",
                  task_kwargs={"until": "u.rc == 0", "retries": 2, "delay": 0})

    with caplog.at_level(logging.DEBUG, logger="enoslib.api.actions"):
        fast, core = _both(hosts[:2], play)
    assert fast.engine_used == "modules", caplog.text
    _assert_same(fast.results, core.results)
    by_task = {r.task: r for r in fast.results if r.host == hosts[0].alias}
    assert by_task["tpl"].stdout == "h1 True"
    assert by_task["only h1"].status == "OK"
    assert {r.host: r.status for r in fast.results if r.task == "only h1"} == {
        "h1": "OK", "h2": "SKIPPED"}
    assert [i["stdout"] for i in by_task["loop"].payload["results"]] == ["a", "b"]
    assert by_task["env"].stdout == "hi h1"
    assert by_task["cw fw"].status == "OK" and not by_task["cw fw"].changed
    assert by_task["debug"].payload["msg"] == "hi h1 h1 True"


def test_copy_and_template_with_ansible_core_s_action_plugins(
    hosts: list[Any], tmp_path: Any
) -> None:
    src = tmp_path / "app.conf"
    src.write_text("static\n")
    tpl = tmp_path / "app.j2"
    tpl.write_text("host={{ inventory_hostname }} port={{ port }}\n")

    def play(a: Any) -> None:
        a.copy(content="hello {{ inventory_hostname }}\n", dest="/tmp/mp-cp/content",
               mode="0640", task_name="content")
        a.copy(content="hello {{ inventory_hostname }}\n", dest="/tmp/mp-cp/content",
               mode="0640", task_name="content again")
        a.copy(src=str(src), dest="/tmp/mp-cp/", backup=True, task_name="src")
        a.template(src=str(tpl), dest="/tmp/mp-cp/app.ini", task_name="template",
                   task_kwargs={"vars": {"port": 8080}})
        a.copy(content="x\n", dest="/tmp/mp-cp/check", check_mode=True, task_name="check")
        a.copy(content="x\n", dest="/nonexistent/dir/x", ignore_errors=True, task_name="bad")
        a.copy(content="as nobody\n", dest="/tmp/mp-cp/nobody", become=True,
               become_user="nobody", task_name="become")
        a.stat(path="/tmp/mp-cp/app.ini", register="ini", task_name="stat")
        a.command("cat /tmp/mp-cp/app.ini", when="ini.stat.exists", task_name="cat")

    reset = "rm -rf /tmp/mp-cp; mkdir -m 777 /tmp/mp-cp"
    fast, core = _both(hosts[:2], play, reset=reset)
    assert fast.engine_used == "modules"
    _assert_same(fast.results, core.results)
    by_task = {r.task: r for r in fast.results if r.host == hosts[0].alias}
    assert by_task["content"].changed and not by_task["content again"].changed
    assert by_task["src"].changed and by_task["template"].changed
    assert by_task["check"].changed and by_task["bad"].status == "FAILED"
    assert by_task["cat"].stdout == "host=h1 port=8080"
    out = run_command("stat -c '%a %U' /tmp/mp-cp/content /tmp/mp-cp/nobody; test -e /tmp/mp-cp/check",
                      hosts[:1], on_error_continue=True)
    assert out[0].stdout.splitlines() == ["640 root", "644 nobody"] and out[0].rc == 1


def test_executor_path_unreachable_and_failing_hosts(hosts: list[Any], ghost: Any) -> None:
    def play(a: Any) -> None:
        a.command("test {{ inventory_hostname }} = h1", task_name="fails on h2")
        a.copy(content="{{ inventory_hostname }}\n", dest="/tmp/mp-unreach", task_name="after")

    fast, core = _both([hosts[0], hosts[1], ghost], play, reset="rm -f /tmp/mp-unreach")
    assert fast.engine_used == "modules"
    assert [(r.host, r.task, r.status) for r in fast.results] == [
        (r.host, r.task, r.status) for r in core.results]
    assert [(r.host, r.status) for r in fast.results] == [
        ("h1", "OK"), ("h2", "FAILED"), ("ghost", "UNREACHABLE"), ("h1", "OK")]
    _assert_same(fast.results[:2] + fast.results[3:], core.results[:2] + core.results[3:])


def test_run_play_with_vars_and_handlers_on_the_module_path(
    hosts: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    from enoslib.api import run_play
    from enoslib.api.ansible import run_plays

    play = {
        "hosts": "all",
        "vars": {"target": "/tmp/mp-hd"},
        "tasks": [
            {"name": "conf", "copy": {"content": "v1\n", "dest": "{{ target }}/conf"},
             "notify": ["restart"]},
            {"name": "h1 only", "file": {"path": "{{ target }}/flag", "state": "touch"},
             "when": "inventory_hostname == 'h1'", "notify": "reload topic"},
            {"name": "unchanged", "stat": {"path": "{{ target }}"}, "notify": "never"},
        ],
        "handlers": [
            {"name": "never", "command": "echo never"},
            {"name": "reload", "command": "echo reload {{ inventory_hostname }}",
             "listen": "reload topic"},
            {"name": "restart", "command": "echo restart {{ inventory_hostname }}"},
        ],
    }
    reset = "rm -rf /tmp/mp-hd; mkdir /tmp/mp-hd"
    run_command(reset, hosts[:2])
    with caplog.at_level(logging.DEBUG, logger="enoslib.api.actions"):
        fast = run_play(play, hosts[:2])
    assert "module fast path" in caplog.text and "through ansible-core" not in caplog.text
    run_command(reset, hosts[:2])
    core = run_plays([play], hosts[:2])
    _assert_same(fast, core)
    assert [(r.host, r.task, r.stdout) for r in fast if r.task in ("reload", "restart")] == [
        ("h1", "reload", "reload h1"), ("h1", "restart", "restart h1"),
        ("h2", "restart", "restart h2")]


def _tmp_dirs(hosts: list[Any]) -> set[tuple[str, str]]:
    """ansible-core's temporary directories on ``hosts``: (host, path)."""
    out = run_command("ls -d /root/.ansible/tmp/ansible-tmp-* /var/tmp/ansible-tmp-* "
                      "/tmp/ansible-tmp-* 2>/dev/null; true", hosts)
    return {(r.host, path) for r in out for path in r.stdout.split()}


def test_temporary_directories_and_home_expansion_on_the_agent(hosts: list[Any]) -> None:
    """Temporary directories made and removed by the agent (no shell), ``~`` of the SSH and
    of a become user, check mode, a copy failing after its file was sent: the Results of
    ansible-core, nothing left behind."""
    def play(a: Any) -> None:
        a.copy(content="home {{ inventory_hostname }}\n",
               dest="~/mp-tilde-{{ inventory_hostname }}", task_name="tilde")
        a.copy(content="x\n", dest="~/mp-tilde-x", become=True, become_user="nobody",
               ignore_errors=True, task_name="tilde of become user")
        a.copy(content="unprivileged\n", dest="/tmp/mp-tmp/nobody-{{ inventory_hostname }}",
               become=True, become_user="nobody", task_name="system tmp dir")
        a.template(src="/etc/hostname", dest="/tmp/mp-tmp/check", check_mode=True,
                   task_name="check mode")
        a.copy(content="x\n", dest="/tmp/mp-tmp/no/such/dir/x", ignore_errors=True,
               task_name="fails after the transfer")
        a.copy(content="x\n", dest="/tmp/mp-tmp/{{ inventory_hostname }}",
               task_name="after the failure")

    before = _tmp_dirs(hosts[:2])
    reset = ("rm -rf /tmp/mp-tmp /root/mp-tilde-*; mkdir -m 777 /tmp/mp-tmp; "
             "mkdir -p /root/.ansible/tmp")
    fast, core = _both(hosts[:2], play, reset=reset)
    assert fast.engine_used == "modules"
    _assert_same(fast.results, core.results)
    by_task = {r.task: r for r in fast.results if r.host == hosts[0].alias}
    assert by_task["tilde"].changed and by_task["tilde"].payload["dest"] == "/root/mp-tilde-h1"
    assert by_task["tilde of become user"].status == "FAILED"
    assert by_task["system tmp dir"].changed and by_task["check mode"].changed
    assert by_task["fails after the transfer"].status == "FAILED"
    assert by_task["after the failure"].changed
    assert _tmp_dirs(hosts[:2]) <= before  # every temporary directory removed, on both paths
    out = run_command("cat ~/mp-tilde-h2; stat -c %U /tmp/mp-tmp/nobody-h2; "
                      "test -e /tmp/mp-tmp/check", hosts[1:2], on_error_continue=True)
    assert out[0].stdout.splitlines() == ["home h2", "nobody"] and out[0].rc == 1


def test_a_temporary_directory_that_cannot_be_made(hosts: list[Any]) -> None:
    """remote_tmp where nothing can be created: the host is unreachable on both paths, with
    ansible-core's message (the command it would have run)."""
    def play(a: Any) -> None:
        a.copy(content="x\n", dest="/tmp/mp-notmp", task_name="copy")
        a.ping(task_name="after")

    out = []
    for engine in ("auto", "ansible"):
        with actions(roles=hosts[:1], engine=engine, on_error_continue=True,
                     extra_vars={"ansible_remote_tmp": "/proc/mp-no-tmp"}) as a:
            play(a)
        out.append(a)
    fast, core = out
    assert fast.engine_used == "modules"
    _assert_same(fast.results, core.results)
    assert [r.status for r in fast.results] == ["UNREACHABLE"]
    assert "Failed to create temporary directory" in fast.results[0].payload["msg"]
    assert "/proc/mp-no-tmp/ansible-tmp-" in fast.results[0].payload["msg"]


def test_modules_run_again_by_a_warmer_agent(hosts: list[Any]) -> None:
    """The agent imports what its first modules imported (``glob``, ``filecmp``, ansible's
    JSON profiles) and loads the locale before it forks the next ones: modules run after
    that, with a locale of the task's or one the host lacks, give ansible-core's Results."""
    def play(a: Any) -> None:
        for round_ in ("first", "again"):
            a.command("echo {{ item }}", loop=["a", "b"], task_name=f"command {round_}")
            a.copy(content="warm {{ inventory_hostname }}\n", dest="/tmp/mp-warm/copy",
                   task_name=f"copy {round_}")
            a.stat(path="/tmp/mp-warm/copy", task_name=f"stat {round_}")
            a.file(path="/tmp/mp-warm/copy", mode="0640", task_name=f"file {round_}")
            a.shell("echo $LANG $LC_ALL", environment={"LC_ALL": "C"},
                    task_name=f"locale {round_}")
            a.shell("echo $LANG $LC_ALL", environment={"LC_ALL": "xx_XX.bogus"},
                    task_name=f"missing locale {round_}")
            # more output than a pipe holds, on both streams, and a failure
            a.shell("head -c 300000 /dev/zero | tr '\\0' x; seq 20000 >&2; exit 3",
                    ignore_errors=True, task_name=f"big output {round_}")

    fast, core = _both(hosts[:2], play, reset="rm -rf /tmp/mp-warm; mkdir /tmp/mp-warm")
    assert fast.engine_used == "modules"
    _assert_same(fast.results, core.results)
    by_task = {r.task: r for r in fast.results if r.host == hosts[0].alias}
    assert by_task["copy first"].changed and not by_task["copy again"].changed
    assert by_task["file first"].changed and not by_task["file again"].changed
    assert by_task["locale again"].stdout.split()[-1] == "C"
    # AnsibleModule falls back to a locale the host has, and says so in the environment
    assert "bogus" not in by_task["missing locale again"].stdout
    assert [r["stdout"] for r in by_task["command again"].payload["results"]] == ["a", "b"]
    big = by_task["big output again"]
    assert big.rc == 3 and big.stdout == "x" * 300000 and big.stderr.splitlines()[-1] == "20000"
