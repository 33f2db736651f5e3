"""Engine: options, hooks, run directory, logs, and an experiment continued after Ctrl-C."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from enoslib.engine import Engine

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


class Base(Engine):
    def __init__(self):
        super().__init__()
        self.calls = []
        self.args_parser.add_argument("--size", type=int, default=1)

    def init(self):
        self.calls.append("base.init")

    def run(self):
        self.calls.append(f"base.run size={self.args.size}")


class Child(Base):
    def init(self):
        self.calls.append("child.init")

    def run(self):
        logging.getLogger("enoslib.engine").info("child running in %s", self.result_dir)
        print("to stdout")
        self.calls.append("child.run")


def test_hooks_run_ancestors_first_and_logs_go_to_the_result_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    e = Child()
    e.start(["--size", "3"])
    assert e.calls == ["base.init", "child.init", "base.run size=3", "child.run"]
    assert e.run_name.startswith("Child_") and Path(e.result_dir) == tmp_path / e.run_name
    assert e.engine_dir == str(HERE)
    log = (Path(e.result_dir) / "engine.log").read_text()
    assert f"run in directory {e.result_dir}" in log and "child running in" in log


def test_continue_options_reuse_a_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = Child()
    first.start([])
    again = Child()
    again.start(["-C"])  # the most recent Child_* directory
    assert again.result_dir == first.result_dir
    chosen = Child()
    chosen.start(["--continue", str(tmp_path / "mine")])
    assert chosen.result_dir == str(tmp_path / "mine") and (tmp_path / "mine" / "engine.log").exists()
    with pytest.raises(SystemExit):
        Child().start(["--no-such-option"])


def run_script(args, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(HERE / "continue_engine.py"), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_engine_continued_after_ctrl_c_completes_each_combination_once(tmp_path):
    run_dir = tmp_path / "run"
    p = run_script(["-c", str(run_dir), "-L"])
    results = run_dir / "results"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(results.glob("*.json")) if results.exists() else []) < 3:
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode != 0 and "KeyboardInterrupt" in err
    assert f"continue with -c {run_dir}" in (run_dir / "engine.log").read_text()
    interrupted = len(list(results.glob("*.json")))
    assert 3 <= interrupted < 12
    state = json.loads((run_dir / "sweeps" / "inprogress.json").read_text())
    assert state["inprogress"] == []  # the interrupted combination was given back
    p = run_script(["-c", str(run_dir), "-L"])
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert "<12 total, 12 done, 0 skipped, 0 in progress, 0 remaining>" in out
    assert "<12 total, 12 done" in (run_dir / "stdout").read_text()  # -L copied stdout
    done = [json.dumps(json.loads(x), sort_keys=True) for x in (run_dir / "sweeps" / "done.jsonl").read_text().splitlines()]
    assert len(done) == 12 and len(set(done)) == 12
    assert len(list(results.glob("*.json"))) == 12
    started = Counter((run_dir / "started.log").read_text().splitlines())
    assert set(started) == set(done)
    assert sum(started.values()) <= 13  # at most the interrupted one started twice
