"""An Engine run by the tests: a 12-combination sweep, 0.1 s of "work" each, one result file per
combination; Ctrl-C gives the current combination back to the sweeper."""

import json
import os
import time

from enoslib.engine import Engine, ParamSweeper, slugify, sweep


class Continued(Engine):
    def __init__(self):
        super().__init__()
        self.args_parser.add_argument("--work", type=float, default=0.1)

    def run(self):
        sweeper = ParamSweeper(os.path.join(self.result_dir, "sweeps"),
                               sweep({"size": [1, 2, 3], "mode": {"fast": {}, "slow": {"k": [1, 2, 3]}}}))
        sweeper.cancel_orphans()
        os.makedirs(os.path.join(self.result_dir, "results"), exist_ok=True)
        while (combination := sweeper.get_next()) is not None:
            try:
                with open(os.path.join(self.result_dir, "started.log"), "a") as f:
                    f.write(json.dumps(combination, sort_keys=True) + "\n")
                time.sleep(self.args.work)
                path = os.path.join(self.result_dir, "results", slugify(combination) + ".json")
                with open(path, "w") as f:
                    json.dump({"combination": combination, "value": combination["size"] * 2}, f)
                sweeper.done(combination)
            except KeyboardInterrupt:
                sweeper.cancel(combination)
                raise
        print(sweeper)


if __name__ == "__main__":
    Continued().start()
