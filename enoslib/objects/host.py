"""Host: one machine an experiment runs commands on."""

from __future__ import annotations

from typing import Any, Iterable

from enoslib._lazy import LazyModule
from enoslib.objects.network import NetDevice, Network

netaddr = LazyModule("netaddr")  # ~20 ms of import: only when an address is parsed


class Host:
    """A machine reachable over SSH.

    ``address`` is what SSH connects to, ``alias`` the name shown in results (defaults to the
    address). Identity (equality, hash) is ``(address, alias, user, keyfile, port)``: the same
    machine reached as another user is another Host. ``extra`` holds per-host variables (made
    available to Ansible and to command substitutions; ``ansible_connection`` and friends
    change how Ansible reaches the host); change them with :meth:`set_extra` and
    :meth:`reset_extra`. ``net_devices`` is filled by :func:`enoslib.sync_info`.

    >>> host = Host("10.0.0.2", alias="node-1", user="root", port=2222)
    >>> host.set_extra(role="db").ansible_vars()
    {'ansible_host': '10.0.0.2', 'ansible_user': 'root', 'ansible_port': 2222, 'role': 'db'}
    >>> host == Host("10.0.0.2", alias="node-1", user="root", port=2222), str(host)
    (True, 'node-1')
    """

    __slots__ = ("address", "alias", "user", "keyfile", "port", "extra", "net_devices", "_key",
                 "_original_extra")

    def __init__(
        self,
        address: str,
        alias: str | None = None,
        user: str | None = None,
        keyfile: str | None = None,
        port: int | None = None,
        extra: dict[str, Any] | None = None,
        net_devices: Iterable[NetDevice] = (),
    ) -> None:
        if not isinstance(address, str) or not address:
            raise ValueError(f"a host needs a non-empty address, got {address!r}")
        self.address = address
        self.alias = alias or address
        self.user = user
        self.keyfile = keyfile
        self.port = int(port) if port is not None else None
        self.extra: dict[str, Any] = dict(extra) if extra else {}
        self._original_extra = dict(self.extra)
        self.net_devices: set[NetDevice] = set(net_devices)
        self._key = (address, self.alias, user, keyfile, self.port)

    # identity fields are read-only once built: a host in a set must keep its hash
    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("address", "alias", "user", "keyfile", "port") and hasattr(self, "_key"):
            raise AttributeError(f"Host.{name} is part of the host's identity; build a new Host")
        object.__setattr__(self, name, value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Host) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __lt__(self, other: "Host") -> bool:
        return tuple(map(str, self._key)) < tuple(map(str, other._key))

    def __repr__(self) -> str:
        parts = [repr(self.address)]
        if self.alias != self.address:
            parts.append(f"alias={self.alias!r}")
        for name in ("user", "port"):
            if getattr(self, name) is not None:
                parts.append(f"{name}={getattr(self, name)!r}")
        return f"Host({', '.join(parts)})"

    def __str__(self) -> str:
        return self.alias

    # -- variables ------------------------------------------------------------------------
    def set_extra(self, **kwargs: Any) -> "Host":
        """Add per-host variables; returns the host so calls can be chained."""
        self.extra.update(kwargs)
        return self

    def reset_extra(self) -> "Host":
        """Back to the variables the host was built with (drops what :meth:`set_extra` added)."""
        self.extra = dict(self._original_extra)
        return self

    def get_extra(self) -> dict[str, Any]:
        """A copy of the host's variables (``extra``): changing it does not change the host."""
        return dict(self.extra)

    def ansible_vars(self) -> dict[str, Any]:
        """Ansible-style variables for this host (connection settings, then ``extra``)."""
        variables: dict[str, Any] = {"ansible_host": self.address}
        if self.user is not None:
            variables["ansible_user"] = self.user
        if self.port is not None:
            variables["ansible_port"] = self.port
        if self.keyfile is not None:
            variables["ansible_ssh_private_key_file"] = self.keyfile
        variables.update(self.extra)
        return variables

    # -- networking -----------------------------------------------------------------------
    def filter_interfaces(self, networks: Iterable[Network] | None = None, include_unknown: bool = False
                          ) -> list[str]:
        """Names of this host's interfaces that have an address in one of ``networks`` (every
        interface with an address when ``networks`` is None); ``include_unknown`` adds the
        interfaces that have no address at all."""
        nets = None if networks is None else list(networks)
        names = []
        for device in sorted(self.net_devices, key=lambda d: d.name):
            known = bool(device.addresses) if nets is None else any(device.filter(n) for n in nets)
            if known or (include_unknown and not device.addresses):
                names.append(device.name)
        return names

    def filter_addresses(self, networks: Iterable[Network] | None = None, include_unknown: bool = False
                         ) -> list[str]:
        """The host's addresses (``10.0.0.2/24``), restricted to ``networks`` when given;
        ``include_unknown`` keeps the addresses that belong to no known network."""
        nets = None if networks is None else list(networks)
        out = []
        for device in sorted(self.net_devices, key=lambda d: d.name):
            for addr in sorted(device.addresses, key=lambda a: a.address):
                if (nets is None or any(addr.ip in n for n in nets)
                        or (include_unknown and addr.network is None)):
                    out.append(addr.address)
        return out

    def has_address(self, address: Any) -> bool:
        """Whether one of the host's devices holds ``address`` (``10.0.0.2``, with or without
        a prefix length)."""
        try:
            wanted = str(netaddr.IPAddress(str(address).split("/")[0]))  # one spelling (IPv6)
        except (netaddr.AddrFormatError, ValueError):
            return False
        return any(a.ip == wanted for d in self.net_devices for a in d.addresses)

    # -- conversions ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "alias": self.alias,
            "user": self.user,
            "keyfile": self.keyfile,
            "port": self.port,
            "extra": dict(self.extra),
            "net_devices": [d.to_dict() for d in sorted(self.net_devices, key=lambda d: d.name)],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Host":
        return cls(
            d["address"], d.get("alias"), d.get("user"), d.get("keyfile"), d.get("port"), d.get("extra")
        )

    def __rich__(self) -> Any:
        from enoslib.objects.display import hosts_table

        return hosts_table([self])

    def _repr_html_(self) -> str:
        from enoslib.objects.display import html_table

        d = self.to_dict()
        d["net_devices"] = ", ".join(n["name"] for n in d["net_devices"])
        return html_table([d])


class LocalHost(Host):
    """The machine running the script, reached without SSH (``ansible_connection: local``)."""

    __slots__ = ()

    def __init__(self, alias: str = "localhost") -> None:
        super().__init__("localhost", alias=alias, extra={"ansible_connection": "local"})
