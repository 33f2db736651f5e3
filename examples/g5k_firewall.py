"""Open Grid'5000's reconfigurable firewall (IPv6) to some nodes for the duration of a block.

``ENOSLIB_G5K_EMULATOR=1 python examples/g5k_firewall.py``
"""

from __future__ import annotations

from g5k_support import node_settings, testbed
from rich.console import Console

from enoslib.infra.enos_g5k import G5k, G5kConf

console = Console()


def main() -> None:
    conf = (
        G5kConf.from_settings(job_name="enoslib-firewall", walltime="1:00:00", **node_settings())
        .add_machine(roles=["web"], cluster="nova", nodes=2)
    )
    with testbed():
        provider = G5k(conf)
        with provider as (roles, _):
            with provider.firewall(hosts=roles["web"][:1], port=[80, 443], proto="tcp"):
                for rule in provider.fw_list():
                    console.print(f"open: {rule['addr']} ports {rule.get('port')} ({rule['proto']})")
            console.print("rules after the block:", provider.fw_list())


if __name__ == "__main__":
    main()
