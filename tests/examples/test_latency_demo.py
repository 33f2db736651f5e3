"""The README's main job, as a script and as a notebook, on the local testbed (root only)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from enoslib.nodes import NamespaceLab

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the local testbed needs root")


def test_script_runs_twice_and_leaves_nothing(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for run in range(2):
        out = subprocess.run(
            [sys.executable, "examples/latency_matrix.py", "--name", "demo-t", "--count", "10", "--out", str(tmp_path)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert "measured RTTs match" in out.stdout
        data = json.loads((tmp_path / "latency.json").read_text())
        assert data["latency"]["ok"] and len(data["latency"]["pairs"]) == 12
        for pair in data["latency"]["pairs"]:
            assert abs(pair["measured_ms"] - pair["expected_ms"]) <= 0.10 * pair["expected_ms"]
        assert (tmp_path / "latency.png").stat().st_size > 10_000
        assert NamespaceLab.leftovers("demo-t") == []


def test_notebook_runs():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(ROOT / "examples" / "latency_matrix.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(ROOT)}})
    try:
        client.execute()
    finally:
        NamespaceLab.cleanup_all("enos-nb")
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert any(o.get("output_type") == "display_data" and "image/png" in o.get("data", {}) for o in outputs)
    assert NamespaceLab.leftovers("enos-nb") == []
