"""Remote execution speed: enoslib.api against plain OpenSSH, EnOSlib and execo.

Run (root: it brings up its own 50 local SSH hosts, network namespaces + sshd)::

    .venv/bin/python benchmarks/api_bench.py [--hosts 50] [--runs 5] [--compare-python /tmp/cmp-venv/bin/python]

Scenarios: ``run_command("true")`` on 50 cold hosts (no open connection) next to plain
parallel ``ssh host true`` measured in the same run; on 50 and 10 warm hosts; ``actions``
with 3 shell tasks on 10 hosts (fast path, and forced through Ansible). Each cell is the
median of ``--runs`` runs. EnOSlib / execo columns appear when ``--compare-python`` (default
``/tmp/cmp-venv/bin/python``) can import them (``pip install enoslib execo`` in a throwaway
venv); they run in a subprocess there.
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
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS = {
    "cold50": "<= 1.1x plain ssh",
    "warm50": "<= 0.5 s",
    "warm10": "<= 0.15 s",
    "actions10": "<= 1.2 s",
    "actions10_ansible": "",
}
LABELS = {
    "cold50": "run_command('true'), {n} hosts, cold",
    "warm50": "run_command('true'), {n} hosts, warm",
    "warm10": "run_command('true'), 10 hosts, warm",
    "actions10": "actions: 3 shell tasks, 10 hosts",
    "actions10_ansible": "same, through Ansible (warm)",
}

# Runs in the comparison venv: argv[1] = JSON {"tool", "hosts": [...], "runs"}; prints JSON.
_COMPARE = r"""
import json, os, statistics, sys, tempfile, time
spec = json.loads(sys.argv[1]); tool, hosts, runs = spec["tool"], spec["hosts"], spec["runs"]
out = {}
def timed(fn):
    t = time.perf_counter(); fn(); return time.perf_counter() - t
if tool == "enoslib":
    os.environ["ANSIBLE_SSH_CONTROL_PATH_DIR"] = tempfile.mkdtemp()  # cold: no master yet
    import enoslib as en
    args = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
    mk = lambda hs: en.Roles({"all": [en.Host(h["address"], alias=h["alias"], user=h["user"], keyfile=h["keyfile"],
                                             port=h["port"], extra={"ansible_ssh_common_args": args}) for h in hs]})
    r_all, r10 = mk(hosts), mk(hosts[:10])
    out["cold50"] = timed(lambda: en.run_command("true", roles=r_all))
    out["warm50"] = statistics.median(timed(lambda: en.run_command("true", roles=r_all)) for _ in range(runs))
    out["warm10"] = statistics.median(timed(lambda: en.run_command("true", roles=r10)) for _ in range(runs))
    def act():
        with en.actions(roles=r10) as a:
            a.shell("true"); a.shell("true"); a.shell("true")
    out["actions10"] = statistics.median(timed(act) for _ in range(runs))
