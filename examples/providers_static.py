"""Two sets of machines you already have, as one: merged roles, and each provider's own.

``python examples/providers_static.py`` (nothing is contacted: Static only maps addresses)
"""

from __future__ import annotations

from rich.console import Console

from enoslib.infra.providers import Providers
from enoslib.infra.enos_static import Static, StaticConf

console = Console()


def main() -> None:
    lab = (StaticConf.from_settings()
           .add_machine(roles=["server"], address="10.0.0.1", user="root")
           .add_machine(roles=["client"], address="10.0.0.2", user="root")
           .add_network(roles=["lab-net"], cidr="10.0.0.0/24", gateway="10.0.0.254"))
    cloud = (StaticConf.from_settings()
             .add_machine(roles=["client"], address="192.168.1.10", user="debian"))
    providers = Providers([Static(lab, name="lab"), Static(cloud, name="cloud")])
    with providers as (roles, networks):
        console.print(f"common start: {providers.start_time:.0f} (Static providers are always available)")
        for role, hosts in roles.items():
            console.print(f"  {role}: {[h.address for h in hosts]}")
        console.print("only the lab's clients:", [h.address for h in providers.roles_by_provider["lab"]["client"]])
        console.print("networks:", {role: [n.cidr for n in nets] for role, nets in networks.items()})


if __name__ == "__main__":
    main()
