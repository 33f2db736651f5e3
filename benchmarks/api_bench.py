"""Remote execution speed: enoslib.api against EnOSlib (and plain OpenSSH), like for like.

Run (root: it brings up its own local SSH hosts, network namespaces + sshd)::

    .venv/bin/python benchmarks/api_bench.py [--hosts 10] [--runs 5] [--big 50]
        [--compare-python /work/main/.venv-enoslib/bin/python]

Every tool runs in worker processes of its own, driven in turns by this script (interleaved:
a load spike hits every column alike). Each round starts fresh workers:

* ``ours``: ``actions`` on our default engine (module tasks on the module fast path,
  shell-only plays on the SSH fast path);
* ``ours/ansible-core``: the same plays forced through ansible-core (``engine="ansible"``);
* ``EnOSlib``: the same plays with EnOSlib's ``actions`` (``--compare-python``).

The first call in a worker is its **cold** figure (imports, Ansible's start-up, our agents'
start-up; SSH masters are already open for every tool); later calls are **warm**. Plays:
``modules`` = 3 real modules (``ping``, ``stat``, ``lineinfile``), ``shell`` = 3
``shell("true")`` tasks, ``run_command('true')``. Cells are medians over ``--runs`` rounds.
``--big N`` adds run_command rows on N hosts (cold = no SSH master) next to plain ssh.
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
sys.path.insert(0, str(ROOT))

RUN_ALL_ARGS = ["--hosts", "10", "--runs", "5"]  # benchmarks/run_all.py's quick run
RUN_ALL_ROOT = True
DEFAULT_COMPARE = next(
    (p for p in ("/work/main/.venv-enoslib/bin/python", "/tmp/cmp-venv/bin/python")
     if Path(p).exists()),
    "/tmp/cmp-venv/bin/python",
)

# One worker: argv[1] = JSON {"tool", "hosts", "engine", "cache"}; reads a play name per line
# on stdin, runs it, prints "T <seconds>" (or "E <error>").
_WORKER = r"""
import json, os, sys, time
spec = json.loads(sys.argv[1]); tool = spec["tool"]
proto = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)  # what the tools print (EnOSlib's progress) stays off the protocol
if tool == "enoslib":
    os.environ["ANSIBLE_SSH_CONTROL_PATH_DIR"] = spec["cache"]
    import logging; logging.disable(logging.WARNING)
else:
    from enoslib.config import set_config
    set_config(cache_dir=spec["cache"])
import enoslib as en
args = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
extra = ({"ansible_ssh_common_args": args} if tool == "enoslib" else {"ansible_host_key_checking": False})
hosts = [en.Host(h["address"], alias=h["alias"], user=h["user"], keyfile=h["keyfile"], port=h["port"],
                 extra=dict(extra)) for h in spec["hosts"]]
roles = en.Roles({"all": hosts})
kw = {"engine": spec["engine"]} if spec.get("engine") else {}
def modules():
    with en.actions(roles=roles, **kw) as a:
        a.ping()
        a.stat(path="/etc/hostname")
        a.lineinfile(path="/tmp/enoslib-bench-li", line="bench", create=True)
def shell():
    with en.actions(roles=roles, **kw) as a:
        a.shell("true"); a.shell("true"); a.shell("true")
def command():
    en.run_command("true", roles=roles)
plays = {"modules": modules, "shell": shell, "command": command}
for line in sys.stdin:
    try:
        t = time.perf_counter(); plays[line.strip()](); dt = time.perf_counter() - t
        print("T", dt, file=proto, flush=True)
    except Exception as exc:
        print("E", repr(exc)[:500].replace("\n", " "), file=proto, flush=True)
