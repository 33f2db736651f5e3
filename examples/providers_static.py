"""Two sets of machines you already have, as one: merged roles, and each provider's own.

``python examples/providers_static.py`` (nothing is contacted: Static only maps addresses)
"""

from __future__ import annotations

from rich.console import Console

from enoslib.infra.enos_static.configuration import Configuration, MachineConfiguration, NetworkConfiguration
from enoslib.infra.enos_static.provider import Static
from enoslib.infra.providers import Providers

console = Console()


def main() -> None:
    # EnOSlib's documented spelling: objects added one by one, checked by finalize()
    lab = Configuration()
    lab.add_machine_conf(MachineConfiguration(roles=["server"], address="10.0.0.1", user="root"))
    lab.add_machine_conf(MachineConfiguration(roles=["client"], address="10.0.0.2", user="root"))
    lab.add_network_conf(NetworkConfiguration(roles=["lab-net"], cidr="10.0.0.0/24", gateway="10.0.0.254",
                                              dns="10.0.0.254", start="10.0.0.100", end="10.0.0.199"))
    lab.finalize()
    # the same with keyword builders
    cloud = Configuration.from_settings().add_machine(roles=["client"], address="192.168.1.10", user="debian")
    providers = Providers([Static(lab, name="lab"), Static(cloud, name="cloud")])
    with providers as (roles, networks):
        console.print(f"common start: {providers.start_time:.0f} (Static providers are always available)")
        for role, hosts in roles.items():
            console.print(f"  {role}: {[h.address for h in hosts]}")
        console.print("only the lab's clients:", [h.address for h in providers.roles_by_provider["lab"]["client"]])
        console.print("networks:", {role: [n.cidr for n in nets] for role, nets in networks.items()})
        console.print("free addresses of lab-net from", next(iter(networks["lab-net"][0].free_ips)))


if __name__ == "__main__":
    main()
