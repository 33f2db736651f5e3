"""enoslib.execo against execo itself: Remote("true"), Put of 10 MiB, ChainPut.

Run as root, under the test lock (it brings up its own local SSH hosts: network namespaces +
sshd)::

    flock /tmp/enoslib-tests.lock .venv/bin/python benchmarks/execo_bench.py [--runs 3] [--sizes 1,10,50]

execo comes from PyPI in its own venv, created on first use next to the running venv
(``<venv>/../.venv-execo``; ``--execo-python`` or ``$EXECO_PYTHON`` to use another); its
column is empty if that fails. execo's Taktuk* and ChainPut need ``taktuk`` (and ``nc`` on
hosts for ChainPut): Debian packages ``taktuk`` and ``netcat-traditional``. The "taktuk binary"
column runs the Debian ``taktuk`` directly (``broadcast exec [ true ]``), for the record.

Each cell is the median of ``--runs`` runs, in seconds; enoslib.execo and execo run in turns
(one round of ours, one of execo's, ...) so both see the same machine load. enoslib.execo
keeps one multiplexed ssh connection per host: "cold" runs after closing them, the main
column reuses them. execo opens new connections on every run. ``run(...)`` returns the rows (list of dicts) for
``benchmarks/run_all.py``; ``main()`` prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lab import bench_lab, host_specs  # noqa: E402

SIZE = 10 * 1024 * 1024
RUN_ALL_ARGS = ["--runs", "5"]  # benchmarks/run_all.py's quick run (about 3 minutes)
RUN_ALL_ROOT = True  # network namespaces + sshd: run_all holds the test lock

# execo's side, in its own venv: argv[1] = JSON {"hosts": [...], "file"}; then one JSON
# request a line on stdin ({"op": "remote" | "put" | "taktukremote" | "chainput", "n": N}),
# one JSON answer a line on stdout ({"t": seconds or null, "error": ...}).
_EXECO = r"""
import json, logging, sys, time
spec = json.loads(sys.argv[1])
import execo
from execo.log import logger
logger.setLevel(logging.CRITICAL)
opts = ("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "LogLevel=ERROR")
params = {"ssh_options": opts, "scp_options": opts + ("-rp",), "taktuk_connector_options": opts}
hosts = [execo.Host(h["address"], user=h["user"], keyfile=h["keyfile"], port=h["port"]) for h in spec["hosts"]]
make = {
    "remote": lambda hs: execo.Remote("true", hs, connection_params=params),
    "put": lambda hs: execo.Put(hs, [spec["file"]], "/tmp/", connection_params=params),
    "taktukremote": lambda hs: execo.TaktukRemote("true", hs, connection_params=params),
    "chainput": lambda hs: execo.ChainPut(hs, [spec["file"]], "/tmp/", connection_params=params),
}
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    t = time.perf_counter()
    try:
        action = make[req["op"]](hosts[:req["n"]]).run(timeout=300)
        answer = {"t": time.perf_counter() - t}
        if not action.ok:
            bad = [p for p in action.processes if not p.ok][:1]
            answer = {"t": None, "error": (str(bad[0]) + " " + (bad[0].stdout + bad[0].stderr)[-300:]) if bad else "not ok"}
    except Exception as e:
        answer = {"t": None, "error": repr(e)[:300]}
    print(json.dumps(answer), flush=True)
"""


class ExecoWorker:
    """execo in its venv, driven one measure at a time (interleaved with ours)."""

    def __init__(self, python: str, hosts: list[dict[str, Any]], file: str) -> None:
        self.proc = subprocess.Popen(
            [python, "-c", _EXECO, json.dumps({"hosts": hosts, "file": file})],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            cwd=tempfile.mkdtemp(prefix="bench-execo-"))
        assert self.proc.stdout is not None
        self.ok = "ready" in (self.proc.stdout.readline() or "")
        self.errors: dict[str, str] = {}

    def measure(self, op: str, n: int) -> float | None:
        if not self.ok or self.proc.poll() is not None:
            return None
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, "n": n}) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline() or '{"t": null, "error": "worker died"}')
        if answer.get("error"):
            self.errors[f"{op}{n}"] = answer["error"]
        return answer.get("t")

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def execo_python(explicit: str | None = None) -> str | None:
    """A python that imports execo: ``explicit``, ``$EXECO_PYTHON``, or the venv
    ``<this venv>/../.venv-execo``, created with ``pip install execo`` when missing."""
    python = explicit or os.environ.get("EXECO_PYTHON")
    if python:
        return python
    venv = Path(sys.prefix).parent / ".venv-execo"
    python = str(venv / "bin" / "python")
    if not os.path.exists(python):
        print(f"creating {venv} (pip install execo) ...", file=sys.stderr)
        try:
            subprocess.run([shutil.which("python3") or sys.executable, "-m", "venv", str(venv)],
                           check=True, timeout=300)
        except (OSError, subprocess.SubprocessError) as exc:
            print(f"cannot create {venv}: {exc}", file=sys.stderr)
            return None
    check = subprocess.run([python, "-c", "import execo"], capture_output=True,
                           cwd=tempfile.gettempdir())
    if check.returncode != 0:
        done = subprocess.run([python, "-m", "pip", "install", "-q", "execo"], timeout=600)
        if done.returncode != 0:
            return None
    return python


def taktuk_binary(lab: Any, names: list[str]) -> float | None:
    """The Debian ``taktuk`` running ``true`` on the hosts (ssh connector, self-propagating)."""
    taktuk = shutil.which("taktuk")
    if taktuk is None:
        return None
    connector = " ".join(["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                          "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                          "-i", lab.keyfile])
    argv = [taktuk, "-s", "-c", connector, "-l", "root"]
    for name in names:
        argv += ["-m", lab.nodes[name].address]
    argv += ["broadcast", "exec", "[", "true", "]"]
    t = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, timeout=300)
    elapsed = time.perf_counter() - t
    return elapsed if done.returncode == 0 else None


def _timed(fn: Callable[[], bool]) -> float | None:
    t = time.perf_counter()
    ok = fn()
    return time.perf_counter() - t if ok else None


def _median(values: list[float | None]) -> float | None:
    if not values or any(v is None for v in values):
        return None
    return statistics.median(v for v in values if v is not None)


def run(runs: int = 5, sizes: tuple[int, ...] = (1, 10, 50), execo: bool = True,
        python: str | None = None) -> list[dict[str, Any]]:
    """Bring up ``max(sizes)`` local SSH hosts, measure (enoslib.execo and execo in turns,
    round by round), tear down; one dict per scenario: ``{"scenario", "enoslib.execo",
    "enoslib.execo cold", "execo", "taktuk binary"}`` (seconds, medians; None: not run or
    failed)."""
    from enoslib.api import close_connections
    from enoslib.execo import ChainPut, Put, Remote, TaktukRemote

    n_max = max(sizes)
    work = Path(tempfile.mkdtemp(prefix="execo-bench-data-"))
    data = work / "10MiB.bin"
    data.write_bytes(os.urandom(SIZE))
    py = execo_python(python) if execo else None
    rows: list[dict[str, Any]] = []
    with bench_lab("execobench", n_max, "10.85.0.0/16", prefix="x") as (lab, hosts):
        spec = host_specs(hosts)
        worker = ExecoWorker(py, spec, str(data)) if py else None
        ours: dict[str, list[float | None]] = {}
        theirs: dict[str, list[float | None]] = {}

        def measure(key: str, fn: Callable[[], bool], op: str, n: int,
                    before: Callable[[], Any] | None = None) -> None:
            for _ in range(runs):
                if before:
                    before()
                ours.setdefault(key, []).append(_timed(fn))
                if worker is not None and op:
                    theirs.setdefault(key, []).append(worker.measure(op, n))

        try:
            taktuk: dict[int, float | None] = {}
            for n in sizes:
                hs = hosts[:n]
                measure(f"remote{n}_cold", lambda: Remote("true", hs).run().ok, "", n,
                        before=lambda: close_connections(hs))
                measure(f"remote{n}", lambda: Remote("true", hs).run().ok, "remote", n)
                measure(f"taktukremote{n}", lambda: TaktukRemote("true", hs).run().ok,
                        "taktukremote", n)
                measure(f"put{n}", lambda: Put(hs, [str(data)], "/tmp/").run().ok, "put", n)
                taktuk[n] = taktuk_binary(lab, [h.alias for h in hosts[:n]])
            measure(f"chainput{n_max}",
                    lambda: ChainPut(hosts, [str(data)], "/tmp/chained.bin").run().ok,
                    "chainput", n_max)
        finally:
            if worker is not None:
                worker.close()
                for key, error in worker.errors.items():
                    print(f"execo {key}: {error}", file=sys.stderr)
            shutil.rmtree(work, ignore_errors=True)

    def row(scenario: str, key: str, cold: str | None = None, n: int | None = None) -> None:
        rows.append({"scenario": scenario, "enoslib.execo": _median(ours[key]),
                     "enoslib.execo cold": _median(ours[cold]) if cold else None,
                     "execo": _median(theirs.get(key, [])),
                     "taktuk binary": taktuk.get(n) if n is not None else None})

    for n in sizes:
        row(f"Remote('true'), {n} hosts", f"remote{n}", f"remote{n}_cold", n)
    for n in sizes:
        row(f"TaktukRemote('true'), {n} hosts", f"taktukremote{n}")
    for n in sizes:
        row(f"Put 10 MiB, {n} hosts", f"put{n}")
    row(f"ChainPut 10 MiB, {n_max} hosts", f"chainput{n_max}")
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    columns = ["scenario", "enoslib.execo", "enoslib.execo cold", "execo", "taktuk binary"]
    cells = [[r["scenario"], *(("-" if r.get(c) is None else f"{r[c]:.3f}") for c in columns[1:])]
             for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = lambda values: "  ".join(  # noqa: E731
        v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths)))
    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="1,10,50", help="host counts, comma-separated")
    parser.add_argument("--no-execo", action="store_true", help="skip the execo column")
    parser.add_argument("--execo-python", default=None)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("execo_bench needs root (it creates network namespaces)", file=sys.stderr)
        return 2
    sizes = tuple(int(s) for s in args.sizes.split(","))
    rows = run(args.runs, sizes, not args.no_execo, args.execo_python)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(f"enoslib.execo vs execo, local SSH hosts, median of {args.runs} runs (seconds; "
              "- = not run or failed)")
        print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
