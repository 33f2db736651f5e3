"""Grid'5000 basics: two groups of nodes, their roles and networks, released at the end.

Run on Grid'5000: ``python examples/g5k_basic.py``
Run on the emulator: ``ENOSLIB_G5K_EMULATOR=1 python examples/g5k_basic.py``
"""

from __future__ import annotations

from g5k_support import EMULATED, node_settings, testbed
from rich.console import Console

from enoslib.infra.enos_g5k import G5k, G5kConf

console = Console()


def main() -> None:
    conf = (
        G5kConf.from_settings(job_name="enoslib-basic", walltime="0:30:00", **node_settings())
        .add_machine(roles=["server"], cluster="paravance", nodes=1)
        .add_machine(roles=["client"], cluster="paravance", nodes=2)
    )
    with testbed(), G5k(conf) as (roles, networks):
        console.print(roles)
        console.print(networks)
        for role, hosts in roles.items():
            console.print(f"{role}: {', '.join(h.address for h in hosts)}")
        if not EMULATED:
            from enoslib.api.commands import run_command

            for result in run_command("uname -a", roles=roles):
                console.print(f"{result.host}: {result.stdout}")
    console.print("released")


if __name__ == "__main__":
    main()
