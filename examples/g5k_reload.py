"""Reload: running the same script again reuses the jobs of the same name, never duplicates.

The first run reserves; a second ``init`` (here: a second provider, as a second run of the
script would do) finds the jobs by name and maps the same nodes to the same roles.

``ENOSLIB_G5K_EMULATOR=1 python examples/g5k_reload.py``
"""

from __future__ import annotations

from g5k_support import node_settings, testbed
from rich.console import Console

from enoslib.infra.enos_g5k import G5k, G5kConf

console = Console()


def main() -> None:
    conf = (
        G5kConf.from_settings(job_name="enoslib-reload", walltime="2:00:00", **node_settings())
        .add_machine(roles=["db"], cluster="gros", nodes=2)
    )
    with testbed():
        first = G5k(conf)
        roles, _ = first.init()
        console.print("first run:", first.job_ids, [h.address for h in roles["db"]])
        second = G5k(conf)  # what the next run of this script does
        again, _ = second.init()
        console.print("second run:", second.job_ids, [h.address for h in again["db"]])
        assert second.job_ids == first.job_ids and list(again["db"]) == list(roles["db"])
        second.destroy()
        console.print("released; still reserved:", second.is_created())


if __name__ == "__main__":
    main()
