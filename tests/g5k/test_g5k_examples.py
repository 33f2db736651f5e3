"""Every examples/g5k_*.py runs end to end against an in-process emulator."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPTS = sorted(p for p in EXAMPLES.glob("g5k_*.py") if p.name != "g5k_support.py")


def test_there_are_examples():
    names = {p.stem for p in SCRIPTS}
    assert {"g5k_basic", "g5k_multisite", "g5k_kavlan", "g5k_subnets", "g5k_deploy", "g5k_reload",
            "g5k_firewall", "g5k_toolbox"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_example_runs_on_the_emulator(script, monkeypatch, capsys):
    monkeypatch.setenv("ENOSLIB_G5K_EMULATOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.syspath_prepend(str(EXAMPLES))
    sys.modules.pop("g5k_support", None)
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert out.strip()
    sys.modules.pop("g5k_support", None)
