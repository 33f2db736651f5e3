"""ParamSweeper throughput: ``get_next`` + ``done`` per second, ours vs execo's, 1 and 4 processes.

Run: ``python benchmarks/sweeper_bench.py [--combinations 2000] [--runs 5]``

Every run starts P worker processes on a fresh persistence directory; all of them wait for the
same start instant, then loop ``c = get_next(); done(c)`` until the sweeper is empty. The
figure is combinations / (last worker's end - start), median over the runs, with the
sweep ``{"a": range(k), "b": range(k), "c": ["x", "y"]}``. Each run also checks that the workers
together did every combination exactly once.

execo comes from PyPI in a separate venv (``/work/main/.venv-execo``, or ``--execo-python``);
without it, only our rows are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUN_ALL_ARGS = ["--combinations", "1000", "--runs", "3"]  # benchmarks/run_all.py: a quick run
EXECO_PYTHON = Path(os.environ.get("EXECO_PYTHON", "/work/main/.venv-execo/bin/python"))

WORKER = r"""
import json, sys, time
impl, directory, n, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
if impl == "ours":
    from enoslib.engine import ParamSweeper, sweep
else:
    from execo_engine import ParamSweeper, sweep
    import logging, execo_engine
    execo_engine.logger.setLevel(logging.WARNING)
k = int(round((n / 2) ** 0.5))
combos = sweep({"a": list(range(k)), "b": list(range(k)), "c": ["x", "y"]})
s = ParamSweeper(directory, combos)
time.sleep(max(0.0, start - time.time()))
t0 = time.time()
taken = []
while True:
    c = s.get_next()
    if c is None:
        break
    taken.append(json.dumps(c, sort_keys=True))
    s.done(c)
print(json.dumps({"t0": t0, "t1": time.time(), "taken": taken, "total": len(combos)}))
"""


def one_run(python: str, impl: str, processes: int, combinations: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory(prefix=f"sweeper-{impl}-") as tmp:
        start = time.time() + 1.0 + 0.2 * processes  # every worker imported and ready before
        procs = [subprocess.Popen([python, "-c", WORKER, impl, tmp, str(combinations), str(start)],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(processes)]
        outs = []
        for p in procs:
            out, err = p.communicate(timeout=600)
            if p.returncode != 0:
                raise RuntimeError(f"{impl} worker failed: {err.strip()[-500:]}")
            outs.append(json.loads(out.strip().splitlines()[-1]))
    taken = [t for o in outs for t in o["taken"]]
    total = outs[0]["total"]
    elapsed = max(o["t1"] for o in outs) - start
    return {"total": total, "elapsed": elapsed, "exactly_once": len(taken) == len(set(taken)) == total,
            "per_worker": [len(o["taken"]) for o in outs]}


def summarize(impl: str, processes: int, results: list[dict[str, Any]]) -> dict[str, Any]:
    rate = statistics.median(r["total"] / r["elapsed"] for r in results)
    return {"impl": impl, "processes": processes, "combinations": results[0]["total"], "rate": rate,
            "exactly_once": all(r["exactly_once"] for r in results),
            "per_worker": results[-1]["per_worker"]}


def rows(combinations: int = 2000, runs: int = 5, execo_python: Path = EXECO_PYTHON) -> list[dict[str, Any]]:
    """Every measurement (one dict per implementation and process count); the implementations'
    runs are interleaved so that a burst of load on a shared machine hits both."""
    impls = [("ours", sys.executable)]
    if execo_python.exists():
        impls.append(("execo", str(execo_python)))
    found = []
    for processes in (1, 4):
        results: dict[str, list[dict[str, Any]]] = {impl: [] for impl, _ in impls}
        for _ in range(runs):
            for impl, python in impls:
                results[impl].append(one_run(python, impl, processes, combinations))
        found.extend(summarize(impl, processes, results[impl]) for impl, _ in impls)
    return found


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--combinations", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--execo-python", type=Path, default=EXECO_PYTHON)
    args = parser.parse_args(argv)
    data = rows(args.combinations, args.runs, args.execo_python)

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"ParamSweeper get_next + done (median of {args.runs} runs, load {load()})")
    for col in ("implementation", "processes", "combinations", "combinations/s", "vs execo", "exactly once",
                "per worker"):
        table.add_column(col, justify="left" if col == "implementation" else "right")
    execo = {r["processes"]: r["rate"] for r in data if r["impl"] == "execo"}
    for r in data:
        ratio = f"{r['rate'] / execo[r['processes']]:.2f}x" if r["processes"] in execo else "-"
        table.add_row(r["impl"], str(r["processes"]), str(r["combinations"]), f"{r['rate']:.0f}", ratio,
                      "yes" if r["exactly_once"] else "NO", " ".join(map(str, r["per_worker"])))
    Console(width=150).print(table)
    if not execo:
        print(f"execo not found at {args.execo_python}: python3 -m venv /work/main/.venv-execo && "
              "/work/main/.venv-execo/bin/pip install execo")
    print("rerun: python benchmarks/sweeper_bench.py --combinations", args.combinations, "--runs", args.runs)
    return 0 if all(r["exactly_once"] for r in data) else 1


if __name__ == "__main__":
    sys.exit(main())
