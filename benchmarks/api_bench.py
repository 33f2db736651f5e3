"""Remote execution speed: enoslib.api against EnOSlib (and plain OpenSSH), like for like.

Run (root: it brings up its own local SSH hosts, network namespaces + sshd; hold the test
lock as ``benchmarks/run_all.py`` does)::

    flock /tmp/enoslib-tests.lock .venv/bin/python benchmarks/api_bench.py \
        [--hosts 10,50] [--runs 5] [--big 50] [--no-core]
        [--compare-python /work/main/.venv-enoslib/bin/python]

Every tool runs in worker processes of its own, driven in turns by this script (interleaved:
a load spike hits every column alike; the tool that goes first changes every round). Each
round starts fresh workers:

* ``ours``: ``actions`` on our default engine (module tasks on the module fast path,
  shell-only plays on the SSH fast path);
* ``ours/ansible-core``: the module play forced through ansible-core (``engine="ansible"``);
  ``--no-core`` leaves it out;
* ``EnOSlib``: the same plays with EnOSlib's ``actions`` (``--compare-python``).

The first call in a worker is its **cold** figure (Python imports, Ansible's start-up, our
agents' start-up; SSH masters are already open for every tool, and the hosts have already
seen the modules once: our module libraries are on them and our agent daemons run there, as
after any earlier script within ``agent_persist``: ours then costs a relay per host over
SSH to a warm daemon); "hosts new to our modules" removes the hosts' agent cache first (no
library, no daemon: both built again by that call);
the second call of the same play is its **warm** figure. Plays: ``modules`` = 3 real
modules (``ping``, ``stat``, ``lineinfile``), ``shell`` = 3 ``shell("true")`` tasks,
``run_command('true')``, ``mixed`` = ``copy`` of templated content, ``template`` and
``command`` with a 2-item loop and a ``when`` (ours: through ansible-core's TaskExecutor with
modules on our agents; its "cold" is its first call in the process, after the module play),
``shell4`` = 4 ``shell("true")`` tasks (ours only: the SSH fast path's figure for as many
commands as the mixed play),
``playbook`` = ``run_ansible`` of a playbook file whose role has
3 tasks (``stat``, ``lineinfile`` and ``command`` templated from ``extra_vars``): both
tools run it through ansible-core's strategy; ours with its tasks in threads on our agents,
``ours/ansible-core`` with ansible-core's forked workers (``ansible_workers="processes"``). Cells are medians over ``--runs`` rounds.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lab import bench_lab, host_specs  # noqa: E402

RUN_ALL_ARGS = ["--hosts", "10,50", "--runs", "5", "--no-core"]  # run_all: ~11 min (50 hosts)
RUN_ALL_ROOT = True
DEFAULT_COMPARE = next(
    (p for p in ("/work/main/.venv-enoslib/bin/python", "/tmp/cmp-venv/bin/python")
     if Path(p).exists()),
    "/tmp/cmp-venv/bin/python",
)

# One worker: argv[1] = JSON {"tool", "hosts", "engine", "cache", "playbook"}; reads a play
# name per line on stdin, runs it, prints "T <seconds>" (or "E <error>").
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
    if spec.get("engine") == "ansible":  # run_ansible too: ansible-core's forked workers
        try: set_config(ansible_workers="processes")
        except Exception: pass  # an enoslib before that setting: always so
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
def shell4():
    with en.actions(roles=roles, **kw) as a:
        a.shell("true"); a.shell("true"); a.shell("true"); a.shell("true")
def command():
    en.run_command("true", roles=roles)
def playbook():
    en.run_ansible([spec["playbook"]], roles=roles, extra_vars={"bench_line": "from extra_vars"})
def mixed():
    with en.actions(roles=roles, **kw) as a:
        a.copy(content="hello {{ inventory_hostname }}\n", dest="/tmp/enoslib-bench-copy")
        a.template(src=os.path.join(os.path.dirname(spec["playbook"]), "app.j2"),
                   dest="/tmp/enoslib-bench-tpl")
        a.command("echo {{ item }}", loop=["a", "b"], when="inventory_hostname != 'none'")
plays = {"modules": modules, "shell": shell, "shell4": shell4, "command": command,
         "playbook": playbook,
         "mixed": mixed}
for line in sys.stdin:
    try:
        t = time.perf_counter(); plays[line.strip()](); dt = time.perf_counter() - t
        print("T", dt, file=proto, flush=True)
    except Exception as exc:
        print("E", repr(exc)[:500].replace("\n", " "), file=proto, flush=True)
"""

