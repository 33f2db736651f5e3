"""The hosts keep the module fast path's libraries between processes (enoslib.api._agent).

A library is a module's AnsiballZ zip plus bytecode, stored once per host and user as
``~/.cache/enoslib-agent/<key>-<python tag>-<sha256>.zip``. These tests run plays in
separate Python processes (what a user's successive scripts are) on real local SSH hosts,
and look at the hosts' files with ``run_command``.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import logging
import marshal
import os
import re
import shlex
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest

from enoslib.api import actions, close_connections, run_command
from enoslib.api import agents

pytestmark = pytest.mark.root

ROOT = Path(__file__).resolve().parents[2]
CACHE = "~/.cache/enoslib-agent"

# One user's script: runs the play on the hosts, prints what it saw as JSON.
SCRIPT = r"""
import json, logging, sys
spec = json.loads(sys.argv[1])
from enoslib.config import set_config
set_config(cache_dir=spec["cache"])
sent = []
class Catch(logging.Handler):
    def emit(self, record):
        if "zip sent" in record.getMessage():
            sent.append(record.getMessage())
logging.getLogger("enoslib.api.agents").addHandler(Catch())
logging.getLogger("enoslib.api.agents").setLevel(logging.DEBUG)
import enoslib as en
hosts = [en.Host(h["address"], alias=h["alias"], user=h["user"], port=h["port"],
                 keyfile=h["keyfile"], extra={"ansible_host_key_checking": False})
         for h in spec["hosts"]]
with en.actions(roles=hosts, run_as=spec.get("run_as")) as a:
    a.stat(path="/etc/hostname")
    a.lineinfile(path="/tmp/agent-cache-li", line="x", create=True)
    a.command(argv=["id", "-un"], task_name="who")
print(json.dumps({"engine": a.engine_used, "sent": sent,
                  "failed": [r.host for r in a.results if r.status != "ok"],
                  "who": [r.stdout for r in a.results if r.task == "who"]}))
