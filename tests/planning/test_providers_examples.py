"""examples/providers_*.py run end to end (the Grid'5000 ones against the in-process emulator)."""

from __future__ import annotations

import importlib.util
import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# providers_g5k_chameleon needs the OpenStack emulator too: tests/openstack/test_examples.py runs it
SCRIPTS = sorted(p for p in EXAMPLES.glob("providers_*.py") if p.stem != "providers_g5k_chameleon")


def test_there_are_examples():
    assert {p.stem for p in SCRIPTS} >= {"providers_static", "providers_g5k", "providers_planning"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_example_runs(script, monkeypatch, capsys):
    if script.stem != "providers_static" and importlib.util.find_spec("grid5000") is None:
        pytest.skip("python-grid5000 is not installed")
    monkeypatch.setenv("ENOSLIB_G5K_EMULATOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.syspath_prepend(str(EXAMPLES))
    sys.modules.pop("g5k_support", None)
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.modules.pop("g5k_support", None)
    out = capsys.readouterr().out
    assert out.strip()
    if script.stem == "providers_g5k":
        assert "started together at" in out and "released" in out
    if script.stem == "providers_planning":
        assert "submitted" in out and "deleted" in out
