"""Grid'5000 hosts and networks (``enoslib.infra.enos_g5k.objects``), as EnOSlib documents them.

A node has one name per network it sits in: ``paravance-1.rennes.grid5000.fr`` in the
production network, ``paravance-1-kavlan-4.rennes.grid5000.fr`` once its primary NIC is in
vlan 4, ``paravance-1-eth1-kavlan-4.rennes.grid5000.fr`` for its second NIC in that vlan,
``paravance-1-ipv6.rennes.grid5000.fr`` for its IPv6 address. Networks translate names both
ways; hosts know their NICs and which network each NIC is in.

The provider builds these objects with every fact it read from the reference API (CIDR,
gateway, DNS, NICs), so they do no I/O. Built by hand the documented way
(``G5kVlanNetwork(roles, id, site, vlan_id)``, ``G5kHost(fqdn, roles, primary_network)``),
they look the missing facts up through :mod:`~enoslib.infra.enos_g5k.g5k_api_utils` on first
use (reference data is cached on disk).
"""

from __future__ import annotations

import abc
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import netaddr

from enoslib.infra.enos_g5k.constants import (
    DEFAULT_ACCESS_HOST,
    G5K_DOMAIN,
    G5KMACPREFIX,
    KAVLAN_LOCAL,
    PROD,
    PROD_VLAN_ID,
    SLASH_22,
)
from enoslib.infra.enos_g5k.planning import vlan_type
from enoslib.objects import DefaultNetwork, Host, Network

logger = logging.getLogger(__name__)

DOMAIN = G5K_DOMAIN
SUBNET_MAC_PREFIX = G5KMACPREFIX.lower()
# node[-device][-kavlan-N][-ipv6][.site.grid5000.fr]
_NAME = re.compile(r"^(?P<node>[a-z][a-z0-9]*-[0-9]+)(?P<device>-(?!kavlan-[0-9]+)(?!ipv6(?:\.|$))[a-z0-9]+)?"
                   r"(?P<vlan>-kavlan-[0-9]+)?(?P<ipv6>-ipv6)?(?:\.(?P<site>[a-z][a-z0-9-]*)\.grid5000\.fr)?$")

Nic = tuple[str, str]      # (legacy device name, predictable name), e.g. ("eth0", "eno1")


def fqdn(short: str, site: str) -> str:
    """A node's full name from its short name and site (``paravance-3.rennes.grid5000.fr``)."""
    return f"{short}.{site}.{DOMAIN}"


def split_name(name: str) -> tuple[str, str | None, str | None, bool, str | None]:
    """``paravance-1-eth1-kavlan-4-ipv6.rennes.grid5000.fr`` -> ("paravance-1", "eth1", "4", True, "rennes")
    (site None for a short name)."""
    m = _NAME.match(name)
    if not m:
        raise ValueError(f"{name!r} is not a Grid'5000 node FQDN (node[-nic][-kavlan-N][-ipv6].site.grid5000.fr)")
    return (m["node"], m["device"][1:] if m["device"] else None, m["vlan"][len("-kavlan-"):] if m["vlan"] else None,
            bool(m["ipv6"]), m["site"])


def canonical_name(name: str) -> str:
    """``paravance-1-eth1-kavlan-4.rennes.grid5000.fr`` -> ``paravance-1.rennes.grid5000.fr``."""
    node, _, _, _, site = split_name(name)
    if site is None:
        raise ValueError(f"{name!r} is not a Grid'5000 node FQDN (no site part)")
    return fqdn(node, site)


def nic_name(node_fqdn: str, device: str | None = None, vlan_id: str | None = None, ipv6: bool = False) -> str:
    """The DNS name of a node's NIC: ``device`` (None for the primary NIC) in ``vlan_id`` (None:
    production network), IPv6 flavour when ``ipv6``."""
    short, dot, rest = node_fqdn.partition(".")
    parts = [short]
    if device:
        parts.append(device)
    if vlan_id and str(vlan_id).upper() != PROD_VLAN_ID:
        parts.append(f"kavlan-{vlan_id}")
    if ipv6:
        parts.append("ipv6")
    return f"{'-'.join(parts)}{dot}{rest}"


def _rename(name: str, vlan_id: str | None, ipv6: bool) -> str:
    """``name`` (any flavour, NIC part kept; short or FQDN) moved to ``vlan_id`` (None:
    production), v4 or v6."""
    node, device, _, _, site = split_name(name)
    return nic_name(fqdn(node, site) if site else node, device, vlan_id, ipv6)