PLAYBOOK = """- hosts: all
  gather_facts: false
  roles:
    - bench
"""
ROLE_TASKS = """- name: stat
  ansible.builtin.stat:
    path: /etc/hostname
- name: lineinfile
  ansible.builtin.lineinfile:
    path: /tmp/enoslib-bench-role
    line: "{{ bench_line }}"
    create: true
- name: command
  ansible.builtin.command: "echo {{ bench_line }}"
"""


def write_playbook(where: Path) -> str:
    """A playbook file with one role (3 tasks using ``bench_line`` from extra_vars)."""
    (where / "roles" / "bench" / "tasks").mkdir(parents=True, exist_ok=True)
    (where / "roles" / "bench" / "tasks" / "main.yml").write_text(ROLE_TASKS)
    (where / "app.j2").write_text("host={{ inventory_hostname }} addr={{ ansible_host }}\n")
    (where / "site.yml").write_text(PLAYBOOK)
    return str(where / "site.yml")


class Worker:
    def __init__(self, python: str, tool: str, hosts: list[dict[str, Any]], cache: str,
                 engine: str | None = None, playbook: str = "") -> None:
        env = dict(os.environ)
        if tool == "ours":
            env["PYTHONPATH"] = str(ROOT)
        else:
            env.pop("PYTHONPATH", None)
        spec = json.dumps({"tool": tool, "hosts": hosts, "engine": engine, "cache": cache,
                           "playbook": playbook})
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


# (play, step) measured in each round, in this order; which tools run them
STEPS = [("modules", "cold"), ("modules", "warm"), ("shell", "warm"), ("command", "warm"),
         ("mixed", "cold"), ("mixed", "warm"), ("shell4", "warm"), ("playbook", "cold"),
         ("playbook", "warm")]
# the plays the ours/ansible-core column runs: the module play (engine="ansible") and the
# playbook (ansible_workers="processes"); it has no cell for the other plays
CORE_PLAYS = {"modules", "playbook"}
OURS_ONLY = {"shell4"}  # the fast-path reference of the mixed play (4 commands)
HOST_CACHE = "~/.cache/enoslib-agent"  # the hosts' module libraries and agent daemons' sockets


