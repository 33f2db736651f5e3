"""Grid'5000 hosts and networks: pure data built from the reference API, no I/O.

A node has one name per network it sits in: ``paravance-1.rennes.grid5000.fr`` in the
production network, ``paravance-1-kavlan-4.rennes.grid5000.fr`` once its primary NIC is in
vlan 4, ``paravance-1-eth1-kavlan-4.rennes.grid5000.fr`` for its second NIC in that vlan,
``paravance-1-ipv6.rennes.grid5000.fr`` for its IPv6 address. Networks translate names both
ways; hosts know their NICs and which network each NIC is in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import netaddr

from enoslib.objects import DefaultNetwork, Host, Network

DOMAIN = "grid5000.fr"
SUBNET_MAC_PREFIX = "00:16:3e"
_NAME = re.compile(r"^(?P<node>[a-z][a-z0-9]*-[0-9]+)(?P<suffix>(-[a-z0-9]+)*?)\.(?P<site>[a-z][a-z0-9-]*)\.grid5000\.fr$")


def fqdn(short: str, site: str) -> str:
    return f"{short}.{site}.{DOMAIN}"


def canonical_name(name: str) -> str:
    """``paravance-1-eth1-kavlan-4.rennes.grid5000.fr`` -> ``paravance-1.rennes.grid5000.fr``."""
    m = _NAME.match(name)
    if not m:
        raise ValueError(f"{name!r} is not a Grid'5000 node FQDN")
    return fqdn(m["node"], m["site"])


def nic_name(node_fqdn: str, device: str | None = None, vlan_id: str | None = None, ipv6: bool = False) -> str:
    """The DNS name of a node's NIC: ``device`` (None for the primary NIC) in ``vlan_id`` (None:
    production network), IPv6 flavour when ``ipv6``."""
    short, rest = node_fqdn.split(".", 1)
    parts = [short]
    if device:
        parts.append(device)
    if vlan_id and vlan_id.upper() != "DEFAULT":
        parts.append(f"kavlan-{vlan_id}")
    if ipv6:
        parts.append("ipv6")
    return f"{'-'.join(parts)}.{rest}"


class G5kNetwork:
    """A network reserved (or implied) on Grid'5000, as the configuration named it."""

    kind = "g5k"

    def __init__(self, id: str, roles: Sequence[str], site: str) -> None:
        self.id = id
        self.roles = list(roles)
        self.site = site

    @property
    def vlan_id(self) -> str | None:
        return None

    def translate(self, node: str, device: str | None = None) -> str:
        """The name of ``node``'s NIC ``device`` (None: primary) in this network."""
        return node

    def to_enos(self) -> list[Network]:
        """The generic networks (IPv4, and IPv6 when known) users see in ``Networks``."""
        return []

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.kind, "roles": self.roles, "site": self.site}

    def __repr__(self) -> str:
        extra = f", vlan_id={self.vlan_id!r}" if self.vlan_id else ""
        return f"{type(self).__name__}(id={self.id!r}, site={self.site!r}{extra})"


def _ipv6(ipv6: Mapping[str, Any] | None, vlan_id: str | None) -> str | None:
    """Grid'5000 IPv6 /64 of a site's network: the site's /56 (``ipv6.prefix``, else
    2001:660:4406:<site_index>00::/56) with the vlan byte: 0 for the production network,
    0x80 + (id - 1) for kavlan ``id``."""
    if not ipv6:
        return None
    vlan_byte = 0 if vlan_id in (None, "DEFAULT") else 0x80 + int(vlan_id) - 1
    if ipv6.get("prefix"):
        base = netaddr.IPNetwork(ipv6["prefix"]).first
    elif ipv6.get("site_index") is not None:
        base = int(netaddr.IPAddress(f"2001:660:4406:{int(ipv6['site_index']):02x}00::"))
    else:
        return None
    return str(netaddr.IPNetwork(f"{netaddr.IPAddress(base + (vlan_byte << 64), 6)}/64").cidr)


