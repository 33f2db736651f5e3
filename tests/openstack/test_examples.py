"""examples/openstack.py, chameleon_baremetal.py and providers_g5k_chameleon.py run end to end
against in-process emulators (address-only servers)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["openstack", "chameleon_baremetal", "providers_g5k_chameleon"])
def test_example_runs_on_the_emulator(name, monkeypatch, capsys):
    if name == "providers_g5k_chameleon":
        pytest.importorskip("grid5000")
    monkeypatch.setenv("ENOSLIB_OPENSTACK_EMULATOR", "1")
    monkeypatch.setenv("ENOSLIB_G5K_EMULATOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.syspath_prepend(str(EXAMPLES))
    for module in ("g5k_support", "openstack_support"):
        sys.modules.pop(module, None)
    saved = list(sys.path)
    try:
        runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="__main__")
    finally:
        sys.path[:] = saved
        for module in ("g5k_support", "openstack_support"):
            sys.modules.pop(module, None)
    out = capsys.readouterr().out
    assert "released" in out
