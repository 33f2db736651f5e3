"""Nodes on three sites: one OAR job per site, submitted in parallel, waited for together.

``ENOSLIB_G5K_EMULATOR=1 python examples/g5k_multisite.py``
"""

from __future__ import annotations

from g5k_support import node_settings, testbed
from rich.console import Console

from enoslib.infra.enos_g5k import G5k, G5kConf

console = Console()


def main() -> None:
    conf = (
        G5kConf.from_settings(job_name="enoslib-multisite", walltime="1:00:00", **node_settings())
        .add_machine(roles=["rennes"], cluster="paravance", nodes=2)
        .add_machine(roles=["nancy"], cluster="grisou", nodes=2)
        .add_machine(roles=["lyon"], cluster="nova", nodes=1)
    )
    with testbed():
        provider = G5k(conf)
        with provider as (roles, networks):
            console.print("jobs:", ", ".join(f"{site}:{uid}" for site, uid in provider.job_ids))
            for role, hosts in roles.items():
                console.print(f"  {role}: {[h.address for h in hosts]}")
            console.print("production networks:", sorted({n.cidr for n in networks["prod"] if n.version == 4}))


if __name__ == "__main__":
    main()
