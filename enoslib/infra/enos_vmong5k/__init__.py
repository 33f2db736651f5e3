"""Virtual machines on Grid'5000 nodes: ``VMonG5k`` / ``VMonG5kConf``, ``start_virtualmachines``
on nodes you reserved yourself, ``mac_range`` to pick the VMs' MACs out of a subnet."""

from enoslib.infra.enos_vmong5k.configuration import Configuration, MachineConfiguration, VMonG5kConf
from enoslib.infra.enos_vmong5k.provider import VirtualMachine, VMonG5k, mac_range, start_virtualmachines

__all__ = ["Configuration", "MachineConfiguration", "VMonG5k", "VMonG5kConf", "VirtualMachine", "mac_range",
           "start_virtualmachines"]
