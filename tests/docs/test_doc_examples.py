"""The examples the documentation includes and that no other test runs, run end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="the local testbed needs root")
def test_remote_execution_example(tmp_path):
    """docs/tutorials/remote_execution.md's snippets: commands, actions, files on Local hosts."""
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "remote_execution.py")], cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "I am server-1 at 10.89.0.2" in out.stdout
    assert "failed: client-2 1" in out.stdout
    assert "Results(1 ok)" in out.stdout and "some data" in out.stdout
