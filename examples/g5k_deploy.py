"""Deploy an environment, tolerating a node that will not deploy.

Only undeployed nodes are redeployed (up to ``deploy_tries`` rounds); ``min`` says how many
nodes are enough; ``check_enough`` can stop earlier. On the emulator one node is made to fail.

``ENOSLIB_G5K_EMULATOR=1 python examples/g5k_deploy.py``
"""

from __future__ import annotations

from g5k_support import EMULATED, node_settings, testbed
from rich.console import Console

from enoslib.infra.enos_g5k import G5k, G5kConf

console = Console()


def main() -> None:
    conf = (
        G5kConf.from_settings(job_name="enoslib-deploy", job_type=["deploy"], env_name="debian12-min",
                              deploy_tries=2, walltime="1:00:00", **node_settings())
        .add_machine(roles=["workers"], cluster="parasilo", nodes=4, min=3)
    )
    with testbed() as emu:
        if EMULATED:
            emu.faults.update(deploy_fail_nodes=["parasilo-2.rennes.grid5000.fr"])
        provider = G5k(conf, check_enough=lambda deployed, undeployed: len(deployed) >= 3)
        with provider as (roles, _):
            console.print("deployed:", [h.address for h in roles["workers"]])
            console.print("left out:", [h.fqdn for h in provider.undeployed])


if __name__ == "__main__":
    main()