class G5kVlanNetwork(G5kNetwork):
    """A KaVLAN (local, routed or global): nodes get ``-kavlan-<id>`` names in it."""

    kind = "kavlan"

    def __init__(self, id: str, roles: Sequence[str], site: str, vlan_id: str, *,
                 vlan_type: str = "kavlan", cidr: str | None = None, gateway: str | None = None,
                 dns: str | None = None, ipv6: Mapping[str, Any] | None = None) -> None:
        super().__init__(id, roles, site)
        self._vlan_id = str(vlan_id)
        self.kind = vlan_type
        self.cidr = cidr
        self.gateway = gateway
        self.dns = dns
        self.cidr6 = _ipv6(ipv6, self._vlan_id)

    @property
    def vlan_id(self) -> str:
        return self._vlan_id

    def translate(self, node: str, device: str | None = None) -> str:
        return nic_name(canonical_name(node), device, self.vlan_id)

    def translate6(self, node: str, device: str | None = None) -> str:
        return nic_name(canonical_name(node), device, self.vlan_id, ipv6=True)

    def free_range(self) -> tuple[str, str] | None:
        """Addresses of the vlan nodes never get (for VMs, containers ...), as (first, last).

        Nodes take the low addresses: a local vlan keeps /24 blocks 4 to 6 free, a routed or
        global one /23 blocks 13 to 30 (the upper part, away from the gateway at the end).
        """
        if not self.cidr:
            return None
        net = netaddr.IPNetwork(self.cidr)
        block, first, last = (24, 4, 6) if self.kind == "kavlan-local" else (23, 13, 30)
        if net.prefixlen <= block and (1 << (block - net.prefixlen)) > last:
            blocks = list(net.subnet(block))
            return str(blocks[first].network), str(blocks[last].broadcast)
        # small networks: the upper half, without the broadcast and the gateway
        half = list(net.subnet(net.prefixlen + 1))[1]
        return str(half.network), str(half[-3])

    def to_enos(self) -> list[Network]:
        out: list[Network] = []
        if self.cidr:
            free = self.free_range()
            out.append(G5kEnosNetwork(self.cidr, self.gateway, self.dns,
                                      ip_start=free[0] if free else None, ip_end=free[1] if free else None,
                                      name=self.id, vlan_id=self.vlan_id, site=self.site, g5k_type=self.kind))
        if self.cidr6:
            out.append(G5kEnosNetwork(self.cidr6, None, self.dns, name=self.id, vlan_id=self.vlan_id,
                                      site=self.site, g5k_type=self.kind))
        return out


class G5kProdNetwork(G5kVlanNetwork):
    """The production network of a site (vlan ``DEFAULT``): node names are unchanged."""

    kind = "prod"

    def __init__(self, id: str, roles: Sequence[str], site: str, *, cidr: str | None = None,
                 gateway: str | None = None, dns: str | None = None, ipv6: Mapping[str, Any] | None = None) -> None:
        super().__init__(id, roles, site, "DEFAULT", vlan_type="prod", cidr=cidr, gateway=gateway, dns=dns,
                         ipv6=ipv6)

    def translate(self, node: str, device: str | None = None) -> str:
        return nic_name(canonical_name(node), device)

    def free_range(self) -> None:
        return None  # the production network lends no addresses


class G5kSubnetNetwork(G5kNetwork):
    """Subnets (one /22, or 64 /22 for a /16) whose addresses, and the MACs that get them from
    Grid'5000's DHCP (``00:16:3e`` + the address's last three bytes), are the user's."""

    kind = "slash_22"

    def __init__(self, id: str, roles: Sequence[str], site: str, subnets: Iterable[str], *,
                 kind: str = "slash_22", gateway: str | None = None, dns: str | None = None) -> None:
        super().__init__(id, roles, site)
        self.kind = kind
        self.subnets = sorted((str(netaddr.IPNetwork(s).cidr) for s in subnets), key=netaddr.IPNetwork)
        self.gateway = gateway
        self.dns = dns

    @property
    def free_ips(self) -> Iterable[str]:
        for net in self.to_enos():
            yield from net.free_ips

    @property
    def free_macs(self) -> Iterable[str]:
        for net in self.to_enos():
            yield from net.free_macs

    def ip_mac_pairs(self) -> Iterable[tuple[str, str]]:
        for subnet in self.subnets:
            for ip in netaddr.IPNetwork(subnet).iter_hosts():
                yield str(ip), subnet_mac(str(ip))

    def to_enos(self) -> list[Network]:
        out: list[Network] = []
        for subnet in self.subnets:
            net = netaddr.IPNetwork(subnet)
            first, last = net[1], net[-2]
            out.append(G5kEnosNetwork(subnet, self.gateway, self.dns, ip_start=str(first), ip_end=str(last),
                                      mac_start=subnet_mac(str(first)), mac_end=subnet_mac(str(last)),
                                      name=self.id, site=self.site, g5k_type=self.kind))
        return out


def subnet_mac(ip: str) -> str:
    """The MAC Grid'5000's DHCP binds to a subnet address: 00:16:3e + its last three bytes."""
    b = netaddr.IPAddress(ip).words
    return f"{SUBNET_MAC_PREFIX}:{b[1]:02x}:{b[2]:02x}:{b[3]:02x}"