elif tool == "execo":
    import execo
    params = {"ssh_options": ("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                              "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR")}
    mk = lambda hs: [execo.Host(h["address"], user=h["user"], keyfile=h["keyfile"], port=h["port"]) for h in hs]
    h_all, h10 = mk(hosts), mk(hosts[:10])
    def go(hs):
        p = execo.Remote("true", hs, connection_params=params).run()
        assert p.ok, p
    out["cold50"] = timed(lambda: go(h_all))  # execo opens a new connection every time
    out["warm50"] = statistics.median(timed(lambda: go(h_all)) for _ in range(runs))
    out["warm10"] = statistics.median(timed(lambda: go(h10)) for _ in range(runs))
    out["actions10"] = statistics.median(timed(lambda: [go(h10) for _ in range(3)]) for _ in range(runs))
print("RESULT " + json.dumps(out))
"""


def median_of(runs: int, fn: Callable[[], Any], before: Callable[[], Any] | None = None) -> float:
    times = []
    for _ in range(runs):
        if before:
            before()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def plain_ssh(argvs: list[list[str]]) -> None:
    procs = [
        subprocess.Popen(
            a, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for a in argvs
    ]
    for p in procs:
        p.communicate()
        if p.returncode:
            raise RuntimeError(f"plain ssh failed: {p.args}")


def compare(
    python: str, tool: str, hosts: list[dict[str, Any]], runs: int
) -> dict[str, float] | None:
    try:
        # outside this checkout, or "import enoslib" would find ours
        found = (
            subprocess.run(
                [python, "-c", f"import {tool}"],
                capture_output=True,
                timeout=120,
                cwd=tempfile.gettempdir(),
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        found = False
    if not found:
        return None
    spec = json.dumps({"tool": tool, "hosts": hosts, "runs": runs})
    try:
        out = subprocess.run(
            [python, "-c", _COMPARE, spec],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=tempfile.mkdtemp(prefix=f"bench-{tool}-"),
        )
    except subprocess.TimeoutExpired:
        print(f"  {tool}: timed out", file=sys.stderr)
        return None
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    print(f"  {tool} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--compare-python", default="/tmp/cmp-venv/bin/python")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("api_bench needs root (it creates network namespaces)", file=sys.stderr)
        return 2

    from enoslib.api import actions, close_connections, run_command
    from enoslib.config import set_config
    from enoslib.nodes import NamespaceLab
    from enoslib.objects import Host

    set_config(cache_dir=tempfile.mkdtemp(prefix="api-bench-"))
    name = "apibench"
    if NamespaceLab.load(name) is not None or NamespaceLab.leftovers(name):
        NamespaceLab.cleanup_all(name)
    t = time.perf_counter()
    with NamespaceLab(name) as lab:
        lab.add_bridge("n1", "10.79.0.0/16")
        infos = lab.add_nodes([f"b{i}" for i in range(args.hosts)], networks=["n1"], timeout=120)
        lab.wait_ssh(timeout=60)
        print(f"{args.hosts} hosts up in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        hosts = [
            Host(i.address, alias=i.name, user=i.user, port=i.port, keyfile=i.keyfile,
                 extra={"ansible_host_key_checking": False})  # lab nodes: new keys each run
            for i in infos
        ]
        ten = hosts[:10]
        ours: dict[str, float] = {}
        try:
            argvs = [lab.ssh_argv(i.name) + ["true"] for i in infos]
            plain = median_of(args.runs, lambda: plain_ssh(argvs))
            ours["cold50"] = median_of(
                args.runs,
                lambda: run_command("true", hosts),
                before=lambda: close_connections(hosts),
            )
            ours["warm50"] = median_of(args.runs, lambda: run_command("true", hosts))
            ours["warm10"] = median_of(args.runs, lambda: run_command("true", ten))

            def three_tasks(engine: str) -> None:
                with actions(roles=ten, engine=engine) as a:
                    a.shell("true")
                    a.shell("true")
                    a.shell("true")

            ours["actions10"] = median_of(args.runs, lambda: three_tasks("auto"))
            t = time.perf_counter()
            three_tasks("ansible")  # first use imports Ansible: reported apart
            first_ansible = time.perf_counter() - t
            ours["actions10_ansible"] = median_of(
                max(1, args.runs // 2), lambda: three_tasks("ansible")
            )
            close_connections(hosts)
            spec = [
                {
                    "address": h.address,
                    "alias": h.alias,
                    "user": h.user,
                    "port": h.port,
                    "keyfile": h.keyfile,
                }
                for h in hosts
            ]
            others = {
                tool: compare(args.compare_python, tool, spec, args.runs)
                for tool in ("enoslib", "execo")
            }
        finally:
            close_connections(hosts)

    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"enoslib.api, {args.hosts} local SSH hosts, median of {args.runs} runs (seconds)"
    )
    for col in (
        "scenario",
        "enoslib.api",
        "plain ssh",
        "target",
        *(
            f"EnOSlib {'' if others['enoslib'] else '(n/a)'}",
            f"execo {'' if others['execo'] else '(n/a)'}",
        ),
    ):
        table.add_column(col.strip())
    for key, label in LABELS.items():
        plain_cell = f"{plain:.3f}" if key == "cold50" else ""
        target = TARGETS[key]
        if key == "cold50":
            target += f" ({ours[key] / plain:.2f}x)"
        row = [label.format(n=args.hosts), f"{ours[key]:.3f}", plain_cell, target]
        for tool in ("enoslib", "execo"):
            value = (others[tool] or {}).get(key)
            row.append(f"{value:.3f}" if value is not None else "")
        table.add_row(*row)
    Console(width=150).print(table)
    print(f"first Ansible run in this process (imports included): {first_ansible:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
