"""Module arguments vs task keywords, public names never shadowed, no injection through
templates on either engine, run_command's keyword arguments, host key policy, private
ControlMaster directory."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import enoslib
from enoslib.api import actions, run_command
from enoslib.api.ssh import connection, private_dir
from enoslib.config import config_context
from enoslib.objects import Host


ROOT = Path(enoslib.__file__).resolve().parents[1]  # the enoslib these tests import

# ------------------------------------------------------------------ actions: what goes where


def _task(a: actions) -> dict:
    return a.play()["tasks"][-1]


@pytest.mark.parametrize(
    "call, module, args",
    [
        (lambda a: a.apt(name="htop", state="present"), "apt", {"name": "htop", "state": "present"}),
        (lambda a: a.systemd(name="nginx", state="started"), "systemd", {"name": "nginx", "state": "started"}),
        (lambda a: a.service(name="ssh", enabled=True), "service", {"name": "ssh", "enabled": True}),
        (lambda a: a.pip(name=["flent"], state="present"), "pip", {"name": ["flent"], "state": "present"}),
        (lambda a: a.wait_for(port=22, delay=2, timeout=30), "wait_for", {"port": 22, "delay": 2, "timeout": 30}),
        (lambda a: a.community.docker.docker_container(name="x", image="i", tags=["t"]),
         "community.docker.docker_container", {"name": "x", "image": "i", "tags": ["t"]}),
    ],
)
def test_module_arguments_stay_module_arguments(call, module, args) -> None:
    a = actions(roles=Host("10.0.0.1"))
    call(a)
    task = _task(a)
    assert task[module] == args
    assert set(task) == {"name", module}  # no argument became a task keyword


def test_task_keywords_are_explicit() -> None:
    a = actions(roles=Host("10.0.0.1"))
    a.apt(name="htop", task_name="install htop", become=True, when="x", register="r", loop=[1])
    a.shell("false", task_kwargs={"retries": 3, "delay": 1, "until": "r.rc == 0", "timeout": 9})
    a.shell("sleep 9", asynch=20, poll=0)
    install, retry, detached = a.play()["tasks"]
    assert install == {"name": "install htop", "become": True, "when": "x", "register": "r",
                       "loop": [1], "apt": {"name": "htop"}}
    assert {k: retry[k] for k in ("retries", "delay", "until", "timeout")} == {
        "retries": 3, "delay": 1, "until": "r.rc == 0", "timeout": 9}
    assert retry["shell"] == {"_raw_params": "false"}
    assert (detached["async"], detached["poll"]) == (20, 0)
    with pytest.raises(TypeError, match="task_name"):
        a.shell("true", task_kwargs={"name": "x"})
    with pytest.raises(TypeError, match="'pattern_host'"):
        actions(roles=Host("10.0.0.1"), pattern_host="web")  # typo of pattern_hosts
    prior = actions(roles=Host("10.0.0.1"))
    prior.apt(name="htop")
    assert [t["name"] for t in actions(roles=Host("10.0.0.1"), priors=[prior]).play()["tasks"]] == [
        "apt"]


# ------------------------------------------------------------------ no shadowed public name


_SHADOW_CHECK = """
import importlib, pkgutil, types, enoslib, enoslib.api
from enoslib.errors import EnosMissingExtraError
# every submodule imported BEFORE any public name is looked up (what gather_facts did)
for info in pkgutil.walk_packages(enoslib.__path__, "enoslib."):
    try:
        importlib.import_module(info.name)
    except ImportError:
        pass
bad = []
for package in (enoslib, enoslib.api):
    for name in package.__all__:
        try:
            value = getattr(package, name)
        except EnosMissingExtraError:
            continue
        if isinstance(value, types.ModuleType) and name not in getattr(package, "_SUBMODULES", ()):
            bad.append(package.__name__ + "." + name)
