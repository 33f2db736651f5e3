"""examples/distem.py runs end to end against the emulators (Grid'5000 API + Distem coordinator)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_example_runs_on_the_emulators(monkeypatch, capsys):
    monkeypatch.setenv("ENOSLIB_G5K_EMULATOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.syspath_prepend(str(EXAMPLES))
    sys.modules.pop("g5k_support", None)
    try:
        runpy.run_path(str(EXAMPLES / "distem.py"), run_name="__main__")
    finally:
        sys.modules.pop("g5k_support", None)
    out = capsys.readouterr().out
    assert "server: vnode-0-0=10." in out and out.count("vnode-1-") == 4
    assert out.strip().endswith("released")