class G5kEnosNetwork(DefaultNetwork):
    """A generic network (what ``Networks`` holds) that remembers its Grid'5000 origin."""

    kind = "g5k"

    def __init__(self, address: str, gateway: str | None = None, dns: str | None = None, *,
                 vlan_id: str | None = None, site: str | None = None, g5k_type: str | None = None,
                 **pools: Any) -> None:
        super().__init__(address, gateway if gateway and netaddr.IPAddress(gateway).version ==
                         netaddr.IPNetwork(address).version else None, dns, **pools)
        self.vlan_id = vlan_id
        self.site = site
        self.g5k_type = g5k_type

    def _key(self) -> tuple[Any, ...]:
        return (self.kind, str(self.network), self.site)

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update({k: v for k, v in (("vlan_id", self.vlan_id), ("site", self.site), ("type", self.g5k_type)) if v})
        return d


class G5kHost:
    """A reserved node: where it is, its NICs and the network each NIC is in.

    ``nics`` are the node's usable NICs as ``(device, name)`` pairs (``("eth1", "eno2")``),
    primary first; secondary networks go to the other NICs in order.
    """

    def __init__(self, fqdn: str, roles: Sequence[str], primary_network: G5kNetwork,
                 secondary_networks: Sequence[G5kNetwork] = (), nics: Sequence[tuple[str, str]] = (),
                 *, cluster: str | None = None, site: str | None = None) -> None:
        self.fqdn = canonical_name(fqdn)
        short, site_part = self.fqdn.split(".")[:2]
        self.site = site or site_part
        self.cluster = cluster or short.rsplit("-", 1)[0]
        self.roles = list(roles)
        self.primary_network = primary_network
        self.secondary_networks = list(secondary_networks)
        self.nics: list[tuple[str, str]] = [(str(n[0]), str(n[1])) for n in nics] or [("eth0", "eth0")]
        self._ssh_address: str | None = None
        if len(self.secondary_networks) > len(self.nics) - 1:
            raise ValueError(f"{self.fqdn} has {len(self.nics) - 1} spare NIC(s) for "
                             f"{len(self.secondary_networks)} secondary network(s)")

    @property
    def short(self) -> str:
        return self.fqdn.split(".")[0]

    @property
    def primary_nic(self) -> tuple[str, str]:
        return self.nics[0]

    @property
    def secondary_nics(self) -> list[tuple[tuple[str, str], G5kNetwork]]:
        """(NIC, network) for each secondary network, in order."""
        return list(zip(self.nics[1:], self.secondary_networks))

    @property
    def ssh_address(self) -> str:
        """The name SSH uses: the node's name in its primary network."""
        return self._ssh_address or self.primary_network.translate(self.fqdn)

    @ssh_address.setter
    def ssh_address(self, address: str) -> None:
        self._ssh_address = address

    def interface_name(self, network: G5kNetwork) -> str | None:
        """The NIC name (``eno2``) this host has in ``network``, None if not attached."""
        if network is self.primary_network:
            return self.primary_nic[1]
        for nic, net in self.secondary_nics:
            if net is network:
                return nic[1]
        return None

    def vlan_requests(self) -> list[tuple[str, str, str]]:
        """What KaVLAN must do for the secondary NICs: (site, vlan id, NIC FQDN)."""
        return [(self.site, net.vlan_id, nic_name(self.fqdn, nic[0]))
                for nic, net in self.secondary_nics if net.vlan_id is not None]

    def dhcp_command(self) -> str:
        """Bring the secondary NICs up and ask DHCP for their address ('' when none)."""
        names = [nic[1] for nic, _ in self.secondary_nics]
        if not names:
            return ""
        ups = "; ".join(f"ip link set {n} up" for n in names)
        dhcp = "; ".join(f"(dhclient -1 {n} || dhcpcd -1 {n} || networkctl reconfigure {n})" for n in names)
        return f"{ups}; {dhcp}"

    def to_host(self, user: str = "root", extra: dict[str, Any] | None = None,
                gateway: str | None = None, gateway_user: str | None = None) -> Host:
        """The generic :class:`~enoslib.objects.Host` (SSH through ``gateway`` when given)."""
        variables: dict[str, Any] = {"g5k_fqdn": self.fqdn, "g5k_site": self.site, "g5k_cluster": self.cluster,
                                     "ansible_host_key_checking": False}  # reinstalled nodes: keys change
        for nic, net in [(self.primary_nic, self.primary_network), *self.secondary_nics]:
            variables.setdefault("g5k_networks", {})[net.id] = nic[1]
        if gateway:
            variables["gateway"] = gateway
            if gateway_user:
                variables["gateway_user"] = gateway_user
        variables.update(extra or {})
        return Host(self.ssh_address, alias=self.ssh_address, user=user, extra=variables)

    def to_dict(self) -> dict[str, Any]:
        return {"fqdn": self.fqdn, "roles": self.roles, "ssh_address": self.ssh_address,
                "primary_network": self.primary_network.id,
                "secondary_networks": [n.id for n in self.secondary_networks], "nics": self.nics}

    def __repr__(self) -> str:
        return f"G5kHost({self.fqdn!r}, roles={self.roles}, ssh_address={self.ssh_address!r})"
