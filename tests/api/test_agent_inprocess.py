"""Modules run in the agent's own process (enoslib.api._agent.IN_PROCESS), without a fork.

The agent runs here as a plain process of its own (what the relay starts where no daemon can
run), fed the requests the TaskExecutor path sends. A request with ``"fork": true`` runs its
module in a forked child, as every module ran before: both answers must be the same bytes,
and a module run in the process must leave no trace the next module could see.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from enoslib.api import agents
from enoslib.api._agent import _BOOT, IN_PROCESS
from enoslib.api._executor import _module_path
from enoslib.api.modules import _module_args, module_payload

PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


class _Agent:
    def __init__(self, cwd: Path) -> None:
        self.proc = subprocess.Popen([PYTHON, "-c", _BOOT, agents._packed()], cwd=str(cwd),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env={**os.environ, "ENOS_TEST_SESSION": "1"})
        self.pid = self.read()["hello"]["pid"]
        self.sent: set[str] = set()

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        return agents.read_frame(self.proc.stdout)

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(agents.frame(json.dumps(request).encode()))
        self.proc.stdin.flush()
        return self.read()

    def module(self, name: str, args: dict[str, Any], env: dict[str, str] | None = None,
               fork: bool = False, check_mode: bool = False) -> dict[str, Any]:
        """The agent's answer: rc, stdout (parsed when JSON), stderr."""
        built = module_payload(name, _module_path(name, None), _module_args(name, args, check_mode))
        request = {**built.request(False), "lib": agents.lib_key(built), "env": env or {}}
        if fork:
            request["fork"] = True
        reply = self.ask(request)
        if "need" in reply:
            reply = self.ask({**request, "zip_data": built.zip_data})
        assert "rc" in reply, reply
        try:
            out = json.loads(reply["stdout"])
        except ValueError:
            out = reply["stdout"]
        return {"rc": reply["rc"], "out": out, "stderr": reply["stderr"], "raw": reply["stdout"]}


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Agent]:
    a = _Agent(tmp_path_factory.mktemp("agent-cwd"))
    yield a
    assert a.proc.stdin is not None
    a.proc.stdin.close()
    assert a.proc.wait(timeout=30) == 0


def _shell(agent: _Agent, command: str, **kwargs: Any) -> dict[str, Any]:
    return agent.module("command", {"_raw_params": command, "_uses_shell": True}, **kwargs)


def _timeless(answer: dict[str, Any]) -> dict[str, Any]:
    out = answer["out"]
    if isinstance(out, dict):
        out = {k: v for k, v in out.items() if k not in ("start", "end", "delta")}
    return {**answer, "out": out, "raw": None}


def test_the_allowed_modules_run_in_the_agents_process(agent: _Agent) -> None:
    assert {"ansible.modules.stat", "ansible.modules.file", "ansible.modules.copy",
            "ansible.modules.command"} <= IN_PROCESS
    # the shell's parent: the agent itself in process, a forked child otherwise
    assert _shell(agent, "echo $PPID")["out"]["stdout"] == str(agent.pid)
    assert _shell(agent, "echo $PPID", fork=True)["out"]["stdout"] != str(agent.pid)


def test_in_process_answers_are_the_forked_ones(agent: _Agent, tmp_path: Path) -> None:
    (tmp_path / "text").write_text("a\nb\n")
    (tmp_path / "text").chmod(0o644)
    cases: list[tuple[str, dict[str, Any]]] = [
        ("ping", {}),
        ("ping", {"data": "crash"}),  # the module raises
        ("stat", {"path": str(tmp_path / "text"), "get_mime": False}),
        ("stat", {"path": str(tmp_path / "none")}),
        ("stat", {"bogus": 1}),  # refused arguments
        ("file", {"path": str(tmp_path / "text"), "mode": "0644"}),
        ("file", {"path": str(tmp_path / "text" / "x"), "state": "directory"}),  # fails
        ("copy", {"content": "x", "dest": str(tmp_path / "c")}),  # content is the action's
        ("lineinfile", {"path": str(tmp_path / "text"), "line": "a"}),
        ("slurp", {"src": str(tmp_path / "text")}),
        ("slurp", {"src": str(tmp_path / "none")}),
        ("command", {"_raw_params": "echo out; echo err >&2; exit 3", "_uses_shell": True}),
        ("command", {"_raw_params": "pwd", "chdir": str(tmp_path)}),
        ("command", {"_raw_params": "true", "executable": "/bin/sh"}),  # a warning
        ("command", {"argv": ["/nonexistent"]}),
    ]
    for name, args in cases:
        agent.module(name, args, fork=True)  # files changed, read (atime) once before
        forked = agent.module(name, args, fork=True)
        here = agent.module(name, args)
        assert _timeless(here) == _timeless(forked), (name, args, here, forked)
        if name != "command":
            assert here["raw"] == forked["raw"], (name, args)


def test_an_in_process_module_leaves_no_trace(agent: _Agent, tmp_path: Path) -> None:
    def seen() -> dict[str, Any]:
        out = _shell(agent, "pwd; umask; echo ${ENOS_TEST_VAR-unset}; echo $ENOS_TEST_SESSION; "
                            "locale | grep LC_ALL=")["out"]
        assert "warnings" not in out, out
        return {"stdout": out["stdout"], "stderr": out["stderr"]}

    before = seen()
    assert "\nunset\n1\n" in before["stdout"], before
    fds = sorted(os.listdir(f"/proc/{agent.pid}/fd"))
    # a warning, a working directory, an environment and a locale of its own, files the
    # module removes at exit, a failure, an exception: none of it reaches the next module
    warned = agent.module("command", {"_raw_params": "true", "executable": "/bin/sh"})
    assert warned["out"]["warnings"], warned
    moved = agent.module("command", {"_raw_params": "pwd", "chdir": str(tmp_path)},
                         env={"ENOS_TEST_VAR": "x", "LC_ALL": "C"})
    assert moved["out"]["stdout"] == str(tmp_path)
    assert agent.module("ping", {"data": "crash"})["rc"] == 1
    assert agent.module("stat", {"bogus": 1})["rc"] == 1
    assert agent.module("file", {"path": str(tmp_path / "d"), "state": "directory",
                                 "mode": "0700"})["rc"] == 0
    assert seen() == before
    # the module's temporary directory (module.tmpdir: lineinfile writes its new file there),
    # removed by the function it gives atexit
    remote_tmp = Path(os.path.expanduser("~/.ansible/tmp"))
    tmpdirs = set(remote_tmp.glob("ansible-moduletmp-*"))
    edited = agent.module("lineinfile", {"path": str(tmp_path / "e"), "line": "new",
                                         "create": True})
    assert edited["rc"] == 0 and edited["out"]["changed"], edited
    assert (tmp_path / "e").read_text() == "new\n"
    assert set(remote_tmp.glob("ansible-moduletmp-*")) == tmpdirs
    assert seen() == before
    assert sorted(os.listdir(f"/proc/{agent.pid}/fd")) == fds  # none left open (syslog...)
    # the same module, forked, sees what the in-process one sees
    assert _shell(agent, "pwd; umask", fork=True)["out"]["stdout"] \
        == _shell(agent, "pwd; umask")["out"]["stdout"]


def test_a_module_outside_the_list_still_forks(agent: _Agent) -> None:
    assert "ansible.modules.tempfile" not in IN_PROCESS
    made = agent.module("tempfile", {"state": "file"})
    assert made["rc"] == 0, made
    os.unlink(made["out"]["path"])
    assert _shell(agent, "echo $PPID")["out"]["stdout"] == str(agent.pid)
