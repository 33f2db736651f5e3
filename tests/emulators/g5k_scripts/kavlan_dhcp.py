"""Second NIC in a routed KaVLAN, its address obtained by DHCP (Grid'5000's "multiple NICs"
shape): the library puts eno2 in the vlan and runs dhclient; the experiment then renews the
lease itself (``dhclient -r; dhclient``) and checks the address is the vlan's."""

import ipaddress
import logging

import enoslib as en

en.init_logging(level=logging.WARNING)

prod = en.G5kNetworkConf(type="prod", roles=["admin"], site="rennes")
exp = en.G5kNetworkConf(type="kavlan", roles=["exp"], site="rennes")
conf = (
    en.G5kConf.from_settings(job_name="dryrun-dhcp", job_type=["deploy"],
                             env_name="debian12-min", walltime="0:20:00")
    .add_network_conf(prod)
    .add_network_conf(exp)
    .add_machine(roles=["node"], cluster="parasilo", nodes=2,
                 primary_network=prod, secondary_networks=[exp])
    .finalize()
)
provider = en.G5k(conf)
roles, networks = provider.init()
cidr = ipaddress.ip_network(str(networks["exp"][0].network))
show = "ip -4 -o addr show dev eno2 | awk '{print $4}'"
first = en.run_command(show, roles=roles["node"])
renewed = en.run_command(f"dhclient -r eno2; dhclient eno2; {show}", roles=roles["node"])
for before, after in zip(sorted(first, key=lambda r: r.host), sorted(renewed, key=lambda r: r.host)):
    address = ipaddress.ip_interface(after.stdout.strip().splitlines()[-1])
    print("DHCP", before.host, before.stdout.strip(), address, address.ip in cidr)
provider.destroy()
