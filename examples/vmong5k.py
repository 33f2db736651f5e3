"""Virtual machines on a node of your own Grid'5000 job: the VMonG5k example of the EnOSlib
documentation, unchanged (the Grid'5000 client comes from ``~/.python-grid5000.yaml``, or the
file ``G5K_API_CONF`` names).

On the emulator (root: its nodes and VMs are real SSH hosts; the API user is ``root``, whose
SSH identity the emulator's ssh_config gives)::

    enos emulate g5k --sites rennes --nodes-per-cluster 2 --backend netns --speed 20 \\
        --user root:choose-a-password --config /tmp/g5k.yaml --ssh-config /tmp/g5k-ssh &
    # ~/.ssh/config starts with: Include /tmp/g5k-ssh
    G5K_API_CONF=/tmp/g5k.yaml python examples/vmong5k.py
"""
import logging
from itertools import islice
from pathlib import Path

import enoslib as en

en.init_logging(level=logging.INFO)
en.check()

job_name = Path(__file__).name

CLUSTER = "parasilo"
SITE = "rennes"


conf = (
    en.G5kConf.from_settings(job_type=[], job_name=job_name)
    .add_network(
        id="not_linked_to_any_machine", type="slash_22", roles=["my_subnet"], site=SITE
    )
    .add_machine(roles=["role1"], cluster=CLUSTER, nodes=1)
    .add_machine(roles=["role2"], cluster=CLUSTER, nodes=1)
)

provider = en.G5k(conf)
roles, networks = provider.init()
roles = en.sync_info(roles, networks)

# Retrieving subnets
subnet = networks["my_subnet"]
logging.info(subnet)

# We describe the VMs types and placement in the following
# We build a VMonG5KConf with some extra fields:
# - undercloud: where the VMs should be placed (round-robin)
# - macs: list of macs to take: on G5k the dhcp is configured to assign specific
# ip based on the configured mac

n_vms = 16
virt_conf = (
    en.VMonG5kConf.from_settings(image="/grid5000/virt-images/debian11-x64-base.qcow2")
    # Starts some vms on a single role
    # Here that means start the VMs on a single machine
    .add_machine(
        roles=["vms"],
        number=n_vms,
        undercloud=roles["role1"],
        macs=list(islice(subnet[0].free_macs, n_vms))
        # alternative
        # macs=list(islice(en.mac_range(subnet), n_vms))
    )
)

# Start them
vmroles = en.start_virtualmachines(virt_conf)
print(vmroles)
print(networks)
