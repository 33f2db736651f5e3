"""What a script pays to start using enoslib: time and peak memory.

The measured statement is real use, not a bare import:
``import enoslib as en; en.Roles; en.run_command`` (names resolve lazily: a bare import
would hide their cost). ``en.Host("10.0.0.1")`` is measured apart (it parses addresses).

Run: ``.venv/bin/python benchmarks/import_bench.py [--runs 15] [--compare-python /path/to/python]``
``--compare-python`` names an interpreter where EnOSlib (``pip install enoslib``) is installed;
without it, EnOSlib's column is filled only if it is importable here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_ALL_ARGS = ["--runs", "9", "--compare-python", "{compare_python}"]
PROBE = (
    "import resource, time; t = time.perf_counter(); {module}; "
    "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
)
REAL_USE = "import enoslib as en; en.Roles; en.run_command"
WITH_HOST = REAL_USE + "; en.Roles(a=[en.Host('10.0.0.1')])"


def measure(python: str, module: str, runs: int, cwd: Path) -> tuple[float, float, float]:
    """(median wall time of the whole process, median import time, peak RSS MiB)."""
    walls, imports, rss = [], [], []
    for _ in range(runs):
        t = time.perf_counter()
        env = dict(os.environ)
        if python != sys.executable:  # another interpreter: its own enoslib, not this checkout
            env.pop("PYTHONPATH", None)
        out = subprocess.run([python, "-c", PROBE.format(module=module)], capture_output=True, text=True, cwd=cwd,
                             env=env)
        walls.append(time.perf_counter() - t)
        if out.returncode != 0:
            raise RuntimeError(out.stderr.strip().splitlines()[-1])
        imp, kb = out.stdout.split()
        imports.append(float(imp))
        rss.append(int(kb) / 1024)
    return statistics.median(walls), statistics.median(imports), max(rss)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--compare-python", default=None, help="interpreter with EnOSlib installed")
    args = parser.parse_args(argv)

    rows = [("python (empty)", *measure(sys.executable, "import sys", args.runs, ROOT))]
    other = args.compare_python
    for label, stmt in (("", REAL_USE), (" + Host", WITH_HOST)):
        rows.append((f"enoslib{label}", *measure(sys.executable, stmt, args.runs, ROOT)))
        if other and Path(other).exists():
            try:
                # run EnOSlib away from this checkout so "enoslib" means the PyPI one
                rows.append((f"EnOSlib{label}", *measure(other, stmt, max(3, args.runs // 3), Path("/"))))
            except RuntimeError:
                pass
    print(f"statement: {REAL_USE}  (+ Host: then {WITH_HOST[len(REAL_USE) + 2:]})")
    print(f"{'what':<16} {'process s':>10} {'import s':>10} {'peak RSS MiB':>13}")
    for name, wall, imp, rss in rows:
        print(f"{name:<16} {wall:>10.3f} {imp:>10.3f} {rss:>13.1f}")
    print("targets: process <= 0.10 s, peak RSS <= 25 MiB")


if __name__ == "__main__":
    main()
