"""A worker process sharing a ParamSweeper directory (run by the tests as a script).

usage: sweeper_worker.py DIR LOG MODE
  MODE "drain": take combinations until none is left, log each (one JSON line), mark it done;
  MODE "slow":  same, 20 ms of "work" per combination;
  MODE "hang":  take one combination, log it, then sleep until killed.
"""

import json
import sys
import time

from enoslib.engine import ParamSweeper, sweep

SWEEPS = sweep({"a": list(range(10)), "b": ["x", "y", "z"], "c": {"on": {"d": [1, 2]}, "off": {}}})


def main(directory: str, log: str, mode: str) -> None:
    sweeper = ParamSweeper(directory, SWEEPS)
    with open(log, "a", buffering=1) as out:
        while True:
            combination = sweeper.get_next()
            if combination is None:
                return
            out.write(json.dumps(combination, sort_keys=True) + "\n")
            if mode == "hang":
                while True:
                    time.sleep(60)
            if mode == "slow":
                time.sleep(0.02)
            sweeper.done(combination)


if __name__ == "__main__":
    main(*sys.argv[1:])
