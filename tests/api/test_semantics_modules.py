"""Ansible's semantics of many modules on our paths against ansible-core's own run.

Each play runs on the same real local hosts through every path of ours that can run it:

* ``auto``: ``actions`` as a user calls it (SSH fast path, module fast path, ansible-core's
  TaskExecutor on our agents, or ansible-core's strategy in threads, whichever it picks);
* ``threads``: the same play through ansible-core's strategy with tasks in threads on our
  agents (``run_plays``, the path of ``run_ansible`` / ``run_play``);

and through the reference, ``actions(engine="ansible")`` (ansible-core's forked workers and
ssh plugin). The Results (status, changed, rc, stdout, msg, the module's own keys) and what
the play left on the hosts must be the same.

The lab's hosts share this machine's filesystem and /etc (only /root and /tmp are their
own, see ``enoslib.nodes.netns``): packages are never installed or removed (``apt`` of an
installed package, check mode for a missing one), users, groups, cron and services only in
check mode or failing.
"""

from __future__ import annotations

import base64
import http.server
import json
import re
import threading
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from enoslib.api import actions, run_command
from enoslib.api.ansible import run_plays

pytestmark = pytest.mark.root

D = "/tmp/sem"  # each host's own /tmp
GATEWAY = "10.77.0.1"  # the machine's address on the lab's n1 network (tests/api/conftest.py)

# values that differ between two runs of the same task
VOLATILE = {"start", "end", "delta", "atime", "mtime", "ctime", "elapsed", "date",
            "cache_update_time", "inode", "version", "expires", "last_modified"}
_RENAMED = [
    (r"ansible-tmp-[0-9.-]+", "ansible-tmp-N"),
    (r"ansible-moduletmp-[0-9.]+-[A-Za-z0-9_]+", "ansible-moduletmp-N"),
    (r"/tmp[a-z0-9_]{8}\b", "/tmpN"),
    (r'"_original_basename": "\.[^"]+"', '"_original_basename": "TMP"'),
    (r"\.[0-9]+\.[0-9-]+@[0-9:]+~", ".BACKUP~"),
    (r"/ansible-local-[^/]+/", "/ansible-local-N/"),
    (r":[0-9]{4,5}/", ":PORT/"),  # the HTTP server's port, new each run of the tests
]


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _view(result: Any) -> dict[str, Any]:
    d = result.to_dict()
    d.pop("duration")
    payload = dict(d.pop("payload"))
    facts = payload.pop("ansible_facts", None) or {}
    # reported by whichever path first finds the host's Python in this process
    d["facts"] = sorted(set(facts) - {"discovered_interpreter_python"})
    text = json.dumps(_scrub(payload), sort_keys=True)
    for pattern, fixed in _RENAMED:
        text = re.sub(pattern, fixed, text)
    d["payload"] = json.loads(text)
    return d


FAST = "(ssh fast path)"


def _differences(ours: Any, ref: Any) -> list[str]:
    out = []
    if [(r.host, r.task) for r in ours] != [(r.host, r.task) for r in ref]:
        return [f"tasks: {[(r.host, r.task) for r in ours]} != {[(r.host, r.task) for r in ref]}"]
    for a, b in zip(ours, ref):
        va, vb = _view(a), _view(b)
        pa, pb = va.pop("payload"), vb.pop("payload")
        if FAST in a.task:  # documented: the payload of run_command (Result's docstring)
            pa = pb = {}
        diff = {k: (va[k], vb[k]) for k in va if va[k] != vb[k]}
        diff.update({f"payload.{k}": (pa.get(k, "<absent>"), pb.get(k, "<absent>"))
                     for k in sorted(set(pa) | set(pb)) if pa.get(k, ...) != pb.get(k, ...)})
        if diff:
            out.append(f"{a.host} {a.task!r}: {diff}")
    return out