def usable_adapters(adapters: Iterable[Mapping[str, Any]],
                    extra_cond: Callable[[Mapping[str, Any]], bool] = lambda nic: True) -> list[Mapping[str, Any]]:
    """The reference's network adapters a job can use: mountable Ethernet, not management."""
    return [a for a in adapters if a.get("mountable") and a.get("interface") == "Ethernet"
            and not a.get("management") and extra_cond(a)]


def subnet_mac(ip: str) -> str:
    """The MAC Grid'5000's DHCP binds to a subnet address: 00:16:3e + its last three bytes."""
    b = netaddr.IPAddress(ip).words
    return f"{SUBNET_MAC_PREFIX}:{b[1]:02x}:{b[2]:02x}:{b[3]:02x}"


def vlan_free_range(cidr: str, kind: str) -> tuple[str, str]:
    """Addresses of a vlan nodes never get (for VMs, containers ...), as (first, last).

    Nodes take the low addresses: a local vlan keeps /24 blocks 4 to 6 free, a routed or global
    one /23 blocks 13 to 30 (the upper part, away from the gateway at the end).
    """
    net = netaddr.IPNetwork(cidr)
    block, first, last = (24, 4, 6) if kind == KAVLAN_LOCAL else (23, 13, 30)
    if net.prefixlen <= block and (1 << (block - net.prefixlen)) > last:
        blocks = list(net.subnet(block))
        return str(blocks[first].network), str(blocks[last].broadcast)
    # small networks: the upper half, without the broadcast and the gateway
    half = list(net.subnet(net.prefixlen + 1))[1]
    return str(half.network), str(half[-3])


def site_ipv6(ipv6: Mapping[str, Any] | None, vlan_id: str | None) -> str | None:
    """Grid'5000 IPv6 /64 of a site's network: the site's /56 (``ipv6.prefix``, else
    2001:660:4406:<site_index>00::/56) with the vlan byte: 0 for the production network,
    0x80 + (id - 1) for kavlan ``id``."""
    if not ipv6:
        return None
    vlan_byte = 0 if vlan_id in (None, PROD_VLAN_ID) else 0x80 + int(vlan_id) - 1
    if ipv6.get("prefix"):
        base = netaddr.IPNetwork(ipv6["prefix"]).first
    elif ipv6.get("site_index") is not None:
        base = int(netaddr.IPAddress(f"2001:660:4406:{int(ipv6['site_index']):02x}00::"))
    else:
        return None
    return str(netaddr.IPNetwork(f"{netaddr.IPAddress(base + (vlan_byte << 64), 6)}/64").cidr)


_UNSET: Any = object()


def _facts(*facts: Any) -> tuple[Any, ...]:
    """Facts given by keyword: when some are (the provider gives what the reference knows),
    the others are unknown (None); when none is (built by hand, the documented way), all are
    looked up on first use."""
    if all(f is _UNSET for f in facts):
        return facts
    return tuple(None if f is _UNSET else f for f in facts)


# -- the networks Networks holds ----------------------------------------------------------------
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


class G5kEnosProd4Network(G5kEnosNetwork):
    """The IPv4 production network of a site: it lends no addresses."""

    def __init__(self, address: str, gateway: str | None = None, dns: str | None = None, **kw: Any) -> None:
        kw.setdefault("vlan_id", PROD_VLAN_ID)
        kw.setdefault("g5k_type", PROD)
        super().__init__(address, gateway, dns, **kw)


class G5kEnosProd6Network(G5kEnosProd4Network):
    """The IPv6 production network of a site (no gateway: routers are advertised)."""

    def __init__(self, address: str, gateway: str | None = None, dns: str | None = None, **kw: Any) -> None:
        super().__init__(address, None, dns, **kw)


class G5kEnosVlan4Network(G5kEnosNetwork):
    """An IPv4 KaVLAN: the addresses nodes never get are free for the user (see
    :func:`vlan_free_range`)."""

    def __init__(self, address: str, vlan_id: str, gateway: str | None = None, dns: str | None = None,
                 **kw: Any) -> None:
        kw.setdefault("g5k_type", vlan_type(vlan_id))
        if "ip_start" not in kw:
            kw["ip_start"], kw["ip_end"] = vlan_free_range(str(address), kw["g5k_type"])
        super().__init__(address, gateway, dns, vlan_id=str(vlan_id), **kw)


