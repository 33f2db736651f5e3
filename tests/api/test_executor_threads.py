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
