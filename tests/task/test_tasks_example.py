"""examples/tasks.py: up, run and destroy in three processes on the local testbed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from enoslib.task import Environment

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="the local testbed needs root")]


def _task(cwd: Path, *args: str) -> str:
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "tasks.py"), *args], cwd=cwd,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_up_run_destroy_in_three_processes(tmp_path):
    try:
        assert "up: 2 hosts in" in _task(tmp_path, "up", "--name", "enos-task-t")
        out = _task(tmp_path, "run")
        assert "client-1 -> server-1 (10.88.0.2) rc=0" in out
        ping = json.loads((tmp_path / "current" / "ping.json").read_text())
        assert [r["rc"] for r in ping] == [0]
        assert "released enos-task-t" in _task(tmp_path, "destroy")
    finally:
        env = Environment.load(tmp_path / "current")
        env["provider"].destroy()  # nothing leaks, whatever failed
    assert env["runs"] == 1
    assert not env["provider"].is_created()
