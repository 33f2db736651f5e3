"""Grid'5000 basics: two groups of nodes, their roles and networks, released at the end.

Written in EnOSlib's documented spelling: module-path imports, ``Configuration`` and
``NetworkConfiguration`` objects, ``add_network_conf`` then ``add_machine``.

Run on Grid'5000: ``python examples/g5k_basic.py``
Run on the emulator: ``ENOSLIB_G5K_EMULATOR=1 python examples/g5k_basic.py``
"""

from __future__ import annotations

from g5k_support import EMULATED, node_settings, testbed
from rich.console import Console

from enoslib.infra.enos_g5k.configuration import Configuration, NetworkConfiguration
from enoslib.infra.enos_g5k.provider import G5k

console = Console()


def main() -> None:
    prod = NetworkConfiguration(id="n1", type="prod", roles=["my_network"], site="rennes")
    conf = (
        Configuration.from_settings(job_name="enoslib-basic", walltime="0:30:00", **node_settings())
        .add_network_conf(prod)
        .add_machine(roles=["server"], cluster="paravance", nodes=1, primary_network=prod)
        .add_machine(roles=["client"], cluster="paravance", nodes=2, primary_network=prod)
        .finalize()
    )
    with testbed(), G5k(conf) as (roles, networks):
        console.print(roles)
        console.print(networks)
        console.print(f"my_network: {[n.cidr for n in networks['my_network']]}")
        for role, hosts in roles.items():
            console.print(f"{role}: {', '.join(h.address for h in hosts)}")
        if not EMULATED:
            from enoslib.api.commands import run_command

            for result in run_command("uname -a", roles=roles):
                console.print(f"{result.host}: {result.stdout}")
    console.print("released")


if __name__ == "__main__":
    main()
