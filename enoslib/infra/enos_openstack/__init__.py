"""OpenStack provider (openstacksdk, ``pip install 'enoslib[openstack]'``)."""

from enoslib.infra.enos_openstack.configuration import MachineConfiguration, OpenstackConf
from enoslib.infra.enos_openstack.provider import Openstack

__all__ = ["MachineConfiguration", "Openstack", "OpenstackConf"]
