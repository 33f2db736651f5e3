"""Two Grid'5000 sites and a machine of yours, started together at the earliest time they are
all free (exact: no 5-minute step), released together.

Run on Grid'5000: ``python examples/providers_g5k.py``
Run on the emulator: ``ENOSLIB_G5K_EMULATOR=1 python examples/providers_g5k.py``
"""

from __future__ import annotations

from g5k_support import node_settings, testbed
from rich.console import Console

from enoslib.infra.enos_g5k import G5k, G5kConf
from enoslib.infra.providers import Providers
from enoslib.infra.slots import format_time
from enoslib.infra.enos_static import Static, StaticConf

console = Console()


def main() -> None:
    servers = (G5kConf.from_settings(job_name="enoslib-providers-rennes", walltime="1:00:00", **node_settings())
               .add_machine(roles=["server"], cluster="paravance", nodes=1))
    clients = (G5kConf.from_settings(job_name="enoslib-providers-nancy", walltime="0:30:00", **node_settings())
               .add_machine(roles=["client"], cluster="grisou", nodes=2))
    mine = StaticConf.from_settings().add_machine(roles=["monitor"], address="127.0.0.1")
    with testbed():
        providers = Providers([G5k(servers, name="rennes"), G5k(clients, name="nancy"), Static(mine, name="me")])
        plan = providers.plan(time_window=4 * 3600)  # search only: nothing is reserved
        console.print(plan.gantt(width=110))
        with providers as (roles, _):
            console.print(f"started together at {format_time(providers.start_time)}")
            for name, own in providers.roles_by_provider.items():
                console.print(f"  {name}: {[h.address for h in own.all()]}")
            console.print("all clients:", [h.address for h in roles["client"]])
    console.print("released")


if __name__ == "__main__":
    main()
