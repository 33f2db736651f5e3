"""The README's main job, as a script and as a notebook, on the local testbed (root only)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from latency_checks import rtt_problems

from enoslib.nodes import NamespaceLab

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="the local testbed needs root")]


def run_demo(out_dir: Path) -> tuple[subprocess.CompletedProcess, list[str]]:
    """One run of the demo script; its RTTs judged by a load-proof criterion."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "examples/latency_matrix.py", "--name", "demo-t", "--count", "10", "--out", str(out_dir)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    # exit code 1 is the script's own strict 10 % check (what a user reads): under load one
    # slow ping can miss it, so the test judges the saved measurements itself
    assert out.returncode in (0, 1), out.stdout + out.stderr
    data = json.loads((out_dir / "latency.json").read_text())
    assert len(data["latency"]["pairs"]) == 12
    assert data["latency"]["ok"] == (out.returncode == 0)
    assert ("measured RTTs match" in out.stdout) == (out.returncode == 0)
    pairs = [(p["expected_ms"], p["measured_ms"]) for p in data["latency"]["pairs"]]
    return out, rtt_problems(pairs)


def test_script_runs_twice_and_leaves_nothing(tmp_path):
    for run in range(2):
        out, problems = run_demo(tmp_path)
        if problems:  # measured again once: a burst of load must not fail the suite
            out, problems = run_demo(tmp_path)
        assert not problems, (problems, out.stdout)
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