def measure(n: int, runs: int, tools: list[tuple[str, str, str, str | None]],
            hosts: list[Any], caches: dict[str, str], playbook: str,
            samples: dict[tuple[int, str, str, str], list[float]],
            plays: tuple[str, ...] = ("modules", "shell", "command", "mixed", "shell4",
                                      "playbook")) -> None:
    """``runs`` interleaved rounds on the first ``n`` hosts; samples[(n, tool, play, step)]."""
    from enoslib.api import run_command

    hosts = hosts[:n]
    spec = host_specs(hosts)
    t0 = time.perf_counter()
    for r in range(runs):
        workers = {label: Worker(py, tool, spec[:n], caches[tool], engine, playbook)
                   for label, py, tool, engine in tools}
        order = list(workers)[r % len(workers):] + list(workers)[: r % len(workers)]
        try:
            # a script on hosts that never saw the modules: libraries built there
            run_command(f"rm -rf {HOST_CACHE}", hosts)
            first = Worker(sys.executable, "ours", spec[:n], caches["ours"], None, playbook)
            samples.setdefault((n, "ours", "modules", "new hosts"), []).append(first.run("modules"))
            first.close()
            for play, step in [s for s in STEPS if s[0] in plays]:
                for label in order:
                    if label == "ours/ansible-core" and play not in CORE_PLAYS:
                        continue
                    if label != "ours" and play in OURS_ONLY:
                        continue
                    # "playbook cold" is the first playbook call of the process, after the
                    # module and shell plays: ansible-core's own start-up is what it adds
                    samples.setdefault((n, label, play, step), []).append(workers[label].run(play))
        finally:
            for w in workers.values():
                w.close()
        print(f"{n} hosts: round {r + 1}/{runs} done ({time.perf_counter() - t0:.0f} s)",
              file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", default="10,50", help="host counts, comma-separated")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--big", type=int, default=0, help="also run_command on this many hosts")
    parser.add_argument("--no-core", action="store_true", help="no ours/ansible-core column")
    parser.add_argument("--plays", default="modules,shell,command,mixed,shell4,playbook",
                        help="which plays to measure, comma-separated")
    parser.add_argument("--compare-python", default=DEFAULT_COMPARE)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("api_bench needs root (it creates network namespaces)", file=sys.stderr)
        return 2
    sizes = [int(x) for x in str(args.hosts).split(",") if x.strip()]

    from enoslib.api import close_connections, run_command
    from enoslib.config import get_config

    compare = args.compare_python if can_import(args.compare_python, "enoslib") else None
    samples: dict[tuple[int, str, str, str], list[float]] = {}
    big: dict[str, float] = {}
    tools: list[tuple[str, str, str, str | None]] = [("ours", sys.executable, "ours", None)]
    if not args.no_core:
        tools.append(("ours/ansible-core", sys.executable, "ours", "ansible"))
    if compare:
        tools.append(("EnOSlib", compare, "enoslib", None))
    playbook = write_playbook(Path(tempfile.mkdtemp(prefix="api-bench-play-")))
    with bench_lab("apibench", max(sizes + [args.big]), "10.79.0.0/16", prefix="b") as (lab, hosts):
        caches = {"ours": str(get_config()["cache_dir"]),
                  "enoslib": tempfile.mkdtemp(prefix="api-bench-cp-")}
        spec = host_specs(hosts)
        if args.big:
            argvs = [lab.ssh_argv(h.alias) + ["true"] for h in hosts[: args.big]]
            sel = hosts[: args.big]
            big["plain ssh (new connection each)"] = median_of(args.runs, lambda: plain_ssh(argvs))
            big["ours, cold (no SSH master)"] = median_of(
                args.runs, lambda: run_command("true", sel), before=lambda: close_connections(sel))
            big["ours, warm"] = median_of(args.runs, lambda: run_command("true", sel))
        run_command("true", hosts[: max(sizes)])  # SSH masters open for our workers
        for n in sizes:
            # the hosts have seen the modules once (libraries there), as after an earlier script
            prime = Worker(sys.executable, "ours", spec[:n], caches["ours"], None, playbook)
            prime.run("modules")
            prime.close()
            measure(n, args.runs, tools, hosts, caches, playbook, samples,
                    tuple(args.plays.split(",")))
    report(sizes, args, tools, samples, big, compare)
    return 0