class G5kEnosVlan6Network(G5kEnosVlan4Network):
    """The IPv6 /64 of a KaVLAN (no gateway: routers are advertised); its addresses are free."""

    def __init__(self, address: str, vlan_id: str, gateway: str | None = None, dns: str | None = None,
                 **kw: Any) -> None:
        net = netaddr.IPNetwork(str(address))
        kw.setdefault("ip_start", str(net[1]))
        kw.setdefault("ip_end", str(net[-1]))
        super().__init__(address, vlan_id, None, dns, **kw)


class G5kEnosSubnetNetwork(G5kEnosNetwork):
    """One /22 of a subnet reservation: every address is the user's, with the MAC Grid'5000's
    DHCP binds to it (``00:16:3e`` + the address's last three bytes)."""

    def __init__(self, address: str, gateway: str | None = None, dns: str | None = None, **kw: Any) -> None:
        net = netaddr.IPNetwork(str(address))
        first, last = str(net[1]), str(net[-2])
        kw.setdefault("g5k_type", SLASH_22 if net.prefixlen >= 22 else f"slash_{net.prefixlen}")
        kw.setdefault("ip_start", first)
        kw.setdefault("ip_end", last)
        kw.setdefault("mac_start", subnet_mac(first))
        kw.setdefault("mac_end", subnet_mac(last))
        super().__init__(address, gateway, dns, **kw)


# -- reservable networks --------------------------------------------------------------------------
class G5kNetwork(abc.ABC):
    """Representation of a reservable network in G5k: what the configuration's network ``id``
    became once reserved, on ``site``, given ``roles``.

    ``client``: the Grid'5000 connection used when a fact must be looked up (default: the
    default one, see :func:`~enoslib.infra.enos_g5k.g5k_api_utils.get_api_client`).
    """

    kind = "g5k"

    def __init__(self, roles: Sequence[str], id: str, site: str, *, client: Any = None) -> None:
        self.roles = list(roles)
        self.id = id
        self.site = site
        self.hosts: list[G5kHost] = []
        self.client = client
        self._dns: str | None = _UNSET

    # -- facts --------------------------------------------------------------------------------
    @property
    def dns(self) -> str | None:
        """The DNS server of the network's site (IPv4)."""
        if self._dns is _UNSET:
            from enoslib.infra.enos_g5k.g5k_api_utils import get_dns

            self._dns = get_dns(self.site, client=self.client)
        return self._dns

    @dns.setter
    def dns(self, value: str | None) -> None:
        self._dns = value

    @property
    def dns6(self) -> str | None:
        """The DNS server for IPv6 clients: Grid'5000 serves them on its IPv4 address."""
        return self.dns

    @property
    @abc.abstractmethod
    def apinetwork(self) -> Any:
        """The python-grid5000 object of this network (None for subnets: not in the API)."""

    @property
    @abc.abstractmethod
    def vlan_id(self) -> str | None:
        """The vlan id (``"DEFAULT"`` for the production network, None for subnets)."""

    @property
    @abc.abstractmethod
    def cidr(self) -> str | None: ...

    @property
    @abc.abstractmethod
    def cidr6(self) -> str | None: ...

    @property
    @abc.abstractmethod
    def gateway(self) -> str | None: ...

    @property
    @abc.abstractmethod
    def gateway6(self) -> str | None: ...

    # -- names ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def translate(self, fqdns: Iterable[str], reverse: bool = False) -> list[tuple[str, str]]:
        """``(name, name in this network)`` for each of ``fqdns`` (with ``reverse``: back to
        the production name). NIC parts (``-eth1``) are kept."""

    @abc.abstractmethod
    def translate6(self, fqdns: Iterable[str], reverse: bool = False) -> list[tuple[str, str]]:
        """Like :meth:`translate`, to (or from) the names resolving to IPv6 addresses."""

    def name_of(self, node: str, device: str | None = None) -> str:
        """The name of ``node``'s NIC ``device`` (None: primary) in this network."""
        return nic_name(canonical_name(node), device)

    # -- actions -------------------------------------------------------------------------------
    @abc.abstractmethod
    def attach(self, fqdns: list[str], device: str) -> None:
        """Put NIC ``device`` of the nodes ``fqdns`` in this network (KaVLAN API)."""

    @abc.abstractmethod
    def to_enos(self) -> tuple[list[str], list[Network]]:
        """``(roles, generic networks)``: what users get in ``Networks``."""

    def add_host(self, host: G5kHost) -> None:
        """Remember that ``host`` uses this network (does not attach it)."""
        self.hosts.append(host)

    def add_hosts(self, hosts: Iterable[G5kHost]) -> None:
        self.hosts.extend(hosts)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.kind, "roles": self.roles, "site": self.site}

    def __repr__(self) -> str:
        extra = f", vlan_id={self.vlan_id!r}" if self.vlan_id else ""
        return f"{type(self).__name__}(roles={self.roles!r}, id={self.id!r}, site={self.site!r}{extra})"