"""


class Worker:
    def __init__(self, python: str, tool: str, hosts: list[dict[str, Any]], cache: str,
                 engine: str | None = None) -> None:
        env = dict(os.environ)
        if tool == "ours":
            env["PYTHONPATH"] = str(ROOT)
        else:
            env.pop("PYTHONPATH", None)
        spec = json.dumps({"tool": tool, "hosts": hosts, "engine": engine, "cache": cache})
        self.proc = subprocess.Popen(
            [python, "-c", _WORKER, spec], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, env=env, cwd=tempfile.gettempdir(),
        )

    def run(self, play: str) -> float:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(play + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline().split(" ", 1)
        if line[0] != "T":
            raise RuntimeError(f"{play} failed: {line[-1] if line else 'worker died'}")
        return float(line[1])

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def can_import(python: str, module: str) -> bool:
    try:
        return subprocess.run([python, "-c", f"import {module}"], capture_output=True,
                              timeout=120, cwd=tempfile.gettempdir()).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def plain_ssh(argvs: list[list[str]]) -> None:
    procs = [subprocess.Popen(a, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for a in argvs]
    for p in procs:
        p.communicate()
        if p.returncode:
            raise RuntimeError(f"plain ssh failed: {p.args}")


def median_of(runs: int, fn: Any, before: Any = None) -> float:
    times = []
    for _ in range(runs):
        if before:
            before()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--big", type=int, default=0, help="also run_command on this many hosts")
    parser.add_argument("--compare-python", default=DEFAULT_COMPARE)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("api_bench needs root (it creates network namespaces)", file=sys.stderr)
        return 2

    from enoslib.api import close_connections, run_command
    from enoslib.config import set_config
    from enoslib.nodes import NamespaceLab
    from enoslib.objects import Host

    cache = tempfile.mkdtemp(prefix="api-bench-")
    set_config(cache_dir=cache)
    enoslib_cp = tempfile.mkdtemp(prefix="api-bench-cp-")
    compare = args.compare_python if can_import(args.compare_python, "enoslib") else None
    name = "apibench"
    if NamespaceLab.load(name) is not None or NamespaceLab.leftovers(name):
        NamespaceLab.cleanup_all(name)
    n_nodes = max(args.hosts, args.big)
    samples: dict[tuple[str, str, str], list[float]] = {}
    big: dict[str, float] = {}
    t0 = time.perf_counter()
    with NamespaceLab(name) as lab:
        lab.add_bridge("n1", "10.79.0.0/16")
        infos = lab.add_nodes([f"b{i}" for i in range(n_nodes)], networks=["n1"], timeout=120)
        lab.wait_ssh(timeout=60)
        print(f"{n_nodes} hosts up in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        hosts = [Host(i.address, alias=i.name, user=i.user, port=i.port, keyfile=i.keyfile,
                      extra={"ansible_host_key_checking": False}) for i in infos]
        spec = [{"address": h.address, "alias": h.alias, "user": h.user, "port": h.port,
                 "keyfile": h.keyfile} for h in hosts[: args.hosts]]
        try:
            if args.big:
                argvs = [lab.ssh_argv(i.name) + ["true"] for i in infos[: args.big]]
                sel = hosts[: args.big]
                big["plain ssh (new connection each)"] = median_of(args.runs, lambda: plain_ssh(argvs))
                big["ours, cold (no SSH master)"] = median_of(
                    args.runs, lambda: run_command("true", sel), before=lambda: close_connections(sel))
                big["ours, warm"] = median_of(args.runs, lambda: run_command("true", sel))
            run_command("true", hosts[: args.hosts])  # SSH masters open for our workers
            tools: list[tuple[str, str, str, str | None]] = [
                ("ours", sys.executable, "ours", None),
                ("ours/ansible-core", sys.executable, "ours", "ansible"),
            ]
            if compare:
                tools.append(("EnOSlib", compare, "enoslib", None))
            for r in range(args.runs):
                workers = {label: Worker(py, tool, spec, enoslib_cp if tool == "enoslib" else cache,
                                         engine) for label, py, tool, engine in tools}
                order = list(workers)[r % len(workers):] + list(workers)[: r % len(workers)]
                try:
                    for step, play in (("cold", "modules"), ("warm", "modules"), ("warm", "shell"),
                                       ("warm", "command")):
                        for label in order:
                            if label == "ours/ansible-core" and play == "command":
                                continue  # run_command takes no engine of actions
                            samples.setdefault((label, play, step), []).append(workers[label].run(play))
                            if step == "cold":  # warm figures: a second call in the same process
                                samples.setdefault((label, play, "warm"), []).append(
                                    workers[label].run(play))
                finally:
                    for w in workers.values():
                        w.close()
                print(f"round {r + 1}/{args.runs} done", file=sys.stderr)
        finally:
            close_connections(hosts)

    from rich.console import Console
    from rich.table import Table

    labels = [t[0] for t in tools]
    table = Table(title=f"actions / run_command on {args.hosts} local SSH hosts: median of "
                        f"{args.runs} rounds, seconds (interleaved workers)")
    table.add_column("play")
    for label in labels:
        table.add_column(label, justify="right")
    table.add_column("EnOSlib / ours", justify="right")
    rows = [("3 modules, cold (1st call in process)", "modules", "cold"),
            ("3 modules, warm", "modules", "warm"),
            ("3 shell tasks, warm", "shell", "warm"),
            ("run_command('true'), warm", "command", "warm")]
    for title, play, step in rows:
        cells, values = [], {}
        for label in labels:
            got = samples.get((label, play, step))
            values[label] = statistics.median(got) if got else None
            cells.append(f"{values[label]:.3f}" if got else "")
        ratio = ""
        if values.get("EnOSlib") and values.get("ours"):
            ratio = f"{values['EnOSlib'] / values['ours']:.1f}x"
        table.add_row(title, *cells, ratio)
    console = Console(width=150)
    console.print(table)
    if not compare:
        print(f"(no EnOSlib column: {args.compare_python} cannot import enoslib)")
    if big:
        t2 = Table(title=f"run_command('true') on {args.big} hosts, median of {args.runs}")
        t2.add_column("what")
        t2.add_column("seconds", justify="right")
        for k, v in big.items():
            t2.add_row(k, f"{v:.3f}")
        console.print(t2)
    print("ours = module fast path for modules, SSH fast path for shell; SSH masters open for all "
          "tools (cold = process start-up, Ansible start-up and our agents). Mitogen: not measured.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
