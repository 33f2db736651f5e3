"""enoslib.execo against execo itself: Remote("true"), Put of 10 MiB, ChainPut.

Run as root, under the test lock (it brings up its own local SSH hosts: network namespaces +
sshd)::

    flock /tmp/enoslib-tests.lock .venv/bin/python benchmarks/execo_bench.py [--runs 3] [--sizes 1,10,50]

execo comes from PyPI in its own venv, created on first use next to the running venv
(``<venv>/../.venv-execo``; ``--execo-python`` or ``$EXECO_PYTHON`` to use another); its
column is empty if that fails. execo's Taktuk* and ChainPut need ``taktuk`` (and ``nc`` on
hosts for ChainPut): Debian packages ``taktuk`` and ``netcat-traditional``. The "taktuk binary"
column runs the Debian ``taktuk`` directly (``broadcast exec [ true ]``), for the record.

Each cell is the median of ``--runs`` runs, in seconds. enoslib.execo keeps one multiplexed
ssh connection per host: "cold" is the first run after closing them, "warm" the next ones.
execo opens new connections on every run. ``run(...)`` returns the rows (list of dicts) for
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

SIZE = 10 * 1024 * 1024

# Runs in execo's venv: argv[1] = JSON {"hosts": [...], "runs", "sizes", "file"}; prints JSON.
_EXECO = r"""
import json, logging, statistics, sys, time
spec = json.loads(sys.argv[1])
import execo
from execo.log import logger
logger.setLevel(logging.CRITICAL)
opts = ("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "LogLevel=ERROR")
params = {"ssh_options": opts, "scp_options": opts + ("-rp",), "taktuk_connector_options": opts}
hosts = [execo.Host(h["address"], user=h["user"], keyfile=h["keyfile"], port=h["port"]) for h in spec["hosts"]]
out = {}
errors = {}
def timed(fn, runs, key=None):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        try:
            action = fn()
        except Exception as e:
            errors[key] = repr(e)[:300]
            return None
        times.append(time.perf_counter() - t)
        if not action.ok:
            p = [p for p in action.processes if not p.ok][:1]
            errors[key] = (str(p[0]) + " " + (p[0].stdout + p[0].stderr)[-300:]) if p else "not ok"
            return None
    return statistics.median(times)
for n in spec["sizes"]:
    hs = hosts[:n]
    out[f"remote{n}"] = timed(lambda: execo.Remote("true", hs, connection_params=params).run(), spec["runs"], f"remote{n}")
    out[f"put{n}"] = timed(lambda: execo.Put(hs, [spec["file"]], "/tmp/", connection_params=params).run(), spec["runs"], f"put{n}")
    out[f"taktukremote{n}"] = timed(lambda: execo.TaktukRemote("true", hs, connection_params=params).run(timeout=120), 1, f"taktukremote{n}")
n = max(spec["sizes"])
out[f"chainput{n}"] = timed(lambda: execo.ChainPut(hosts[:n], [spec["file"]], "/tmp/", connection_params=params).run(timeout=300), 1, f"chainput{n}")
out["errors"] = errors
print("RESULT " + json.dumps(out))
"""


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


def run_execo(python: str, hosts: list[dict[str, Any]], runs: int, sizes: list[int],
              file: str) -> dict[str, float | None]:
    spec = json.dumps({"hosts": hosts, "runs": runs, "sizes": sizes, "file": file})
    try:
        out = subprocess.run([python, "-c", _EXECO, spec], capture_output=True, text=True,
                             timeout=1800, cwd=tempfile.mkdtemp(prefix="bench-execo-"))
    except subprocess.TimeoutExpired:
        print("execo: timed out", file=sys.stderr)
        return {}
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    print(f"execo failed:\n{out.stderr[-2000:]}", file=sys.stderr)
    return {}


def median_of(runs: int, fn: Callable[[], bool], before: Callable[[], Any] | None = None) -> float | None:
    times = []
    for _ in range(runs):
        if before:
            before()
        t = time.perf_counter()
        ok = fn()
        times.append(time.perf_counter() - t)
        if not ok:
            return None
    return statistics.median(times)


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


def run(runs: int = 3, sizes: tuple[int, ...] = (1, 10, 50), execo: bool = True,
        python: str | None = None) -> list[dict[str, Any]]:
    """Bring up ``max(sizes)`` local SSH hosts, measure, tear down; one dict per scenario:
    ``{"scenario", "enoslib.execo", "enoslib.execo cold", "execo", "taktuk binary"}``."""
    from enoslib.api import close_connections
    from enoslib.config import set_config
    from enoslib.execo import ChainPut, Put, Remote, TaktukRemote
    from enoslib.nodes import NamespaceLab
    from enoslib.objects import Host

    set_config(cache_dir=tempfile.mkdtemp(prefix="execo-bench-"))
    n_max = max(sizes)
    name = "execobench"
    if NamespaceLab.load(name) is not None or NamespaceLab.leftovers(name):
        NamespaceLab.cleanup_all(name)
    work = Path(tempfile.mkdtemp(prefix="execo-bench-data-"))
    data = work / "10MiB.bin"
    data.write_bytes(os.urandom(SIZE))
    ours: dict[str, float | None] = {}
    theirs: dict[str, float | None] = {}
    taktuk: dict[str, float | None] = {}
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    with NamespaceLab(name) as lab:
        lab.add_bridge("n1", "10.85.0.0/16")
        infos = lab.add_nodes([f"x{i}" for i in range(n_max)], networks=["n1"], timeout=180)
        lab.wait_ssh(timeout=120)
        print(f"{n_max} hosts up in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        hosts = [Host(i.address, alias=i.name, user=i.user, port=i.port, keyfile=i.keyfile,
                      extra={"ansible_host_key_checking": False}) for i in infos]
        try:
            for n in sizes:
                hs = hosts[:n]
                ours[f"remote{n}_cold"] = median_of(runs, lambda: Remote("true", hs).run().ok,
                                                    before=lambda: close_connections(hs))
                ours[f"remote{n}"] = median_of(runs, lambda: Remote("true", hs).run().ok)
                ours[f"taktukremote{n}"] = median_of(runs, lambda: TaktukRemote("true", hs).run().ok)
                ours[f"put{n}"] = median_of(runs, lambda: Put(hs, [str(data)], "/tmp/").run().ok)
                taktuk[f"remote{n}"] = taktuk_binary(lab, [i.name for i in infos[:n]])
            ours[f"chainput{n_max}"] = median_of(
                runs, lambda: ChainPut(hosts, [str(data)], "/tmp/chained.bin").run().ok)
            close_connections(hosts)
            if execo:
                py = execo_python(python)
                if py:
                    spec = [{"address": h.address, "user": h.user, "port": h.port,
                             "keyfile": h.keyfile} for h in hosts]
                    theirs = run_execo(py, spec, runs, list(sizes), str(data))
                    for key, error in (theirs.pop("errors", None) or {}).items():
                        print(f"execo {key}: {error}", file=sys.stderr)
        finally:
            close_connections(hosts)
            shutil.rmtree(work, ignore_errors=True)
    for n in sizes:
        rows.append({"scenario": f"Remote('true'), {n} hosts", "enoslib.execo": ours[f"remote{n}"],
                     "enoslib.execo cold": ours[f"remote{n}_cold"], "execo": theirs.get(f"remote{n}"),
                     "taktuk binary": taktuk.get(f"remote{n}")})
    for n in sizes:
        rows.append({"scenario": f"TaktukRemote('true'), {n} hosts",
                     "enoslib.execo": ours[f"taktukremote{n}"], "enoslib.execo cold": None,
                     "execo": theirs.get(f"taktukremote{n}"), "taktuk binary": None})
    for n in sizes:
        rows.append({"scenario": f"Put 10 MiB, {n} hosts", "enoslib.execo": ours[f"put{n}"],
                     "enoslib.execo cold": None, "execo": theirs.get(f"put{n}"), "taktuk binary": None})
    rows.append({"scenario": f"ChainPut 10 MiB, {n_max} hosts", "enoslib.execo": ours[f"chainput{n_max}"],
                 "enoslib.execo cold": None, "execo": theirs.get(f"chainput{n_max}"),
                 "taktuk binary": None})
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
    parser.add_argument("--runs", type=int, default=3)
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
