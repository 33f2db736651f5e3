"""Networks: address ranges that hosts are attached to.

A :class:`Network` knows its CIDR and, when the testbed gives them, a gateway, a DNS server
and pools of free IP and MAC addresses that experimenters may use (for VMs, containers ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from enoslib._lazy import LazyModule

netaddr = LazyModule("netaddr")  # ~20 ms of import: only when an address is parsed


class Network:
    """A network a testbed gave us. Subclasses add testbed-specific facts.

    Equality and hash use the kind and the CIDR (``10.0.0.1/24`` and ``10.0.0.0/24`` are the
    same network; gateway and pools do not count), so the same network reported twice is one.
    """

    kind: str = "network"

    def __init__(
        self,
        address: str | netaddr.IPNetwork,
        gateway: str | None = None,
        dns: str | None = None,
        *,
        name: str | None = None,
    ) -> None:
        try:
            self.network = netaddr.IPNetwork(str(address))
        except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
            raise ValueError(f"invalid network address {address!r}: {exc}") from None
        self.gateway = str(netaddr.IPAddress(gateway)) if gateway else None
        self.dns = str(netaddr.IPAddress(dns)) if dns else None
        self.name = name

    @property
    def cidr(self) -> str:
        return str(self.network.cidr)

    @property
    def version(self) -> int:
        return int(self.network.version)

    def __contains__(self, address: object) -> bool:
        try:
            return netaddr.IPAddress(str(address).split("/")[0]) in self.network
        except (netaddr.AddrFormatError, ValueError):
            return False

    # -- free resources (none by default: a plain network does not lend addresses) ---------
    @property
    def has_free_ips(self) -> bool:
        return False

    @property
    def free_ips(self) -> Iterator[str]:
        return iter(())

    @property
    def has_free_macs(self) -> bool:
        return False

    @property
    def free_macs(self) -> Iterator[str]:
        return iter(())

    def _key(self) -> tuple[Any, ...]:
        return (self.kind, self.cidr)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Network) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __lt__(self, other: "Network") -> bool:
        return (self.version, self.network) < (other.version, other.network)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "cidr": self.cidr}
        for key in ("gateway", "dns", "name"):
            if getattr(self, key):
                d[key] = getattr(self, key)
        return d

    def __repr__(self) -> str:
        extra = f", gateway={self.gateway!r}" if self.gateway else ""
        return f"{type(self).__name__}({self.cidr!r}{extra})"

    def __rich__(self) -> Any:
        from enoslib.objects.display import network_table

        return network_table([self])

    def _repr_html_(self) -> str:
        from enoslib.objects.display import html_table

        return html_table([self.to_dict()])


class DefaultNetwork(Network):
    """A network with optional pools of free IPs and MACs.

    ``ip_start``/``ip_end`` bound the addresses experimenters may take (inclusive);
    ``mac_start``/``mac_end`` likewise for MAC addresses.
    """

    kind = "default"

    def __init__(
        self,
        address: str | netaddr.IPNetwork,
        gateway: str | None = None,
        dns: str | None = None,
        ip_start: str | None = None,
        ip_end: str | None = None,
        mac_start: str | None = None,
        mac_end: str | None = None,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(address, gateway, dns, name=name)
        self.ip_start = str(netaddr.IPAddress(ip_start)) if ip_start else None
        self.ip_end = str(netaddr.IPAddress(ip_end)) if ip_end else None
        if (ip_start is None) != (ip_end is None):
            raise ValueError("ip_start and ip_end go together")
        for bound in filter(None, (self.ip_start, self.ip_end)):
            if bound not in self:
                raise ValueError(f"{bound} is outside {self.cidr}")
        self.mac_start = str(netaddr.EUI(mac_start)) if mac_start else None
        self.mac_end = str(netaddr.EUI(mac_end)) if mac_end else None
        if (mac_start is None) != (mac_end is None):
            raise ValueError("mac_start and mac_end go together")

    @property
    def has_free_ips(self) -> bool:
        return self.ip_start is not None

    @property
    def free_ips(self) -> Iterator[str]:
        if self.ip_start is None or self.ip_end is None:
            return iter(())
        # lazily: a /16 pool must not be materialised
        return (str(ip) for ip in netaddr.iter_iprange(self.ip_start, self.ip_end))

    @property
    def has_free_macs(self) -> bool:
        return self.mac_start is not None

    @property
    def free_macs(self) -> Iterator[str]:
        if self.mac_start is None or self.mac_end is None:
            return iter(())
        start, end = int(netaddr.EUI(self.mac_start)), int(netaddr.EUI(self.mac_end))
        return (str(netaddr.EUI(v, dialect=netaddr.mac_unix_expanded)) for v in range(start, end + 1))

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        for key in ("ip_start", "ip_end", "mac_start", "mac_end"):
            if getattr(self, key):
                d[key] = getattr(self, key)
        return d


@dataclass(frozen=True)
class IPAddress:
    """An address held by a network device: ``address`` is an interface (``10.0.0.2/24``);
    ``network`` is the enoslib network it belongs to, when known.

    As EnOSlib documents, equality and hash use the address and the network it belongs to
    (two providers may hand out the same range): compare ``.ip`` for the address alone.
    """

    address: str
    network: Network | None = None

    def __post_init__(self) -> None:
        # like EnOSlib, any spelling of an interface is accepted: str, ipaddress/netaddr objects,
        # an integer (IPv4 when it fits)
        address: Any = self.address
        if isinstance(address, int) and not isinstance(address, bool):
            address = netaddr.IPAddress(address)
        try:
            iface = netaddr.IPNetwork(str(address))
        except (netaddr.AddrFormatError, ValueError, TypeError):
            raise ValueError(f"invalid interface address {self.address!r}") from None
        # normalise "10.0.0.2" to "10.0.0.2/32" so equality is by value
        object.__setattr__(self, "address", f"{iface.ip}/{iface.prefixlen}")

    @property
    def ip(self) -> str:
        return self.address.split("/")[0]

    @property
    def version(self) -> int:
        return netaddr.IPAddress(self.ip).version

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "network": self.network.cidr if self.network else None}


@dataclass(frozen=True)
class NetDevice:
    """A network interface of a host (``eth0``) and the addresses it holds.

    ``addresses`` may be given as any iterable (a set, as EnOSlib users write it, a list, ...)
    of :class:`IPAddress` or interface strings; it is stored as a frozenset so the device
    stays hashable. Two devices are equal when name, addresses, mac and kind are.
    """

    name: str
    addresses: frozenset[IPAddress] = frozenset()
    mac: str | None = None
    kind: str = "physical"

    def __post_init__(self) -> None:
        addresses = frozenset(
            a if isinstance(a, IPAddress) else IPAddress(a) for a in (self.addresses or ())
        )
        object.__setattr__(self, "addresses", addresses)

    def filter(self, network: Network) -> list[IPAddress]:
        """The addresses of this device that belong to ``network``."""
        return [a for a in self.addresses if a.ip in network]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mac": self.mac,
            "kind": self.kind,
            "addresses": sorted((a.to_dict() for a in self.addresses), key=lambda d: d["address"]),
        }
