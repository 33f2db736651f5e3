"""What changes for ansible-core in our TaskExecutor threads (enoslib.api._executor
``in_our_thread``) and only there: the ssh connection plugin's argument parser."""

from __future__ import annotations

import argparse

import pytest

from enoslib.api._executor import _executor_class, in_our_thread

OPTS = ["-o", "ControlMaster=auto", "-tt", "-o", "User=x", "host"]


def _connection() -> object:
    from ansible.playbook.play_context import PlayContext
    from ansible.plugins.loader import connection_loader

    return connection_loader.get("ssh", PlayContext())


def test_ssh_plugin_parser_built_once_in_our_threads() -> None:
    pytest.importorskip("ansible.plugins.connection.ssh")
    _executor_class()  # installs it
    outside = _connection()._tty_parser  # type: ignore[attr-defined]
    assert isinstance(outside, argparse.ArgumentParser)
    with in_our_thread():
        first, second = _connection(), _connection()
    lazy = first._tty_parser  # type: ignore[attr-defined]
    assert not isinstance(lazy, argparse.ArgumentParser)
    # parsed as ansible-core's own parser does, by one parser built on first use
    assert lazy.parse_known_args(OPTS) == outside.parse_known_args(OPTS)
    assert second._tty_parser.parse_known_args(OPTS)[0].t == 2  # type: ignore[attr-defined]
    assert lazy.parse_known_args.__self__ is second._tty_parser.parse_known_args.__self__  # type: ignore[attr-defined]


def _options(variables: dict, keys: dict) -> tuple:
    from ansible import constants as C

    return tuple(C.config.get_plugin_options_and_origins(t, n, keys=dict(keys),
                                                         variables=dict(variables))
                 for t, n in (("connection", "ssh"), ("shell", "sh"), ("become", "sudo")))


def test_plugin_options_resolved_once_per_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    from enoslib.api import _plugin_options

    _executor_class()  # installs it
    _plugin_options._CACHE.clear()
    hosts = [{"ansible_host": f"10.0.0.{i}", "ansible_port": 22 + i, "ansible_user": "u",
              "ansible_ssh_common_args": "-o X=1", "ansible_remote_tmp": f"/tmp/r{i}",
              "ansible_become_user": "nobody", "unrelated": i} for i in range(3)]
    keys = {"remote_user": "k", "become_user": None, "timeout": 10, "name": "t"}
    plain = [_options(v, keys) for v in hosts]
    with in_our_thread():
        for _ in range(2):  # the second round from the cache
            assert [_options(v, keys) for v in hosts] == plain
        cached = len(_plugin_options._CACHE)
        assert cached >= 6  # a set of options per host for ssh and sh
        # a variable the plugins do not read does not make new entries; one they read does
        assert [_options({**v, "unrelated": "x"}, keys) for v in hosts] == plain
        assert len(_plugin_options._CACHE) == cached
        other = _options({**hosts[0], "ansible_port": 2222}, keys)
        assert other[0][0]["port"] == 2222 and other[0][1]["port"] == "var: ansible_port"
        # each caller gets its own copies
        got = _options(hosts[0], keys)
        got[1][0]["system_tmpdirs"].append("/mutated")
        got[0][0]["host"] = "changed"
        assert _options(hosts[0], keys) == plain[0]
        # the environment is read as ansible-core reads it
        monkeypatch.setenv("ANSIBLE_SSH_ARGS", "-o Y=2")
        env = _options(hosts[0], keys)
    assert env == _options(hosts[0], keys)
    assert env[0][0]["ssh_args"] == "-o Y=2" and plain[0][0][0]["ssh_args"] != "-o Y=2"
    assert plain[0][0][0]["port"] == 22 and plain[2][1][0]["remote_tmp"] == "/tmp/r2"
