"""Global KaVLAN + a /22 subnet + a firewall opening (EnOSlib tutorial shapes): nodes of
the job in the site's global vlan, IPs for VMs from the subnet, port 80 opened while working."""

import logging

import enoslib as en

en.init_logging(level=logging.WARNING)

glob = en.G5kNetworkConf(type="kavlan-global", roles=["global"], site="rennes")
subnet = en.G5kNetworkConf(type="slash_22", roles=["vms"], site="rennes")
conf = (
    en.G5kConf.from_settings(job_name="dryrun-global", job_type=["deploy"],
                             env_name="debian12-min", walltime="0:30:00")
    .add_network_conf(glob)
    .add_network_conf(subnet)
    .add_machine(roles=["node"], cluster="parasilo", nodes=1, primary_network=glob)
    .finalize()
)
provider = en.G5k(conf)
roles, networks = provider.init()
result = en.run_command("hostname; ip -4 -o addr show", roles=roles["node"])[0]
print("ADDR", result.stdout.splitlines()[0], "10.27." in result.stdout)
vms = networks["vms"][0]
print("SUBNET", str(vms.network), len(list(vms.free_ips)) > 0 if hasattr(vms, "free_ips") else True)
with provider.firewall(hosts=roles["node"], port=80):
    print("OPENED", len(provider.driver.get_jobs()[0].firewall.list()) if hasattr(provider, "driver") else "?")
provider.destroy()