class G5kVlanNetwork(G5kNetwork):
    """Representation of a Vlan resource in G5k: nodes get ``-kavlan-<id>`` names in it.

    The keyword arguments are facts the provider read from the reference API; what is not
    given is looked up on first use.
    """

    kind = "kavlan"

    def __init__(self, roles: Sequence[str], id: str, site: str, vlan_id: str, *,
                 vlan_type: str | None = None, cidr: str | None = _UNSET, gateway: str | None = _UNSET,
                 dns: str | None = _UNSET, ipv6: Mapping[str, Any] | None = _UNSET, client: Any = None) -> None:
        super().__init__(roles, id, site, client=client)
        self._vlan_id = str(vlan_id)
        if vlan_type is not None:
            self.kind = vlan_type
        elif self._vlan_id != PROD_VLAN_ID:
            self.kind = _vlan_kind(self._vlan_id)
        self._cidr, self._gateway, self._dns, self._ipv6 = _facts(cidr, gateway, dns, ipv6)
        self._apinetwork: Any = None

    def _info(self) -> None:
        """Fill the facts not given from the site's ``kavlans`` and ``ipv6`` (reference API)."""
        if _UNSET not in (self._cidr, self._gateway, self._ipv6):
            return
        from enoslib.infra.enos_g5k.g5k_api_utils import get_ipv6, get_vlans

        info = get_vlans(self.site, client=self.client).get(
            "default" if self._vlan_id == PROD_VLAN_ID else self._vlan_id) or {}
        if self._cidr is _UNSET:
            self._cidr = info.get("network")
        if self._gateway is _UNSET:
            self._gateway = info.get("gateway")
        if self._ipv6 is _UNSET:
            self._ipv6 = get_ipv6(self.site, client=self.client)

    @property
    def vlan_id(self) -> str:
        return self._vlan_id

    @property
    def cidr(self) -> str | None:
        self._info()
        return self._cidr

    @property
    def gateway(self) -> str | None:
        self._info()
        return self._gateway

    @property
    def cidr6(self) -> str | None:
        self._info()
        return site_ipv6(self._ipv6, self._vlan_id)

    @property
    def gateway6(self) -> str | None:
        return None  # IPv6 routers are advertised, not configured

    @property
    def apinetwork(self) -> Any:
        if self._apinetwork is None:
            from enoslib.infra.enos_g5k.g5k_api_utils import get_vlan

            self._apinetwork = get_vlan(self.site, self._vlan_id, client=self.client)
        return self._apinetwork

    def name_of(self, node: str, device: str | None = None) -> str:
        return nic_name(canonical_name(node), device, self.vlan_id)

    def translate(self, fqdns: Iterable[str], reverse: bool = False) -> list[tuple[str, str]]:
        return [(f, _rename(f, None if reverse else self.vlan_id, False)) for f in fqdns]

    def translate6(self, fqdns: Iterable[str], reverse: bool = False) -> list[tuple[str, str]]:
        return [(f, _rename(f, None, False) if reverse else _rename(f, self.vlan_id, True)) for f in fqdns]

    def attach(self, fqdns: list[str], device: str) -> None:
        from enoslib.infra.enos_g5k.g5k_api_utils import set_nodes_vlan

        set_nodes_vlan(list(fqdns), device, self.vlan_id, client=self.client)

    def free_range(self) -> tuple[str, str] | None:
        """The addresses of this vlan that nodes never get, as (first, last)."""
        return vlan_free_range(self.cidr, self.kind) if self.cidr else None

    def to_enos(self) -> tuple[list[str], list[Network]]:
        out: list[Network] = []
        common = {"name": self.id, "site": self.site, "g5k_type": self.kind}
        if self.cidr:
            out.append(G5kEnosVlan4Network(self.cidr, self.vlan_id, self.gateway, self.dns, **common))
        if self.cidr6:
            out.append(G5kEnosVlan6Network(self.cidr6, self.vlan_id, None, self.dns6, **common))
        return self.roles, out


