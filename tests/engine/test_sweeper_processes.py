"""ParamSweeper shared by concurrent processes, and a worker killed with SIGKILL mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from enoslib.engine import HashableDict, ParamSweeper

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from sweeper_worker import SWEEPS  # noqa: E402

KEYS = sorted(json.dumps(c, sort_keys=True) for c in SWEEPS)


def start(directory: Path, log: Path, mode: str = "drain") -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(HERE / "sweeper_worker.py"), str(directory), str(log), mode],
                            env=env)


def logged(*logs: Path) -> list[str]:
    return [line for log in logs if log.exists() for line in log.read_text().splitlines()]


def wait_for_line(log: Path, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = logged(log)
        if lines:
            return lines[0]
        time.sleep(0.05)
    raise AssertionError(f"no combination taken by the worker logging to {log}")


def test_four_processes_do_each_combination_exactly_once(tmp_path):
    assert len(SWEEPS) == 90
    logs = [tmp_path / f"w{i}.log" for i in range(4)]
    workers = [start(tmp_path / "state", log, "slow") for log in logs]
    for w in workers:
        assert w.wait(timeout=120) == 0
    taken = logged(*logs)
    assert Counter(taken) == Counter(KEYS)  # each exactly once, none lost
    assert sum(1 for log in logs if logged(log)) >= 2  # the work really was shared
    done_lines = (tmp_path / "state" / "done.jsonl").read_text().splitlines()
    assert sorted(json.dumps(json.loads(x), sort_keys=True) for x in done_lines) == KEYS
    s = ParamSweeper(tmp_path / "state", SWEEPS)
    assert len(s.get_done()) == 90 and not s.get_inprogress() and s.get_next() is None


def test_killed_worker_leaves_its_combination_inprogress_until_handled(tmp_path):
    state = tmp_path / "state"
    hung = start(state, tmp_path / "hung.log", "hang")
    try:
        stuck = HashableDict(json.loads(wait_for_line(tmp_path / "hung.log")))
        observer = ParamSweeper(state, SWEEPS)
        assert observer.get_inprogress() == {stuck}
        owner = observer.get_inprogress_owners()[stuck]
        assert owner["pid"] == hung.pid
        assert observer.cancel_orphans() == []  # alive: left alone
    finally:
        hung.send_signal(signal.SIGKILL)
        hung.wait()
    # execo semantics: a crash leaves the combination in progress; others do not take it
    drain = start(state, tmp_path / "drain.log")
    assert drain.wait(timeout=120) == 0
    observer.update()
    assert observer.get_inprogress() == {stuck} and stuck not in observer.get_remaining()
    assert len(observer.get_done()) == 89
    # explicit handling brings it back: cancel_orphans (dead owner) ...
    assert observer.cancel_orphans() == [stuck]
    assert list(observer.get_remaining()) == [stuck]
    # ... or, as in execo, reset(reset_inprogress=True) (checked on a second crash below)
    hung2 = start(state, tmp_path / "hung2.log", "hang")
    try:
        assert HashableDict(json.loads(wait_for_line(tmp_path / "hung2.log"))) == stuck
    finally:
        hung2.send_signal(signal.SIGKILL)
        hung2.wait()
    observer.update()
    assert observer.get_inprogress() == {stuck}
    observer.reset(reset_inprogress=True)
    assert observer.get_next() == stuck
    observer.done(stuck)
    final = ParamSweeper(state, SWEEPS)
    assert len(final.get_done()) == 90 and not final.get_inprogress()
    done_lines = (state / "done.jsonl").read_text().splitlines()
    assert len(done_lines) == 90