SNAPSHOT = (f"cd {D} 2>/dev/null && find . -path ./venv -prune -o "
            "-printf '%p %y %m %u %s %l\\n' | sort && find . -path ./venv -prune -o -type f "
            "-print0 | sort -z | xargs -0 -r md5sum; "
            "ls venv/lib/python3*/site-packages 2>/dev/null")


def _effects(hosts: list[Any]) -> dict[str, str]:
    return {r.host: r.stdout for r in run_command(SNAPSHOT, hosts, on_error_continue=True)}


def _all_paths(hosts: list[Any], record: Callable[[Any], None], reset: str, *,
               engine: str) -> dict[str, tuple[Any, dict[str, str]]]:
    """Results and effects of the play recorded by ``record(a)`` on each path, the hosts
    reset before each; ``engine``: the path ``actions`` must pick by itself."""
    seen = {}
    for path in ("auto", "threads", "reference"):
        if path == "threads" and engine == "ansible":
            continue  # auto was this path
        run_command(reset, hosts)
        a = actions(roles=hosts, on_error_continue=True,
                    engine="ansible" if path == "reference" else "auto")
        record(a)
        if path == "threads":
            results = run_plays([a.play()], a.roles, a.extra_vars, classic=False)
        else:
            a._execute()
            results = a.results
            if path == "auto":
                assert a.engine_used == engine
        seen[path] = (results, _effects(hosts))
    return seen


def _assert_same(seen: dict[str, tuple[Any, dict[str, str]]]) -> Any:
    ref, ref_effects = seen["reference"]
    problems = []
    for path, (results, effects) in seen.items():
        if path != "reference":
            problems += [f"[{path}] {p}" for p in _differences(results, ref)]
            if effects != ref_effects:
                problems.append(f"[{path}] effects {effects} != {ref_effects}")
    assert not problems, "\n".join(problems)
    return {(r.host, r.task): r for r in ref}