def _vlan_kind(vlan_id: str) -> str:
    return vlan_type(vlan_id) if vlan_id.isdigit() else "kavlan"


class G5kProdNetwork(G5kVlanNetwork):
    """Representation of the Production Network in G5k (vlan ``DEFAULT`` in the API): node
    names are unchanged; it lends no addresses."""

    kind = PROD

    def __init__(self, roles: Sequence[str], id: str, site: str, *, cidr: str | None = _UNSET,
                 gateway: str | None = _UNSET, dns: str | None = _UNSET, ipv6: Mapping[str, Any] | None = _UNSET,
                 client: Any = None) -> None:
        super().__init__(roles, id, site, PROD_VLAN_ID, vlan_type=PROD, cidr=cidr, gateway=gateway, dns=dns,
                         ipv6=ipv6, client=client)

    def name_of(self, node: str, device: str | None = None) -> str:
        return nic_name(canonical_name(node), device)

    def translate(self, fqdns: Iterable[str], reverse: bool = False) -> list[tuple[str, str]]:
        return [(f, f) for f in fqdns]

    def translate6(self, fqdns: Iterable[str], reverse: bool = False) -> list[tuple[str, str]]:
        return [(f, _rename(f, None, not reverse)) for f in fqdns]

    def attach(self, fqdns: list[str], device: str) -> None:
        """Put the NICs back in the production network."""
        super().attach(fqdns, device)

    def free_range(self) -> None:
        return None

    def to_enos(self) -> tuple[list[str], list[Network]]:
        out: list[Network] = []
        common = {"name": self.id, "site": self.site}
        if self.cidr:
            out.append(G5kEnosProd4Network(self.cidr, self.gateway, self.dns, **common))
        if self.cidr6:
            out.append(G5kEnosProd6Network(self.cidr6, None, self.dns6, **common))
        return self.roles, out


class G5kSubnetNetwork(G5kNetwork):
    """Representation of a subnet resource of G5k (one /22, or 64 /22 for a /16): its
    addresses, and the MACs that get them from Grid'5000's DHCP, are the user's. Not in the
    REST API: no vlan id, no API object; node names do not change."""

    kind = SLASH_22

    def __init__(self, roles: Sequence[str], id: str, site: str, subnets: Iterable[str], *,
                 kind: str | None = None, gateway: str | None = _UNSET, dns: str | None = _UNSET,
                 client: Any = None) -> None:
        super().__init__(roles, id, site, client=client)
        self.subnets = sorted((str(netaddr.IPNetwork(s).cidr) for s in subnets), key=netaddr.IPNetwork)
        self.kind = kind or (SLASH_22 if len(self.subnets) <= 1 else "slash_16")
        self._gateway, self._dns = _facts(gateway, dns)

    @property
    def vlan_id(self) -> None:
        return None

    @property
    def apinetwork(self) -> None:
        return None

    @property
    def cidr(self) -> None:
        """Not well defined (a /16 is 64 /22): see :meth:`to_enos` for one network per /22."""
        return None

    @property
    def cidr6(self) -> None:
        return None

    @property
    def gateway(self) -> str | None:
        if self._gateway is _UNSET:
            from enoslib.infra.enos_g5k.g5k_api_utils import get_subnet_gateway

            self._gateway = get_subnet_gateway(self.site, client=self.client)
        return self._gateway

    @property
    def gateway6(self) -> None:
        return None

    def translate(self, fqdns: Iterable[str], reverse: bool = True) -> list[tuple[str, str]]:
        return [(f, f) for f in fqdns]

    def translate6(self, fqdns: Iterable[str], reverse: bool = True) -> list[tuple[str, str]]:
        return [(f, f) for f in fqdns]

    def attach(self, fqdns: list[str], device: str) -> None:
        logger.debug("subnet %s: nothing to attach (addresses come from DHCP by MAC)", self.id)

    @property
    def free_ips(self) -> Iterator[str]:
        for net in self.to_enos()[1]:
            yield from net.free_ips

    @property
    def free_macs(self) -> Iterator[str]:
        for net in self.to_enos()[1]:
            yield from net.free_macs

    def ip_mac_pairs(self) -> Iterator[tuple[str, str]]:
        for subnet in self.subnets:
            for ip in netaddr.IPNetwork(subnet).iter_hosts():
                yield str(ip), subnet_mac(str(ip))

    def to_enos(self) -> tuple[list[str], list[Network]]:
        return self.roles, [G5kEnosSubnetNetwork(s, self.gateway, self.dns, name=self.id, site=self.site,
                                                 g5k_type=self.kind) for s in self.subnets]


