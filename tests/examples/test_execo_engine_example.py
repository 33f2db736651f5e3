"""examples/execo_engine.py: a sweep on local hosts, interrupted with Ctrl-C, then continued (root)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from enoslib.nodes import NamespaceLab

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="the local testbed needs root")]
NAME = "execo-eng-t"


def start(run_dir: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "examples/execo_engine.py", "-c", str(run_dir), "--name", NAME, *extra],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sweep_interrupted_then_continued_does_each_combination_once(tmp_path):
    run_dir = tmp_path / "run"
    results = run_dir / "results"
    p = start(run_dir, "--pause", "0.5")
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and p.poll() is None and \
                len(list(results.glob("*.json")) if results.exists() else []) < 2:
            time.sleep(0.1)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        if p.returncode not in (0, 130):
            NamespaceLab.cleanup_all(NAME)
    assert p.returncode == 130, (out, err)
    assert "continue with" in err
    first = len(list(results.glob("*.json")))
    assert 2 <= first < 8
    assert NamespaceLab.leftovers(NAME) == []  # hosts released on Ctrl-C

    p = start(run_dir)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, (out, err)
    assert f"<8 total, {first} done" in out and "<8 total, 8 done, 0 skipped, 0 in progress, 0 remaining>" in out
    done = (run_dir / "sweeper" / "done.jsonl").read_text().splitlines()
    assert len(done) == 8 and len({json.dumps(json.loads(x), sort_keys=True) for x in done}) == 8
    records = [json.loads(f.read_text()) for f in sorted(results.glob("*.json"))]
    assert len(records) == 8
    two = [r for r in records if r["combination"]["hosts"] == 2]
    assert all(len(r["outputs"]) == 2 for r in two)
    assert {r["outputs"]["worker-1"] for r in records if r["combination"].get("level") == 9} == {"1051"}
    assert NamespaceLab.leftovers(NAME) == []
    assert "run in directory" in (run_dir / "engine.log").read_text()