# -- fixtures ---------------------------------------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "semtest/1"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.startswith("/status/"):
            code = int(self.path.rsplit("/", 1)[-1])
            body = json.dumps({"code": code}).encode()
            ctype = "application/json"
        elif self.path == "/file.txt":
            code, body, ctype = 200, b"served file\n", "text/plain"
        else:
            code, body, ctype = 404, b"nothing here\n", "text/plain"
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(scope="module")
def web(lab: object) -> Iterator[str]:
    """An HTTP server on the machine's address of the lab's network, which the hosts reach."""
    server = http.server.ThreadingHTTPServer((GATEWAY, 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{GATEWAY}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def shared_dir() -> Iterator[Path]:
    """A directory the hosts see too (they share this machine's filesystem but /tmp, /root)."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="enoslib-sem-", dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _wheel(directory: Path) -> Path:
    """A tiny pure-Python wheel, for ``pip`` with ``--no-index``."""
    name, version = "enossemdemo", "1.0"
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": "VALUE = 1\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n",
    }
    record = "".join(f"{p},,\n" for p in files) + f"{dist}/RECORD,,\n"
    path = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for p, text in {**files, f"{dist}/RECORD": record}.items():
            z.writestr(p, text)
    path.chmod(0o644)
    return path


def _host_has_python_apt(hosts: list[Any]) -> bool:
    r = run_command("/usr/bin/python3 -c 'import apt'", hosts[:1], on_error_continue=True)
    return r[0].rc == 0


# -- plays ------------------------------------------------------------------------------------
RESET = (f"rm -rf {D}; mkdir -p {D}/sub && cd {D} && printf 'a=1\\nb=2\\nkeep\\n' > conf && "
         "echo old > gone && echo x > removes-me && chmod 0600 conf && mkdir -m 1777 pub && "
         "/usr/bin/python3 -m venv --without-pip --system-site-packages venv && "
         "printf '#!%s/venv/bin/python3\\nimport sys\\nfrom pip._internal.cli.main import main\\n"
         "sys.exit(main())\\n' " + D + " > venv/bin/pip3 && chmod +x venv/bin/pip3 && "
         "{ [ \"$(hostname)\" = h1 ] && touch only-on-h1 || true; }")


def test_files_commands_and_packages_on_the_module_path(hosts: list[Any], web: str,
                                                        shared_dir: Path, become_user: str) -> None:
    wheel = _wheel(shared_dir)
    apt = _host_has_python_apt(hosts)

    def play(a: Any) -> None:
        a.file(path=f"{D}/dir/deep", state="directory", mode="0750", task_name="mkdir")
        a.file(path=f"{D}/dir/deep", state="directory", mode="0750", task_name="mkdir again")
        a.file(path=f"{D}/link", src=f"{D}/conf", state="link", task_name="link")
        a.file(path=f"{D}/touched", state="touch", mode="0640", task_name="touch")
        a.file(path=f"{D}/conf", mode="u=rw,g=r,o=r", task_name="chmod")
        a.file(path=f"{D}/gone", state="absent", task_name="absent")
        a.file(path=f"{D}/gone", state="absent", task_name="absent again")
        a.file(path=f"{D}/never", state="touch", check_mode=True, task_name="check touch")
        a.file(path=f"{D}/conf", mode="0777", check_mode=True, task_name="check chmod")
        a.blockinfile(path=f"{D}/conf", block="x=1\ny=2", task_name="block")
        a.blockinfile(path=f"{D}/conf", block="x=1\ny=2", task_name="block again")
        a.blockinfile(path=f"{D}/new", block="z", create=True, marker="## {mark} z",
                      task_name="block create")
        a.replace(path=f"{D}/conf", regexp=r"^a=(\d)$", replace=r"a=\1\1", task_name="replace")
        a.replace(path=f"{D}/conf", regexp="^nomatch$", replace="q", task_name="replace none")
        a.slurp(src=f"{D}/conf", task_name="slurp")
        a.slurp(src=f"{D}/missing", task_name="slurp missing", ignore_errors=True)
        a.command("touch created", chdir=D, creates=f"{D}/conf", task_name="creates exists")
        a.command("touch created", chdir=D, creates=f"{D}/nope", task_name="creates")
        a.command(f"rm {D}/removes-me", removes=f"{D}/removes-me", task_name="removes")
        a.command(f"rm {D}/removes-me", removes=f"{D}/removes-me", task_name="removes again")
        a.command("pwd", chdir=f"{D}/sub", task_name=f"chdir {FAST}")
        a.command(argv=["printf", "%s|", "a b", "$HOME", "*"], task_name="argv")
        a.command("cat", stdin="in put", task_name="stdin")
        a.command("cat", stdin="no newline", stdin_add_newline=False, task_name="stdin raw")
        a.raw("echo ${BASH_VERSION:+bash}", task_name=f"raw shell {FAST}")
        a.raw("id -un; tty -s && echo tty", become=True, become_user=become_user,
              task_name=f"raw become {FAST}")
        a.raw("echo raw; echo err >&2; exit 3", task_name=f"raw {FAST}", ignore_errors=True)
        a.wait_for(port=22, host="127.0.0.1", timeout=5, task_name="wait port")
        a.wait_for(path=f"{D}/conf", search_regex="keep", timeout=5, task_name="wait path")
        a.wait_for(path=f"{D}/never", timeout=1, task_name="wait timeout", ignore_errors=True)
        a.get_url(url=f"{web}/file.txt", dest=f"{D}/got.txt", mode="0644", task_name="get_url")
        a.get_url(url=f"{web}/file.txt", dest=f"{D}/got.txt", mode="0644",
                  task_name="get_url again")
        a.get_url(url=f"{web}/missing", dest=f"{D}/404.txt", task_name="get_url 404",
                  ignore_errors=True)
        a.pip(name=str(wheel), virtualenv=f"{D}/venv", extra_args="--no-index",
              task_name="pip wheel")
        a.pip(name="enossemdemo", virtualenv=f"{D}/venv", extra_args="--no-index",
              task_name="pip present")
        a.pip(name="enossem-nothere", virtualenv=f"{D}/venv", extra_args="--no-index",
              check_mode=True, task_name="pip check")
        if apt:
            a.apt(name="coreutils", state="present", task_name="apt installed")
            a.apt(name="sl", state="present", check_mode=True, task_name="apt check")
        a.user(name="enossemx", state="present", check_mode=True, task_name="user check")
        a.group(name="enossemg", state="present", check_mode=True, task_name="group check")
        a.cron(name="sem", job="true", check_mode=True, task_name="cron check",
               ignore_errors=True)
        a.lineinfile(path=f"{D}/conf", line="c=3", check_mode=True, task_name="check line")
        a.file(path=f"{D}/pub/mine", state="touch", become=True, become_user=become_user,
               task_name="become touch")
        a.command("id -un", become=True, become_user=become_user, task_name=f"become id {FAST}")
        a.file(path=f"{D}/x", bogus="1", task_name="wrong argument", ignore_errors=True)
        a.file(path=f"{D}/only-on-h1", state="file", task_name="fails on h2 only")
        a.ping(task_name="after")

    seen = _all_paths(hosts[:2], play, RESET, engine="modules")
    by = _assert_same(seen)
    # what ansible-core says, whichever path ran it (the paths are compared above)
    ok = {t for (h, t), r in by.items() if h == "h1" and r.status == "ok"}
    changed = {t for (h, t), r in by.items() if h == "h1" and r.changed}
    assert {"mkdir", "touch", "block", "replace", "creates", "removes", "get_url",
            "pip wheel", "check touch", "check chmod", "pip check", "user check"} <= changed
    assert not {"mkdir again", "block again", "replace none", "creates exists",
                "removes again", "get_url again", "pip present"} & changed
    assert {"after", "wait port", "wait path"} <= ok
    assert base64.b64decode(by[("h1", "slurp")].payload["content"]).startswith(b"a=11\n")
    assert by[("h1", "argv")].stdout == "a b|/root|*|"  # the module expands $VARS
    assert by[("h1", "stdin")].stdout == "in put" and by[("h1", f"raw {FAST}")].rc == 3
    assert by[("h1", f"chdir {FAST}")].stdout == f"{D}/sub"
    assert by[("h1", "get_url 404")].payload["status_code"] == 404
    assert "Unsupported parameters" in by[("h1", "wrong argument")].payload["msg"]
    assert by[("h1", f"become id {FAST}")].stdout == become_user and "check line" in changed
    assert by[("h2", "fails on h2 only")].status == "failed" and ("h2", "after") not in by
    if apt:
        assert not by[("h1", "apt installed")].changed and by[("h1", "apt check")].changed
    effects = seen["reference"][1]["h1"]
    assert "./never" not in effects and "./conf f 644" in effects and "enossemdemo.py" in effects
    assert f"./pub/mine f 644 {become_user}" in effects


def test_templates_environment_no_log_and_become_through_the_executor(
        hosts: list[Any], web: str, shared_dir: Path, become_user: str) -> None:
    (shared_dir / "t.j2").write_text("host={{ inventory_hostname }} v={{ v }}\n")

    def play(a: Any) -> None:
        a.shell('echo "$SEMVAR"', environment={"SEMVAR": "from env"}, task_name="environment")
        a.command("printenv SEMVAR SEMOTHER", environment={"SEMVAR": "{{ v }}", "SEMOTHER": 2},
                  task_name="environment templated")
        a.command("echo secret", no_log=True, task_name="no_log")
        a.file(path=f"{D}/nodir/x", state="file", no_log=True, ignore_errors=True,
               task_name="no_log failure")
        a.copy(content="mine\n", dest=f"{D}/pub/copied", mode="0600", become=True,
               become_user=become_user, task_name="become copy")
        a.template(src=str(shared_dir / "t.j2"), dest=f"{D}/pub/templated", become=True,
                   become_user=become_user, task_name="become template")
        a.stat(path=f"{D}/pub/copied", register="st", task_name="stat")
        a.debug(msg="{{ st.stat.pw_name }} {{ st.stat.mode }}", task_name="registered")
        a.copy(content="checked\n", dest=f"{D}/checked", check_mode=True, task_name="check copy")
        a.template(src=str(shared_dir / "t.j2"), dest=f"{D}/conf", check_mode=True,
                   task_name="check template")
        a.lineinfile(path=f"{D}/conf", line="v={{ v }}", when="inventory_hostname == 'h1'",
                     task_name="when")
        a.get_url(url="{{ url }}/file.txt", dest=f"{D}/got-{{{{ inventory_hostname }}}}.txt",
                  task_name="get_url templated")
        a.file(path=f"{D}/{{{{ item }}}}", state="touch", loop=["l1", "l2"], task_name="loop")
        a.file(path=f"{D}/x", bogus="{{ v }}", ignore_errors=True, task_name="wrong argument")
        a.command("test {{ inventory_hostname }} = h1", task_name="fails on h2 only")
        a.ping(task_name="after")

    def record(a: Any) -> None:
        a.extra_vars.update(v="V1", url=web)
        play(a)

    seen = _all_paths(hosts[:2], record, RESET, engine="modules")
    by = _assert_same(seen)
    assert by[("h1", "environment")].stdout == "from env"
    assert by[("h1", "environment templated")].stdout == "V1\n2"
    assert "secret" not in json.dumps(by[("h1", "no_log")].to_dict())
    assert by[("h1", "no_log failure")].status == "failed"
    assert by[("h1", "registered")].payload["msg"] == f"{become_user} 0600"
    assert by[("h1", "check copy")].changed and by[("h1", "check template")].changed
    assert by[("h1", "when")].changed and by[("h2", "when")].status == "skipped"
    assert by[("h2", "fails on h2 only")].status == "failed" and ("h2", "after") not in by
    effects = seen["reference"][1]["h1"]
    assert f"./pub/copied f 600 {become_user}" in effects and "./checked" not in effects
    assert "./got-h1.txt f" in effects and "./l2 f" in effects


SCRIPT = """#!/bin/sh
echo "args: $*"; echo "to stderr" >&2; touch /tmp/sem/by-script
[ "$1" = fail ] && exit 4
exit 0
"""


def test_action_plugins_and_diff_mode_through_ansible_core_s_strategy(
        hosts: list[Any], web: str, shared_dir: Path) -> None:
    script = shared_dir / "sem.sh"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    apt = _host_has_python_apt(hosts)

    def play(a: Any) -> None:
        a.uri(url=f"{web}/file.txt", return_content=True, task_name="uri content")
        a.uri(url=f"{web}/status/201", status_code=[201], task_name="uri 201")
        a.uri(url=f"{web}/status/404", task_name="uri 404", ignore_errors=True)
        a.uri(url=f"{web}/status/404", status_code=404, task_name="uri 404 expected")
        a.script(f"{script} one 'two words'", task_name="script")
        a.script(f"{script} fail", task_name="script fails", ignore_errors=True)
        a.script(f"{script} again", creates=f"{D}/by-script", task_name="script creates")
        diff = {"diff": True}
        a.file(path=f"{D}/touched", state="touch", task_kwargs=diff, task_name="diff touch")
        a.file(path=f"{D}/conf", mode="0640", task_kwargs=diff, task_name="diff mode")
        a.lineinfile(path=f"{D}/conf", line="c=3", task_kwargs=diff, task_name="diff line")
        a.blockinfile(path=f"{D}/conf", block="blk", task_kwargs=diff, task_name="diff block")
        a.replace(path=f"{D}/conf", regexp="^b=2$", replace="b=22", task_kwargs=diff,
                  task_name="diff replace")
        a.copy(content="new\n", dest=f"{D}/conf", task_kwargs=diff, check_mode=True,
               task_name="diff copy check")
        a.copy(content="new\n", dest=f"{D}/copied", task_kwargs=diff, task_name="diff copy")
        a.file(path=f"{D}/gone", state="absent", task_kwargs=diff, task_name="diff absent")
        if apt:
            a.package(name="coreutils", state="present", task_name="package installed")
            a.package(name="sl", state="present", check_mode=True, task_name="package check")
        a.service(name="enos-sem-nothere", state="started", check_mode=True,
                  ignore_errors=True, task_name="service")
        a.systemd(name="enos-sem-nothere", state="started", check_mode=True,
                  ignore_errors=True, task_name="systemd")
        a.uri(url=f"{web}/status/{{{{ 200 if inventory_hostname == 'h1' else 500 }}}}",
              task_name="uri fails on h2 only")
        a.ping(task_name="after")

    seen = _all_paths(hosts[:2], play, RESET, engine="ansible")
    by = _assert_same(seen)
    assert by[("h1", "uri content")].payload["content"] == "served file\n"
    assert by[("h1", "uri 201")].payload["status"] == 201
    assert by[("h1", "uri 404")].status == "failed"
    assert by[("h1", "uri 404 expected")].status == "ok"
    assert "args: one two words" in by[("h1", "script")].stdout
    assert by[("h1", "script fails")].rc == 4 and not by[("h1", "script creates")].changed
    assert by[("h1", "diff line")].payload["diff"][0]["after"].endswith("c=3\n")
    assert by[("h2", "uri fails on h2 only")].status == "failed" and ("h2", "after") not in by


def test_unknown_module_fails_the_same_way(hosts: list[Any]) -> None:
    errors = {}
    for engine in ("auto", "ansible"):
        with pytest.raises(Exception) as err:
            with actions(roles=hosts[:1], engine=engine) as a:
                a.ping()
                a.enos_sem_no_such_module(x=1)
        errors[engine] = (type(err.value), str(err.value))
    assert errors["auto"] == errors["ansible"]
    assert "enos_sem_no_such_module" in errors["auto"][1]


def test_host_variables_that_change_how_ansible_runs_tasks(hosts: list[Any],
                                                           become_user: str) -> None:
    """``ansible_become*`` / ``ansible_connection`` in a host's ``extra`` or the play's
    variables: honoured as ansible-core does (the SSH and plain module fast paths would run
    as the SSH user, over ssh): ansible-core's TaskExecutor on our agents, or its strategy
    for another connection."""
    from enoslib.objects import Host
    from enoslib.objects.host import LocalHost

    h1 = hosts[0]
    becoming = Host(h1.address, alias="h1b", user=h1.user, port=h1.port, keyfile=h1.keyfile,
                    extra={**h1.extra, "ansible_become": True,
                           "ansible_become_user": become_user})
    become_vars = {"ansible_become": True, "ansible_become_user": become_user}
    seen = {}
    for engine in ("auto", "ansible"):
        for case, roles, extra_vars, path in (
                ("host vars", [becoming], {}, "modules"),
                ("extra vars", [h1], become_vars, "modules"),
                ("local", [LocalHost(alias="local")], {}, "ansible")):
            run_command(f"rm -rf {D}; mkdir -p -m 1777 {D}", [h1])
            with actions(roles=roles, engine=engine, on_error_continue=True,
                         extra_vars=extra_vars) as a:
                a.command("id -un", task_name="fast")
                if case != "local":  # nothing written on this machine
                    a.file(path=f"{D}/hv", state="touch", task_name="touch")
                a.stat(path="/etc/hostname", get_checksum=False, task_name="stat")
            assert a.engine_used == ("ansible" if engine == "ansible" else path)
            seen[engine, case] = (
                [(r.host, r.task, r.status, r.stdout, r.payload.get("msg")) for r in a.results],
                run_command(f"ls -l {D}", [h1])[0].stdout)
    for case in ("host vars", "extra vars", "local"):
        assert seen["auto", case] == seen["ansible", case]
        results, files = seen["auto", case]
        if case != "local":
            assert results[0][2:4] == ("OK", become_user)
            assert f"{become_user} {become_user}" in files