# -- hosts ---------------------------------------------------------------------------------------
class G5kHost:
    """A G5k host: where it is, its NICs and the network each NIC is in.

    ``nics``: the node's usable NICs as ``(device, name)`` pairs (``("eth1", "eno2")``), the
    mounted (primary) one first; when not given they are read from the reference API on first
    use. Secondary networks go to the other NICs in order.
    """

    def __init__(self, fqdn: str, roles: Sequence[str], primary_network: G5kNetwork,
                 secondary_networks: Sequence[G5kNetwork] | None = None, nics: Sequence[Nic] | None = None,
                 *, cluster: str | None = None, site: str | None = None, client: Any = None) -> None:
        self.fqdn = canonical_name(fqdn)
        short, site_part = self.fqdn.split(".")[:2]
        self.site = site or site_part
        self.cluster = cluster or short.rsplit("-", 1)[0]
        self.roles = list(roles)
        self.primary_network = primary_network
        self.secondary_networks = list(secondary_networks or [])
        self.client = client if client is not None else primary_network.client
        self._adapters: list[Mapping[str, Any]] | None = None
        if nics:
            # what the provider read from the reference: the first one is the mounted one
            self._adapters = [{"device": str(d), "name": str(n), "mounted": i == 0, "mountable": True,
                               "interface": "Ethernet", "management": False} for i, (d, n) in enumerate(nics)]
            self._check_nics()
        self._ssh_address: str | None = None
        self._apinode: Any = None

    def _check_nics(self) -> None:
        if len(self.secondary_networks) > len(self.secondary_nics):
            raise ValueError(f"{self.fqdn} has {len(self.secondary_nics)} spare NIC(s) for "
                             f"{len(self.secondary_networks)} secondary network(s)")

    # -- the API's view -----------------------------------------------------------------------
    @property
    def apinode(self) -> Any:
        """The python-grid5000 ``Node`` of this host (reference API, cached)."""
        if self._apinode is None:
            from enoslib.infra.enos_g5k.g5k_api_utils import get_node

            self._apinode = get_node(self.site, self.cluster, self.short, client=self.client)
        return self._apinode

    @property
    def adapters(self) -> list[Mapping[str, Any]]:
        if self._adapters is None:
            self._adapters = list(self.apinode.network_adapters)
        return self._adapters

    @property
    def short(self) -> str:
        return self.fqdn.split(".")[0]

    # -- NICs -----------------------------------------------------------------------------------
    def get_nics(self, extra_cond: Callable[[Mapping[str, Any]], bool] = lambda nic: True) -> list[Nic]:
        """Usable (mountable Ethernet) NICs satisfying ``extra_cond`` (a predicate over the API's
        adapter dict), as sorted ``(device, name)`` pairs: the same on every run."""
        return sorted((str(a["device"]), str(a.get("name") or a["device"]))
                      for a in usable_adapters(self.adapters, extra_cond))

    @property
    def primary_nic(self) -> Nic:
        """The NIC mounted by default (the one the node boots with)."""
        mounted = self.get_nics(lambda nic: bool(nic.get("mounted")))
        if not mounted:
            raise ValueError(f"{self.fqdn}: no mounted NIC in the reference API")
        return mounted[0]

    @property
    def secondary_nics(self) -> list[Nic]:
        """The NICs that can take a secondary network, in the order networks are given to them."""
        return self.get_nics(lambda nic: not nic.get("mounted"))

    @property
    def nics(self) -> list[Nic]:
        """Every usable NIC, the primary first."""
        return [self.primary_nic, *self.secondary_nics]

    def _secondary_pairs(self) -> list[tuple[Nic, G5kNetwork]]:
        self._check_nics()
        return list(zip(self.secondary_nics, self.secondary_networks))

    def interface_name(self, network: G5kNetwork) -> str | None:
        """The NIC name (``eno2``) this host has in ``network``, None if not attached."""
        if network is self.primary_network:
            return self.primary_nic[1]
        for nic, net in self._secondary_pairs():
            if net is network:
                return nic[1]
        return None

    @property
    def ssh_address(self) -> str:
        """The name SSH uses: the node's name in its primary network."""
        return self._ssh_address or self.primary_network.name_of(self.fqdn)

    @ssh_address.setter
    def ssh_address(self, address: str) -> None:
        self._ssh_address = address

    # -- making the API agree with this object --------------------------------------------------
    def vlan_requests(self) -> list[tuple[str, str, str]]:
        """What KaVLAN must do for the secondary NICs: (site, vlan id, NIC FQDN)."""
        return [(self.site, net.vlan_id, nic_name(self.fqdn, nic[0]))
                for nic, net in self._secondary_pairs() if net.vlan_id is not None]

    def mirror_state(self) -> None:
        """Put each secondary NIC in its network (nic_i <-> secondary_networks[i]) through the
        KaVLAN API. Configuring the NICs on the node is :meth:`dhcp_networks_command`'s job."""
        for nic, net in self._secondary_pairs():
            net.attach([self.fqdn], nic[0])

    def dhcp_networks_command(self) -> str:
        """Bring the secondary NICs up and ask DHCP for their address ('' when none)."""
        names = [nic[1] for nic, _ in self._secondary_pairs()]
        if not names:
            return ""
        ups = "; ".join(f"ip link set {n} up" for n in names)
        dhcp = "; ".join(f"(dhclient -1 {n} || dhcpcd -1 {n} || networkctl reconfigure {n})" for n in names)
        return f"{ups}; {dhcp}"

    dhcp_command = dhcp_networks_command

    def grant_root_access_command(self) -> str:
        """Let root in with the user's keys (``sudo-g5k``), for jobs without deploy."""
        from enoslib.infra.enos_g5k.remote import ROOT_ACCESS

        return ROOT_ACCESS

    # -- generic host ---------------------------------------------------------------------------
    def to_host(self, user: str = "root", extra: dict[str, Any] | None = None,
                gateway: str | None = None, gateway_user: str | None = None, address: str = "") -> Host:
        """The generic :class:`~enoslib.objects.Host` (SSH through ``gateway`` when given)."""
        variables: dict[str, Any] = {"g5k_fqdn": self.fqdn, "g5k_site": self.site, "g5k_cluster": self.cluster,
                                     "ansible_host_key_checking": False}  # reinstalled nodes: keys change
        if self._adapters is not None:  # NIC names only when known: building a Host costs no request
            for nic, net in [(self.primary_nic, self.primary_network), *self._secondary_pairs()]:
                variables.setdefault("g5k_networks", {})[net.id] = nic[1]
        if gateway:
            variables["gateway"] = gateway
            if gateway_user:
                variables["gateway_user"] = gateway_user
        variables.update(extra or {})
        name = address or self.ssh_address
        return Host(name, alias=name, user=user, extra=variables)

    def to_enoslib(self, address: str = "", user: str = "root", extra: dict[str, Any] | None = None) -> Host:
        """The generic :class:`~enoslib.objects.Host`, SSH going through Grid'5000's access host
        when this machine is outside Grid'5000 (or as the setting ``g5k_auto_jump`` says).

        ``address``: the SSH name (default: :attr:`ssh_address`); ``extra``: Ansible variables.
        """
        from enoslib.infra.enos_g5k.remote import use_access_host

        if not use_access_host():
            return self.to_host(user=user, extra=extra, address=address)
        from enoslib.infra.enos_g5k.client import as_client

        return self.to_host(user=user, extra=extra, address=address, gateway=DEFAULT_ACCESS_HOST,
                            gateway_user=as_client(self.client).login)

    def to_dict(self) -> dict[str, Any]:
        return {"fqdn": self.fqdn, "roles": self.roles, "ssh_address": self.ssh_address,
                "primary_network": self.primary_network.id,
                "secondary_networks": [n.id for n in self.secondary_networks], "nics": self.nics}

    def __repr__(self) -> str:
        return f"G5kHost({self.fqdn!r}, roles={self.roles}, ssh_address={self.ssh_address!r})"
