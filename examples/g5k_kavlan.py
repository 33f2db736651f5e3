"""KaVLAN: deploy nodes into a routed vlan, and put their second NIC into a local vlan.

Nodes in a vlan have names of their own (``paravance-1-kavlan-4.rennes.grid5000.fr``), and the
vlan lends free addresses (for VMs, containers ...).

Written in EnOSlib's documented spelling: ``NetworkConfiguration`` and ``ClusterConfiguration``
objects added with ``add_network_conf`` / ``add_machine_conf``.

``ENOSLIB_G5K_EMULATOR=1 python examples/g5k_kavlan.py``
"""

from __future__ import annotations

from g5k_support import node_settings, testbed
from rich.console import Console

from enoslib.infra.enos_g5k.configuration import ClusterConfiguration, Configuration, NetworkConfiguration
from enoslib.infra.enos_g5k.provider import G5k

console = Console()


def main() -> None:
    routed = NetworkConfiguration(id="routed", type="kavlan", roles=["exp"], site="rennes")
    private = NetworkConfiguration(id="private", type="kavlan-local", roles=["private"], site="rennes")
    nodes = ClusterConfiguration(roles=["node"], cluster="paravance", nodes=2, primary_network=routed,
                                 secondary_networks=[private])
    conf = Configuration.from_settings(job_name="enoslib-kavlan", job_type=["deploy"], env_name="debian12-min",
                                       walltime="1:00:00", **node_settings())
    conf.add_network_conf(routed)
    conf.add_network_conf(private)
    conf.add_machine_conf(nodes)
    conf.finalize()
    console.print(f"{conf.machines[0].cluster}: primary {conf.machines[0].primary_network.id}, "
                  f"secondary {[n.id for n in conf.machines[0].secondary_networks]}")
    with testbed(), G5k(conf) as (roles, networks):
        for host in roles["node"]:
            console.print(f"{host.address}: NICs by network {host.extra['g5k_networks']}")
        for net in networks["exp"]:
            console.print(f"exp network {net.cidr} (gateway {net.gateway})")
            if net.has_free_ips:
                console.print("  free addresses start at", next(iter(net.free_ips)))


if __name__ == "__main__":
    main()
