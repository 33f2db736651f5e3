"""Deploy an environment in a routed KaVLAN, second NIC in a local KaVLAN (EnOSlib's
"network emulation with kavlan" tutorial shape); then re-run the same script: reload."""

import logging

import enoslib as en

en.init_logging(level=logging.WARNING)

prod = en.G5kNetworkConf(type="kavlan", roles=["my_network"], site="rennes")
private = en.G5kNetworkConf(type="kavlan-local", roles=["private"], site="rennes")
conf = (
    en.G5kConf.from_settings(job_name="dryrun-kavlan", job_type=["deploy"],
                             env_name="debian12-min", walltime="0:30:00")
    .add_network_conf(prod)
    .add_network_conf(private)
    .add_machine(roles=["node"], cluster="parasilo", nodes=2,
                 primary_network=prod, secondary_networks=[private])
    .finalize()
)
provider = en.G5k(conf)
roles, networks = provider.init()
results = en.run_command("cat /etc/grid5000/release; hostname", roles=roles["node"])
print("RELEASE", sorted(r.stdout.splitlines()[0] for r in results))
print("VLAN", networks["my_network"][0].vlan_id if hasattr(networks["my_network"][0], "vlan_id") else "?")
again = en.G5k(conf)
again.init()                               # reload: same job, environment already there
print("RELOADED", sorted(h.alias for h in again.init()[0]["node"]))
provider.destroy()