print(bad)
"""


def test_no_public_name_is_a_module_after_every_submodule_is_imported() -> None:
    # a fresh interpreter: in this one the names are already resolved
    out = subprocess.run([sys.executable, "-c", _SHADOW_CHECK], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# ------------------------------------------------------------------ run_command's kwargs


def test_unknown_keyword_argument_is_refused_before_anything_runs() -> None:
    ghost = Host("192.0.2.1")  # never contacted: the error comes first
    with pytest.raises(TypeError, match="'pattern_host'"):
        run_command("true", roles=ghost, pattern_host="all")  # a typo of pattern_hosts
    with pytest.raises(TypeError, match="'become_usr'"):
        run_command("true", roles=ghost, become_usr="x")
    with pytest.raises(TypeError, match="ns"):
        run_command("true", roles=ghost, ns="x")
    with pytest.raises(ValueError, match="stdin"):
        run_command("cat", roles=ghost, stdin="x", background=True)


# ------------------------------------------------------------------ ControlMaster directory


def test_private_dir_refuses_wrong_mode_and_owner(tmp_path: Path) -> None:
    ok = private_dir(tmp_path / "mine")
    assert ok.stat().st_mode & 0o777 == 0o700
    assert private_dir(ok) == ok  # ours already: reused
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o755)
    with pytest.raises(PermissionError, match="0700"):
        private_dir(loose)
    link = tmp_path / "link"
    link.symlink_to(ok)
    with pytest.raises(PermissionError):
        private_dir(link)
    if os.geteuid() == 0:
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, 65534, 65534)
        with pytest.raises(PermissionError, match="owned by uid"):
            private_dir(theirs)


def test_fallback_socket_dir_in_tmpdir_is_checked(tmp_path: Path, monkeypatch) -> None:
    import tempfile

    from enoslib.api import ssh

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    squatted = tmp_path / f"enoslib-{os.getuid()}"
    squatted.mkdir(mode=0o777)
    squatted.chmod(0o777)
    ssh._socket_dir_for.cache_clear()
    try:
        # a cache dir too long for a unix socket path: the fallback under $TMPDIR is used
        with config_context(cache_dir=str(tmp_path / ("x" * 120))):
            with pytest.raises(PermissionError, match="refusing"):
                connection(Host("10.0.0.1"))
            squatted.chmod(0o700)
            path = connection(Host("10.0.0.1")).control_path
            assert path.startswith(str(squatted))
        # another long cache dir (another script's): its own masters, not this one's
        with config_context(cache_dir=str(tmp_path / ("y" * 120))):
            other = connection(Host("10.0.0.1")).control_path
        assert other.startswith(str(squatted)) and os.path.dirname(other) != os.path.dirname(path)
        assert len(os.path.basename(os.path.dirname(other))) == 10  # 11 more characters only
    finally:
        ssh._socket_dir_for.cache_clear()


# ------------------------------------------------------------------ host key policy


def _opts(host: Host) -> list[str]:
    return list(connection(host).options)


def test_host_keys_checked_unless_the_host_is_marked(caplog) -> None:
    plain = _opts(Host("10.0.0.1"))
    assert not any("StrictHostKeyChecking" in o or "UserKnownHostsFile" in o for o in plain)
    with caplog.at_level(logging.INFO, logger="enoslib.api.ssh"):
        from enoslib.api import ssh

        ssh._warned_unchecked = False
        marked = _opts(Host("10.0.0.2", extra={"ansible_host_key_checking": False}))
        _opts(Host("10.0.0.3", extra={"ansible_host_key_checking": "false"}))
    assert "StrictHostKeyChecking=no" in marked and "UserKnownHostsFile=/dev/null" in marked
    assert sum("host keys not checked" in r.getMessage() for r in caplog.records) == 1
    with config_context(ssh_strict_host_key_checking="accept-new"):
        assert "StrictHostKeyChecking=accept-new" in _opts(Host("10.0.0.1"))
        assert "UserKnownHostsFile=/dev/null" not in _opts(
            Host("10.0.0.2", extra={"ansible_host_key_checking": False}))


def test_providers_mark_their_hosts() -> None:
    from enoslib.infra.enos_g5k import G5kHost, G5kProdNetwork
    from enoslib.infra.enos_static import Static, StaticConf

    static = StaticConf.from_dictionary(
        {"resources": {"machines": [{"address": "10.0.0.9", "roles": ["r"]}], "networks": []}}
    )
    roles, _ = Static(static).init()
    assert "ansible_host_key_checking" not in roles["r"][0].extra  # the user's known_hosts
    node = G5kHost("paravance-1.rennes.grid5000.fr", ["a"], G5kProdNetwork(["a"], "p", "rennes"))
    assert node.to_host().extra["ansible_host_key_checking"] is False  # reinstalled by design


# ------------------------------------------------------------------ real hosts


@pytest.mark.root
def test_known_hosts_used_for_unmarked_hosts(lab, hosts) -> None:
    node = lab.nodes["h2"]
    plain = Host(node.address, alias="plain", user=node.user, port=node.port, keyfile=node.keyfile)
    with config_context(ssh_config_file=os.devnull):  # no user config: ssh's defaults
        r = run_command("true", roles=plain, on_error_continue=True)[0]
    assert r.status == "unreachable" and "Host key verification failed" in r.payload["msg"]


@pytest.mark.root
def test_local_provider_marks_its_hosts() -> None:
    from enoslib.infra.local import Local, LocalConf

    conf = (LocalConf.from_settings(name="apikeys")
            .add_network(id="n", roles=["n"], cidr="10.76.0.0/24")
            .add_machine(roles=["r"], number=1))
    provider = Local(conf)
    try:
        roles, _ = provider.init()
        host = roles["r"][0]
        assert host.extra["ansible_host_key_checking"] is False
        assert run_command("true", roles=host).ok
    finally:
        provider.destroy()


@pytest.mark.root
def test_module_arguments_reach_the_module(hosts) -> None:
    h = hosts[0]
    with actions(roles=h) as a:
        a.user(name="issue11user", state="present", task_name="create user")
        a.file(path="/tmp/issue11-file", state="touch")
        a.wait_for(path="/tmp/issue11-file", delay=0, timeout=5)
        a.stat(path="/tmp/issue11-file", register="st")
        a.shell("echo {{ st.stat.exists }}")
    assert [r.task for r in a.results] == [
        "create user", "file", "wait_for", "stat", "echo {{ st.stat.exists }}"]
    assert a.results[-1].stdout == "True"
    assert run_command("id -un issue11user", roles=h)[0].stdout == "issue11user"
    run_command("userdel issue11user; rm -f /tmp/issue11-file", roles=h)


def _no_file(hosts, path: str) -> None:
    assert run_command(f"! test -e {shlex.quote(path)}", roles=hosts, on_error_continue=True).ok, path


@pytest.mark.root
@pytest.mark.parametrize("engine", ["ssh", "ansible"])
def test_no_injection_through_templates(lab, hosts, engine, tmp_path) -> None:
    info = lab.nodes["h1"]
    evil = "$(touch /tmp/inj-x)`touch /tmp/inj-y`;touch /tmp/inj-z"
    # an alias that looks like a template: never evaluated after substitution
    nasty = Host(info.address, alias="{{ x }}", user=info.user, port=info.port, keyfile=info.keyfile,
                 extra={"x": evil, "ansible_host_key_checking": False})
    r = run_command("echo {{{alias}}} {{ x }} {{ v }}", roles=nasty, engine=engine,
                    extra_vars={"v": evil + ";touch /tmp/inj-v"})[0]
    assert r.stdout == f"{{{{ x }}}} {evil} {evil};touch /tmp/inj-v"
    if engine == "ansible":  # actions' shell through Ansible: quoted as well, never twice
        with actions(roles=nasty, engine=engine, extra_vars={"v": evil}) as a:
            a.shell("echo {{ v }} {{ x | quote }}")
        assert a.results[0].stdout == f"{evil} {evil}"
    for name in ("x", "y", "z", "v"):
        _no_file(hosts[:1], f"/tmp/inj-{name}")


@pytest.mark.root
def test_task_names_are_literal_on_the_ansible_engine(hosts, tmp_path) -> None:
    marker = tmp_path / "controller-pwned"
    name = "{{ lookup('pipe', 'touch " + str(marker) + "') }}"
    r = run_command("true", roles=hosts[0], engine="ansible", task_name=name)[0]
    assert r.task == name
    with actions(roles=hosts[0], engine="ansible") as a:
        a.shell("true", task_name=name)
        a.shell("echo {% raw %}x{% endraw %}", task_name="{% if true %}t{% endif %}")
    assert [x.task for x in a.results] == [name, "{% if true %}t{% endif %}"]
    assert a.results[-1].stdout == "x"  # the command is still a template
    assert not marker.exists()


@pytest.mark.root
def test_ansible_engine_keyword_arguments_and_stdin(hosts) -> None:
    h = hosts[0]
    r = run_command("cat", roles=h, engine="ansible", stdin="from stdin")[0]
    assert r.stdout == "from stdin"
    r = run_command("cat", roles=h, stdin=b"bytes in")[0]
    assert r.stdout == "bytes in"
    # documented extras: shell-module arguments and task keywords select Ansible
    run_command("rm -f /tmp/issue10-c", roles=h)
    r = run_command("touch /tmp/issue10-c; echo made", roles=h, creates="/tmp/issue10-c")[0]
    assert r.stdout == "made"
    r = run_command("echo again", roles=h, creates="/tmp/issue10-c")[0]
    assert r.stdout != "again"  # skipped by the module: the argument reached it
    r = run_command("exit 3", roles=h, ignore_errors=True, on_error_continue=True)[0]
    assert r.payload.get("ignored") is True
