"""A parameter sweep in execo_engine style, on the local testbed, that survives Ctrl-C.

An ``Engine`` explores 8 combinations (how many hosts, which workload, its size) by running
each workload on local SSH hosts (network namespaces) with ``en.run_command``; one JSON file
per combination lands in the result directory, and a ``ParamSweeper`` there remembers what is
done. Interrupt it (Ctrl-C) and continue with ``-c DIR``: only what is left runs, each
combination is done exactly once. The hosts are released on every exit, Ctrl-C included.

Run (root, for the local testbed)::

    python examples/execo_engine.py                 # creates ./LocalSweep_<date>/
    python examples/execo_engine.py -c LocalSweep_<date>   # continue after Ctrl-C
    python examples/execo_engine.py -C              # same: the most recent run here
"""

from __future__ import annotations

import json
import os
import sys
import time

import enoslib as en
from enoslib.engine import Engine, ParamSweeper, slugify, sweep

PARAMETERS = {
    "hosts": [1, 2],
    "workload": {
        "checksum": {"size_kib": [256, 4096]},  # sha256 of zeros
        "compress": {"level": [1, 9]},          # gzip of 1 MiB of zeros
    },
}


def command(combination: dict) -> str:
    if combination["workload"] == "checksum":
        return f"head -c {int(combination['size_kib']) * 1024} /dev/zero | sha256sum"
    return f"head -c 1048576 /dev/zero | gzip -{int(combination['level'])} | wc -c"


class LocalSweep(Engine):
    def __init__(self) -> None:
        super().__init__()
        self.args_parser.add_argument("--name", default="execo-engine", help="local testbed name")
        self.args_parser.add_argument("--pause", type=float, default=0.0,
                                      help="seconds to wait after each combination (to try Ctrl-C)")

    def run(self) -> None:
        sweeper = ParamSweeper(os.path.join(self.result_dir, "sweeper"), sweep(PARAMETERS), save_sweeps=True)
        sweeper.cancel_orphans()  # combinations of a run killed with SIGKILL come back
        print(sweeper)
        if not sweeper.get_remaining():
            return
        results = os.path.join(self.result_dir, "results")
        os.makedirs(results, exist_ok=True)
        conf = en.LocalConf.from_settings(name=self.args.name).add_machine(roles=["worker"], number=2)
        with en.Local(conf) as (roles, _):
            while (combination := sweeper.get_next()) is not None:
                try:
                    hosts = roles["worker"][: combination["hosts"]]
                    started = time.monotonic()
                    out = en.run_command(command(combination), roles=hosts)
                    record = {"combination": combination, "seconds": round(time.monotonic() - started, 4),
                              "outputs": {r.host: r.stdout.strip() for r in out}}
                    with open(os.path.join(results, slugify(combination) + ".json"), "w") as f:
                        json.dump(record, f, indent=1)
                    sweeper.done(combination)
                    print(f"done {dict(combination)} in {record['seconds']} s")
                    time.sleep(self.args.pause)
                except KeyboardInterrupt:
                    if combination not in sweeper.get_done():
                        sweeper.cancel(combination)  # back to todo for the next run
                    raise
        print(sweeper)
        print(sweeper.pretty_stats())


if __name__ == "__main__":
    engine = LocalSweep()
    try:
        engine.start()
    except KeyboardInterrupt:
        print(f"interrupted; continue with: {sys.argv[0]} -c {engine.result_dir}", file=sys.stderr)
        sys.exit(130)