def report(sizes: list[int], args: Any, tools: list[tuple[str, str, str, str | None]],
           samples: dict[tuple[int, str, str, str], list[float]], big: dict[str, float],
           compare: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    def cell(n: int, label: str, play: str, step: str) -> float | None:
        got = samples.get((n, label, play, step))
        return statistics.median(got) if got else None

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:.1f}x" if a and b else "-"

    console = Console(width=160)
    labels = [t[0] for t in tools]
    t1 = Table(title=f"actions with 3 Ansible modules (ping, stat, lineinfile): median of "
                     f"{args.runs} interleaved rounds, seconds")
    t1.add_column("hosts, call")
    for label in labels:
        t1.add_column({"ours": "ours (module fast path)"}.get(label, label), justify="right")
    t1.add_column("EnOSlib / ours", justify="right")
    t1.add_column("ours: 3 shell tasks (SSH fast path)", justify="right")
    t1.add_column("modules / shell", justify="right")
    for n in sizes:
        for step, title in (("new hosts", "cold, hosts new to our modules"),
                            ("cold", "cold (1st call in process)"), ("warm", "warm")):
            # the other tools keep nothing on the hosts: their cold figure again
            values = {label: cell(n, label, "modules", "cold" if label != "ours" and
                                  step == "new hosts" else step) for label in labels}
            fast = cell(n, "ours", "shell", "warm") if step == "warm" else None
            t1.add_row(f"{n} hosts, {title}", *(fmt(values[lb]) for lb in labels),
                       ratio(values.get("EnOSlib"), values["ours"]), fmt(fast),
                       ratio(values["ours"], fast))
    console.print(t1)
    def ours_vs_enoslib(title: str, rows: list[tuple[str, str, str]]) -> None:
        """A table of (row title, play, step) cells: ours, EnOSlib, their ratio."""
        table = Table(title=f"{title}, median of {args.runs}, seconds")
        table.add_column("hosts, call")
        for label in ("ours", "EnOSlib", "EnOSlib / ours"):
            table.add_column(label, justify="right")
        for n in sizes:
            for row, play, step in rows:
                a, b = cell(n, "ours", play, step), cell(n, "EnOSlib", play, step)
                if a is None and b is None:
                    continue  # a play left out with --plays
                table.add_row(f"{n} hosts, {row}", fmt(a), fmt(b), ratio(b, a))
        if table.row_count:
            console.print(table)

    ours_vs_enoslib("shell only (ours: SSH fast path), warm",
                    [("3 shell('true') tasks", "shell", "warm"),
                     ("run_command('true')", "command", "warm")])
    ours_vs_enoslib("actions: copy(content=templated), template, command with a loop and a when "
                    "(ours: module fast path through ansible-core's TaskExecutor)",
                    [("1st in process (after modules)", "mixed", "cold"), ("warm", "mixed", "warm")])
    ref = Table(title=f"the mixed play (4 commands per host) against 4 shell('true') tasks on the "
                      f"SSH fast path, ours, warm, median of {args.runs}, seconds")
    for col in ("hosts", "mixed play", "4 shell tasks", "mixed / shell"):
        ref.add_column(col, justify="right")
    for n in sizes:
        a, b = cell(n, "ours", "mixed", "warm"), cell(n, "ours", "shell4", "warm")
        if a is not None or b is not None:
            ref.add_row(str(n), fmt(a), fmt(b), ratio(a, b))
    console.print(ref)
    t3 = Table(title=f"run_ansible(playbook with a role of 3 tasks, extra_vars), median of "
                     f"{args.runs}, seconds: ours = ansible-core's strategy with tasks in "
                     "threads on our agents; classic = ansible_workers='processes' (forked "
                     "workers, ssh plugin)")
    for col in ("hosts, call", "ours", "ours classic", "EnOSlib", "classic / ours",
                "EnOSlib / ours"):
        t3.add_column(col, justify="right")
    for n in sizes:
        for row, step in (("1st playbook in process", "cold"), ("warm", "warm")):
            a, c, b = (cell(n, lb, "playbook", step) for lb in ("ours", "ours/ansible-core",
                                                                   "EnOSlib"))
            if a is not None:
                t3.add_row(f"{n} hosts, {row}", fmt(a), fmt(c), fmt(b), ratio(c, a), ratio(b, a))
    console.print(t3)
    if not compare:
        print(f"(no EnOSlib column: {args.compare_python} cannot import enoslib)")
    if big:
        t4 = Table(title=f"run_command('true') on {args.big} hosts, median of {args.runs}")
        t4.add_column("what")
        t4.add_column("seconds", justify="right")
        for k, v in big.items():
            t4.add_row(k, f"{v:.3f}")
        console.print(t4)
    print("SSH masters open for every tool; cold = process start-up, Ansible start-up and our "
          "agents (module libraries already on the hosts). Mitogen: not measured.")


if __name__ == "__main__":
    raise SystemExit(main())
