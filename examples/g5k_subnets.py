"""Subnets: reserve a /22 whose addresses (and the MACs that get them over DHCP) are yours.

``ENOSLIB_G5K_EMULATOR=1 python examples/g5k_subnets.py``
"""

from __future__ import annotations

import itertools

from g5k_support import node_settings, testbed
from rich.console import Console

from enoslib.infra.enos_g5k import G5k, G5kConf

console = Console()


def main() -> None:
    conf = (
        G5kConf.from_settings(job_name="enoslib-subnets", walltime="1:00:00", **node_settings())
        .add_network(id="vms", type="slash_22", roles=["vms"], site="nancy")
        .add_machine(roles=["hypervisor"], cluster="grisou", nodes=1)
    )
    with testbed(), G5k(conf) as (_, networks):
        (subnet,) = networks["vms"]
        console.print(f"subnet {subnet.cidr}, gateway {subnet.gateway}, dns {subnet.dns}")
        for ip, mac in itertools.islice(zip(subnet.free_ips, subnet.free_macs), 4):
            console.print(f"  VM address {ip}  <- MAC {mac}")


if __name__ == "__main__":
    main()
