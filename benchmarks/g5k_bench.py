"""Grid'5000 provider cost: HTTP requests and wall time of a 3-site init, against the emulator.

Run::

    .venv/bin/python benchmarks/g5k_bench.py [--runs 3] [--compare-python /tmp/cmp-venv/bin/python]

One emulator (this process, stepped clock, address-only nodes) serves every client; each
client runs in its own subprocess. Scenarios, for the same configuration (3 sites: 2 nodes of
paravance, 2 of grisou, 1 of nova, no deploy):

* ``first init``: submit the 3 jobs, wait for them, map nodes and networks (cold reference
  cache for enoslib);
* ``first init, next script``: the same (a new job) from a new process; ours finds its
  on-disk reference cache warm; EnOSlib keeps no such cache, its figure is measured too;
* ``re-run init``: a second run of the script: jobs found by name and reloaded (warm cache);
* ``destroy``.

Waiting is virtual for every client: their sleeps advance the emulator's clock (over its
admin endpoint) instead of sleeping, so wall time measures the client and the API round
trips, and "waited" reports the virtual time spent sleeping between polls. The wall time of
the admin calls that advance the clock is subtracted from "wall" (it is the benchmark's own
overhead, not the client's). HTTP requests are
counted at the ``requests`` adapter (retries included; admin calls excluded). The EnOSlib
column appears when ``--compare-python`` imports EnOSlib (10.x); its on-node step (granting
root over SSH) is skipped, as ``root_access=False`` skips ours.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MACHINES = [("server", "paravance", 2), ("worker", "grisou", 2), ("client", "nova", 1)]

# Shared by both client scripts: count HTTP requests, make sleeps virtual.
PRELUDE = textwrap.dedent('''
    import base64, collections, json, sys, time, urllib.request
    import requests.adapters
    ARGS = json.loads(sys.argv[1])
    COUNT = collections.Counter()
    _send = requests.adapters.HTTPAdapter.send
    def _counting_send(self, request, *a, **kw):
        COUNT[request.method] += 1
        return _send(self, request, *a, **kw)
    requests.adapters.HTTPAdapter.send = _counting_send
    _auth = "Basic " + base64.b64encode(f"{ARGS['admin_user']}:{ARGS['admin_password']}".encode()).decode()
    def _admin(method, body=None):
        req = urllib.request.Request(ARGS["admin"] + "/clock", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": _auth, "Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read())
    WAITED = [0.0]
    CLOCK = [0.0]  # wall time spent advancing the emulator's clock (benchmark overhead)
    _T0 = _admin("GET")["now"]
    def vsleep(seconds):
        WAITED[0] += seconds
        if seconds > 0:
            t = time.perf_counter()
            _admin("POST", {"advance": seconds})
            CLOCK[0] += time.perf_counter() - t
    def vnow():
        return _T0 + WAITED[0]
    def measure(step, fn):
        COUNT.clear(); WAITED[0] = 0.0; CLOCK[0] = 0.0
        t = time.perf_counter(); fn(); wall = time.perf_counter() - t
        RESULTS[step] = {"wall": wall - CLOCK[0], "requests": sum(COUNT.values()), "by_method": dict(COUNT),
                         "waited": WAITED[0]}
    RESULTS = {}
''')

OURS = PRELUDE + textwrap.dedent('''
    import logging
    from enoslib.config import set_config
    set_config(cache_dir=ARGS["cache"], display="noop")
    from enoslib.infra.enos_g5k import G5k, G5kConf
    from enoslib.infra.enos_g5k.client import G5kClient
    def conf():
        c = G5kConf.from_settings(job_name=ARGS["name"], walltime="1:00:00", root_access=False)
        for role, cluster, n in ARGS["machines"]:
            c.add_machine(roles=[role], cluster=cluster, nodes=n)
        return c
    def provider():
        client = G5kClient(ARGS["uri"], ARGS["user"], ARGS["password"], sleep=vsleep, now=vnow)
        return G5k(conf(), client=client)
    first, second = provider(), provider()
    measure(ARGS["first"], first.init)
    if ARGS["full"]:
        measure("re-run init", second.init)
        assert second.job_ids == first.job_ids, (first.job_ids, second.job_ids)
    measure("destroy", second.destroy)
    print(json.dumps(RESULTS))
''')

ENOSLIB = PRELUDE + textwrap.dedent('''
    import logging, os
    logging.disable(logging.WARNING)
    time.sleep = vsleep          # EnOSlib polls with time.sleep: make those waits virtual
    import enoslib as en
    from enoslib.infra.enos_g5k.provider import G5kBase
    G5kBase.grant_root_access = lambda self: None   # an SSH step: skipped, like root_access=False
    def conf():
        c = en.G5kConf.from_settings(job_name=ARGS["name"], walltime="1:00:00", job_type=[])
        for role, cluster, n in ARGS["machines"]:
            c.add_machine(roles=[role], cluster=cluster, nodes=n)
        return c
    first, second = en.G5k(conf()), en.G5k(conf())
    measure(ARGS["first"], first.init)
    if ARGS["full"]:
        measure("re-run init", second.init)
    measure("destroy", second.destroy)
    print(json.dumps(RESULTS))
''')


def run_client(python: str, script: str, args: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as cwd:
        proc = subprocess.run([python, "-c", script, json.dumps(args)], capture_output=True, text=True,
                              cwd=cwd, env=env, timeout=600, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{python} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def can_import_enoslib(python: str) -> bool:
    if not python or not Path(python).exists():
        return False
    with tempfile.TemporaryDirectory() as cwd:
        probe = subprocess.run([python, "-c", "import enoslib.infra.enos_g5k.provider, grid5000"],
                               capture_output=True, cwd=cwd, check=False)
    return probe.returncode == 0


def one_round(compare: str | None) -> dict[str, dict[str, Any]]:
    from enoslib.emulators.g5k import G5kEmulator

    results: dict[str, dict[str, Any]] = {}
    with G5kEmulator(speed=0, backend="address", nodes_per_cluster=8) as emu, \
            tempfile.TemporaryDirectory() as home:
        args = {"uri": emu.uri, "user": emu.username, "password": emu.password, "admin": emu.admin_url,
                "admin_user": emu.admin_username, "admin_password": emu.admin_password,
                "machines": MACHINES, "cache": str(Path(home) / "cache")}
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": home}
        ours = run_client(sys.executable, OURS, {**args, "name": "bench", "first": "first init", "full": True}, env)
        # the next experiment script: a new process, the reference cache on disk is warm
        again = run_client(sys.executable, OURS, {**args, "name": "bench2", "first": "first init", "full": False},
                           env)
        results["enoslib (ours)"] = {"first init": ours["first init"],
                                     "first init, next script (disk cache)": again["first init"],
                                     "re-run init": ours["re-run init"], "destroy": ours["destroy"]}
        if compare:
            # EnOSlib reads ~/.python-grid5000.yaml: point it at the emulator (checked below)
            emu.write_client_config(Path(home) / ".python-grid5000.yaml")
            env_cmp = {k: v for k, v in env.items() if k != "PYTHONPATH"}
            theirs = run_client(compare, ENOSLIB, {**args, "name": "bench-enoslib", "first": "first init",
                                                   "full": True}, env_cmp)
            # measured, not copied: a new process, a new job (EnOSlib keeps no reference cache)
            again = run_client(compare, ENOSLIB, {**args, "name": "bench-enoslib2", "first": "first init",
                                                  "full": False}, env_cmp)
            results["EnOSlib 10.9"] = {"first init": theirs["first init"],
                                       "first init, next script (disk cache)": again["first init"],
                                       "re-run init": theirs["re-run init"], "destroy": theirs["destroy"]}
        leftover = [j.uid for j in emu.jobs() if j.state in ("waiting", "launching", "running")]
        if leftover:
            raise RuntimeError(f"jobs left running: {leftover}")
    return results


RUN_ALL_ARGS = ["--runs", "3", "--compare-python", "{compare_python}"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--compare-python", default=next(
        (p for p in ("/work/main/.venv-enoslib/bin/python", "/tmp/cmp-venv/bin/python") if Path(p).exists()), ""))
    parser.add_argument("--json", action="store_true", help="print raw results as JSON")
    opts = parser.parse_args(argv)
    compare = opts.compare_python if can_import_enoslib(opts.compare_python) else None
    rounds = [one_round(compare) for _ in range(opts.runs)]
    tools = list(rounds[0])
    steps = list(rounds[0][tools[0]])
    summary = {tool: {step: {
        "wall": statistics.median(r[tool][step]["wall"] for r in rounds),
        "requests": statistics.median(r[tool][step]["requests"] for r in rounds),
        "waited": statistics.median(r[tool][step]["waited"] for r in rounds),
        "by_method": rounds[-1][tool][step]["by_method"]} for step in rounds[0][tool]} for tool in tools}
    if opts.json:
        print(json.dumps(summary, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"3-site init against the emulator (median of {opts.runs} runs)")
    table.add_column("step")
    for tool in tools:
        table.add_column(f"{tool}\nrequests", justify="right")
        table.add_column(f"{tool}\nwall (excl. clock)", justify="right")
        table.add_column(f"{tool}\nwaited (virtual)", justify="right")
    for step in steps:
        row = [step]
        for tool in tools:
            s = summary[tool][step]
            methods = " ".join(f"{m}:{n}" for m, n in sorted(s["by_method"].items()))
            row += [f"{s['requests']:.0f} ({methods})", f"{s['wall']:.2f} s", f"{s['waited']:.0f} s"]
        table.add_row(*row)
    Console(width=200).print(table)
    if not compare:
        print(f"(no EnOSlib column: {opts.compare_python} cannot import enoslib.infra.enos_g5k)")


if __name__ == "__main__":
    main()