"""


def _script(hosts: list[Any], tmp_path: Path, run_as: str | None = None) -> dict[str, Any]:
    spec = {"cache": str(tmp_path / "controller-cache"), "run_as": run_as,
            "hosts": [{"address": h.address, "alias": h.alias, "user": h.user, "port": h.port,
                       "keyfile": h.keyfile} for h in hosts]}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(spec)], capture_output=True,
                          text=True, env=env, cwd=str(tmp_path), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["engine"] == "modules" and not out["failed"], out
    return out


def _files(host: Any, user: str | None = None) -> dict[str, str]:
    """Library file name -> inode, on ``host`` (as ``user``)."""
    r = run_command(f"mkdir -p {CACHE}; cd {CACHE} && stat -c '%n %i' -- *.zip 2>/dev/null; true",
                    [host], run_as=user)
    return dict(line.split() for line in r[0].stdout.splitlines() if line.strip())


def _valid(host: Any) -> bool:
    """Does every library file on ``host`` hash to the sha256 in its name?"""
    r = run_command(f"cd {CACHE} && sha256sum -- *.zip", [host])
    lines = [line.split() for line in r[0].stdout.splitlines() if line.strip()]
    return bool(lines) and all(name[:-4].rsplit("-", 1)[1] == digest[:32] for digest, name in lines)


def _clear(host: Any, user: str | None = None) -> None:
    run_command(f"rm -rf {CACHE}", [host], run_as=user)


def test_a_second_process_reuses_the_hosts_libraries(hosts: list[Any], tmp_path: Path) -> None:
    h = hosts[0]
    _clear(h)
    first = _script([h], tmp_path)
    assert len(first["sent"]) == 3, first  # stat, lineinfile, command
    files = _files(h)
    assert len(files) == 3 and _valid(h)
    second = _script([h], tmp_path)
    assert second["sent"] == []  # nothing sent again ...
    assert _files(h) == files  # ... nor rebuilt: the same files (same inodes)


def test_a_changed_library_or_agent_is_a_new_library(
    hosts: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another ansible-core (other module_utils) or another agent never uses the files an
    older one left: the key hashes both."""
    from enoslib.api.modules import _Payload, payload

    h = hosts[1]
    _clear(h)
    with actions(roles=[h]) as a:
        a.ping()
    built = payload(a.tasks[0])
    before = set(_files(h))
    assert len(before) == 1

    # the same module with one module_utils file changed, as a new ansible-core would ship it
    import base64
    import io
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(base64.b64decode(built.zip_data)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "ansible/module_utils/basic.py":
                data += b"\n# a newer ansible-core\n"
            z.writestr(info, data)
    fields = {k: getattr(built, a) for k, a in (("ansible_module", "module"), ("module_fqn", "fqn"),
                                                  ("params", "params"), ("profile", "profile"))}
    changed = _Payload({**fields, "zip_data": base64.b64encode(out.getvalue()).decode()})
    assert agents.lib_key(changed) != agents.lib_key(built)
    close_connections([h])  # a new process: new agents
    live = agents._agents_for([h], None)
    agents.run_payload(live.values(), changed)
    assert live[h].reply["rc"] == 0 and '"ping": "pong"' in live[h].reply["stdout"]
    assert len(set(_files(h)) - before) == 1

    # another agent: every key changes
    held = {n.split("-")[0] for n in _files(h)}
    assert agents.lib_key(built) in held
    code, _ = agents._agent_source()
    monkeypatch.setattr(agents, "_agent_source", lambda: (code, "another agent"))
    assert agents.lib_key(built) not in held  # keys are cached per zip and agent


@pytest.mark.parametrize("damage", ["truncate", "garbage", "delete"])
def test_a_damaged_or_deleted_library_is_built_again(
    hosts: list[Any], damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    h = hosts[2]
    _clear(h)
    with actions(roles=[h]) as a:
        a.stat(path="/etc/hostname")
    (name,) = _files(h)
    close_connections([h])  # the next agent lists the file in its hello
    live = agents._agents_for([h], None)
    assert live[h].libs, "the host says it holds the library"
    how = {"truncate": f"truncate -s 1000 {CACHE}/{name}",
           "garbage": f"printf 'PK garbage' | dd of={CACHE}/{name} bs=1 seek=2000 conv=notrunc",
           "delete": f"rm -rf {CACHE}"}[damage]
    run_command(how, [h])
    caplog.set_level(logging.DEBUG, logger="enoslib.api.agents")
    with actions(roles=[h]) as a:  # sent without its zip: the host asks for it
        a.stat(path="/etc/hostname")
    assert a.engine_used == "modules" and a.results[0].status == "ok"
    assert a.results[0].payload["stat"]["exists"] is True
    assert any("zip sent to 1 host" in r.getMessage() for r in caplog.records)
    assert len(_files(h)) == 1 and _valid(h)  # the damaged file replaced by a good one


def test_a_cache_dir_others_can_write_is_not_used(hosts: list[Any]) -> None:
    h = hosts[3]
    _clear(h)
    run_command(f"mkdir -p {CACHE} && chmod 0777 {CACHE}", [h])
    try:
        close_connections([h])
        with actions(roles=[h]) as a:
            a.stat(path="/etc/hostname")
        assert a.engine_used == "modules" and a.results[0].status == "ok"
        assert _files(h) == {}  # nothing stored where another user could change it
    finally:
        _clear(h)


def test_become_users_keep_their_own_libraries(
    hosts: list[Any], tmp_path: Path, become_user: str
) -> None:
    h = hosts[0]
    _clear(h, become_user)
    first = _script([h], tmp_path, run_as=become_user)
    assert first["who"] == [become_user]
    theirs = _files(h, become_user)
    assert theirs  # in the become user's own home, owned by it
    owner = run_command(f"stat -c %U {CACHE}", [h], run_as=become_user)[0].stdout.strip()
    assert owner == become_user
    second = _script([h], tmp_path, run_as=become_user)
    assert second["sent"] == [] and second["who"] == [become_user]
    assert _files(h, become_user) == theirs


def test_a_library_removed_while_a_process_uses_it(hosts: list[Any]) -> None:
    h = hosts[1]
    with actions(roles=[h]) as a:
        a.stat(path="/etc/hostname")
    _clear(h)  # the agent of this process is still running, the file it used is gone
    with actions(roles=[h]) as a:
        a.stat(path="/etc/hostname")
    assert a.results[0].status == "ok" and len(_files(h)) == 1 and _valid(h)


# -- bytecode compiled on the controller ---------------------------------------------------------
BUILT = re.compile(r"built on 1 host\(s\): bytecode of (\d+) file\(s\) sent, (\d+) compiled there")


def _built(caplog: pytest.LogCaptureFixture) -> list[tuple[int, int]]:
    """(files whose bytecode was sent, files compiled on the host) of each library built."""
    return [(int(m[1]), int(m[2])) for r in caplog.records
            for m in [BUILT.search(r.getMessage())] if m]


def _ping_stat(h: Any, caplog: pytest.LogCaptureFixture) -> list[tuple[int, int]]:
    """ping then stat on ``h``, new to our modules; what the host did to build each library."""
    close_connections([h])
    agents._stop_daemons([(h, {None})])  # none left running on a removed socket
    _clear(h)
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="enoslib.api.agents")
    with actions(roles=[h]) as a:
        a.ping()
        a.stat(path="/etc/hostname")
    assert a.engine_used == "modules" and [r.status for r in a.results] == ["ok", "ok"]
    assert a.results[0].payload["ping"] == "pong" and a.results[1].payload["stat"]["exists"]
    assert len(_files(h)) == 2 and _valid(h)  # still named after the sha256 of their bytes
    return _built(caplog)


def test_bytecode_compiled_by_the_controller_is_used(
    hosts: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    h = hosts[1]
    (ping_sent, ping_compiled), (stat_sent, stat_compiled) = _ping_stat(h, caplog)
    assert ping_sent > 20 and ping_compiled == 0  # basic and what it imports: none compiled
    assert (stat_sent, stat_compiled) == (1, 0)  # the module itself; the rest from ping's
    # the code names a library's file on the host (as code compiled there does: the
    # library's name without its sha256; ping's for the files stat's library shares with it)
    check = ("import glob, marshal, os, zipfile\n"
             "for lib in glob.glob(os.path.expanduser('~/.cache/enoslib-agent/*.zip')):\n"
             "    z = zipfile.ZipFile(lib)\n"
             "    code = marshal.loads(z.read('ansible/module_utils/basic.pyc')[16:])\n"
             "    inner = [c for c in code.co_consts if hasattr(c, 'co_filename')]\n"
             "    print(lib, code.co_filename, inner[0].co_filename)\n")
    r = run_command(f"python3 -c {shlex.quote(check)}", [h])
    lines = [line.split() for line in r[0].stdout.splitlines()]
    assert len(lines) == 2
    names = {lib.rsplit("-", 1)[0] + ".zip/ansible/module_utils/basic.py" for lib, _, _ in lines}
    assert all(outer == inner and outer in names for _, outer, inner in lines)


def test_a_library_built_from_another_is_checked_and_rebuilt_like_any(
    hosts: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    """stat's library takes the bytecode of the files it shares with ping's from the session
    that built ping's: a valid zip all the same, named after its bytes, and built again from
    its zip when damaged."""
    h = hosts[2]
    _ping_stat(h, caplog)
    check = ("import glob, os, zipfile\n"
             "for lib in sorted(glob.glob(os.path.expanduser('~/.cache/enoslib-agent/*.zip'))):\n"
             "    z = zipfile.ZipFile(lib)\n"
             "    print(z.testzip(), len(z.namelist()))\n")
    r = run_command(f"python3 -c {shlex.quote(check)}", [h])
    assert [line.split()[0] for line in r[0].stdout.splitlines()] == ["None", "None"]
    files = _files(h)
    stat_lib = [n for n in files if n.startswith(agents.lib_key(_payload("stat")))]
    assert len(stat_lib) == 1
    run_command(f"truncate -s 1000 {CACHE}/{stat_lib[0]}", [h])
    close_connections([h])
    caplog.clear()
    with actions(roles=[h]) as a:
        a.stat(path="/etc/hostname")
    assert a.results[0].status == "ok" and a.results[0].payload["stat"]["exists"] is True
    assert any("zip sent to 1 host" in r.getMessage() for r in caplog.records)
    assert len(_files(h)) == 2 and _valid(h)


def _payload(module: str) -> Any:
    from enoslib.api._executor import _module_path
    from enoslib.api.modules import _module_args, module_payload

    args = {"path": "/etc/hostname"} if module == "stat" else {}
    return module_payload(module, _module_path(module, None), _module_args(module, args, False))


@pytest.mark.parametrize("where", ["controller", "host"])
def test_bytecode_of_another_python_is_compiled_on_the_host(
    hosts: list[Any], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
    where: str
) -> None:
    """Another cache tag: the controller sends no bytecode (it read the host's tag in the
    hello); bytecode said to be for another Python is not used by the host."""
    if where == "controller":
        monkeypatch.setattr(agents, "_same_python", lambda agent: False)
    else:
        real = agents._bytecode

        def other_python(zip_data: str, skip: Any) -> Any:
            return dict(real(zip_data, skip), tag="cpython-0")

        monkeypatch.setattr(agents, "_bytecode", other_python)
    (ping_sent, ping_compiled), (stat_sent, stat_compiled) = _ping_stat(hosts[3], caplog)
    assert ping_sent == 0 and ping_compiled > 20
    assert (stat_sent, stat_compiled) == (0, 1)


@pytest.mark.parametrize("damage", ["bytes", "other source"])
def test_damaged_bytecode_is_refused(
    hosts: list[Any], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
    damage: str
) -> None:
    """Bytecode whose bytes are not those the controller hashed is not used at all; a file's
    bytecode compiled from another source than the zip's is not used for that file."""
    real = agents._bytecode

    def damaged(zip_data: str, skip: Any) -> Any:
        out = real(zip_data, skip)
        raw = bytearray(zlib.decompress(base64.b64decode(out["data"])))
        if damage == "bytes":
            raw[len(raw) // 2] ^= 0xFF
            data = zlib.compress(bytes(raw))  # sha256 of the original kept
        else:
            files = marshal.loads(bytes(raw))
            name = "ansible/module_utils/basic.py"
            if name in files:
                other = b"raise SystemExit('not the real basic')\n"
                files[name] = (importlib.util.source_hash(other),
                               marshal.dumps(compile(other, name, "exec")))
            data = zlib.compress(marshal.dumps(files))
            out["sha256"] = hashlib.sha256(data).hexdigest()
        return dict(out, data=base64.b64encode(data).decode())

    monkeypatch.setattr(agents, "_bytecode", damaged)
    (ping_sent, ping_compiled), (stat_sent, stat_compiled) = _ping_stat(hosts[0], caplog)
    if damage == "bytes":
        assert ping_sent == 0 and ping_compiled > 20
        assert (stat_sent, stat_compiled) == (0, 1)
    else:
        assert ping_compiled == 1 and ping_sent > 20
        assert (stat_sent, stat_compiled) == (1, 0)
