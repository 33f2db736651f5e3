"""Run every benchmark and print all their tables, with the versions and the machine's load.

    python benchmarks/run_all.py [--only api,import] [--list] [--compare-python PY]

The entry point a benchmark exposes (``benchmarks/<topic>_bench.py``):

* it runs as a script (``python benchmarks/<topic>_bench.py ARGS``) and prints its tables
  on stdout (progress on stderr);
* it declares ``RUN_ALL_ARGS = [...]``: a literal list of the arguments for a quick run
  (a few minutes at most); ``"{compare_python}"`` in it is replaced by the interpreter
  where EnOSlib is installed. A file without ``RUN_ALL_ARGS`` is listed as skipped;
* ``RUN_ALL_ROOT = True`` when it creates network namespaces / sshd: it then runs only as
  root, holding the test lock (``/tmp/enoslib-tests.lock``) like the test suite does.

The module is read (``ast``), never imported: a benchmark's imports cost nothing here.
Each benchmark runs in its own process with this checkout first on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import ast
import fcntl
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LOCK = "/tmp/enoslib-tests.lock"
DEFAULT_COMPARE = next(
    (p for p in ("/work/main/.venv-enoslib/bin/python", "/tmp/cmp-venv/bin/python")
     if Path(p).exists()),
    "",
)


def entry_point(path: Path) -> dict[str, Any] | None:
    """``{"args": [...], "root": bool}`` from the file's literal declarations, or None."""
    found: dict[str, Any] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in ("RUN_ALL_ARGS", "RUN_ALL_ROOT"):
            try:
                found[target.id] = ast.literal_eval(value)
            except ValueError:
                pass
    if not isinstance(found.get("RUN_ALL_ARGS"), list):
        return None
    return {"args": [str(a) for a in found["RUN_ALL_ARGS"]], "root": bool(found.get("RUN_ALL_ROOT"))}


def versions(compare: str) -> list[str]:
    def probe(python: str, code: str, cwd: str = "/") -> str:
        try:
            out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60,
                                 cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)}
                                 if python == sys.executable else
                                 {k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
            return out.stdout.strip() or out.stderr.strip().splitlines()[-1]
        except (OSError, subprocess.TimeoutExpired, IndexError) as exc:
            return f"n/a ({exc})"

    code = ("import importlib.metadata as m\n"
            "def v(n):\n"
            "    try: return m.version(n)\n"
            "    except Exception: return '-'\n"
            "print(' '.join(f'{n}={v(n)}' for n in ('enoslib', 'ansible-core', 'mitogen', 'execo')))")
    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip()
    lines = [f"python {platform.python_version()} ({sys.executable}), {platform.platform()}",
             f"this checkout: {ROOT} at {commit or '?'}; {probe(sys.executable, code)}"]
    if compare:
        lines.append(f"comparison ({compare}): {probe(compare, code)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="comma-separated topics (api,import,...)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and stop")
    parser.add_argument("--compare-python", default=DEFAULT_COMPARE)
    args = parser.parse_args(argv)
    only = {t.strip() for t in args.only.split(",") if t.strip()}
    files = sorted(HERE.glob("*_bench.py"))
    plan = []
    for path in files:
        topic = path.name[: -len("_bench.py")]
        if only and topic not in only:
            continue
        plan.append((topic, path, entry_point(path)))
    if args.list:
        for topic, path, ep in plan:
            print(f"{topic:<12} {path.name:<22} "
                  + ("(no RUN_ALL_ARGS: skipped)" if ep is None else
                     f"args {ep['args']}{' [root, test lock]' if ep['root'] else ''}"))
        return 0
    print("\n".join(versions(args.compare_python)))
    started = time.time()
    failures = []
    for topic, path, ep in plan:
        print(f"\n=== {topic}: ", end="")
        if ep is None:
            print(f"skipped ({path.name} declares no RUN_ALL_ARGS)")
            continue
        bench_args = [a.replace("{compare_python}", args.compare_python) for a in ep["args"]]
        command = [sys.executable, str(path), *bench_args]
        if ep["root"] and os.geteuid() != 0:
            print("skipped (needs root)")
            continue
        print(" ".join(shlex.quote(c) for c in command))
        print(f"    load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        t = time.perf_counter()
        lock = open(LOCK, "a") if ep["root"] else None
        try:
            if lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # namespaces and sshd: never beside the tests
            proc = subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        finally:
            if lock:
                lock.close()
        print(proc.stdout.rstrip())
        if proc.returncode:
            failures.append(topic)
            print(f"    FAILED (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        print(f"    took {time.perf_counter() - t:.0f} s; load average after: "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rerun = " ".join(shlex.quote(a) for a in [sys.executable, str(Path(__file__)), *(argv or sys.argv[1:])])
    print(f"\nall done in {time.time() - started:.0f} s on {os.cpu_count()} CPUs. Rerun: "
          f"PYTHONPATH={ROOT} {rerun}")
    if failures:
        print(f"failed: {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
