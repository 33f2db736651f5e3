"""Pure data: hosts, networks, roles. No I/O here."""

from enoslib.objects.host import Host
from enoslib.objects.network import DefaultNetwork, IPAddress, NetDevice, Network
from enoslib.objects.roles import HostsView, Networks, NetworksView, ResourceSet, Roles

__all__ = [
    "DefaultNetwork",
    "Host",
    "HostsView",
    "IPAddress",
    "NetDevice",
    "Network",
    "Networks",
    "NetworksView",
    "ResourceSet",
    "Roles",
]
