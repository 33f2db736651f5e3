"""How long ``python -c "import enoslib"`` takes and how much memory it peaks at.

Run: ``.venv/bin/python benchmarks/import_bench.py [--runs 15] [--compare-python /path/to/python]``
``--compare-python`` names an interpreter where EnOSlib (``pip install enoslib``) is installed;
without it, EnOSlib's column is filled only if it is importable here.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = (
    "import resource, time; t = time.perf_counter(); import {module}; "
    "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
)


def measure(python: str, module: str, runs: int, cwd: Path) -> tuple[float, float, float]:
    """(median wall time of the whole process, median import time, peak RSS MiB)."""
    walls, imports, rss = [], [], []
    for _ in range(runs):
        t = time.perf_counter()
        out = subprocess.run([python, "-c", PROBE.format(module=module)], capture_output=True, text=True, cwd=cwd)
        walls.append(time.perf_counter() - t)
        if out.returncode != 0:
            raise RuntimeError(out.stderr.strip().splitlines()[-1])
        imp, kb = out.stdout.split()
        imports.append(float(imp))
        rss.append(int(kb) / 1024)
    return statistics.median(walls), statistics.median(imports), max(rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--compare-python", default=None, help="interpreter with EnOSlib installed")
    args = parser.parse_args()

    rows = [("python (empty)", *measure(sys.executable, "sys", args.runs, ROOT)),
            ("enoslib (this)", *measure(sys.executable, "enoslib", args.runs, ROOT))]
    other = args.compare_python or sys.executable
    try:
        # run EnOSlib away from this checkout so "enoslib" means the PyPI one
        rows.append(("EnOSlib (PyPI)", *measure(other, "enoslib", max(3, args.runs // 3), Path("/"))))
        if not args.compare_python:
            rows.pop()  # importable here means our own package: nothing to compare with
    except RuntimeError:
        pass
    print(f"{'what':<16} {'process s':>10} {'import s':>10} {'peak RSS MiB':>13}")
    for name, wall, imp, rss in rows:
        print(f"{name:<16} {wall:>10.3f} {imp:>10.3f} {rss:>13.1f}")
    print("targets: process <= 0.10 s, peak RSS <= 25 MiB")


if __name__ == "__main__":
    main()
