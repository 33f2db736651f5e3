"""Hosts, networks, Roles and Networks as plain JSON data, and back.

``to_data(value)`` turns a value holding :class:`~enoslib.objects.Roles`,
:class:`~enoslib.objects.Networks`, :class:`~enoslib.objects.Host` and
:class:`~enoslib.objects.Network` objects (inside dicts and lists too) into data that
``json.dumps`` writes as-is; ``from_data`` rebuilds them. Objects are tagged with
``"$enoslib"`` and their class (``module:QualName``, only classes of the ``enoslib`` package
are ever loaded back), so a testbed's own host and network classes round-trip as well.

>>> from enoslib.objects import DefaultNetwork, Host, Networks, Roles
>>> roles = Roles({"server": [Host("10.0.0.2", alias="srv-1", user="root")]})
>>> networks = Networks({"lan": [DefaultNetwork("10.0.0.0/24", gateway="10.0.0.1")]})
>>> data = to_data({"roles": roles, "networks": networks})
>>> data["roles"]["roles"]["server"][0]["alias"]
'srv-1'
>>> back = from_data(data)
>>> back["roles"] == roles and back["networks"] == networks
True
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

import netaddr

from enoslib.objects.host import Host
from enoslib.objects.network import IPAddress, NetDevice, Network
from enoslib.objects.roles import Networks, Roles

__all__ = ["TAG", "to_data", "from_data", "class_path", "load_class"]

TAG = "$enoslib"
"""Key marking a dict that stands for an enoslib object in serialized data."""

Hook = Callable[[Any], "dict[str, Any] | None"]


def class_path(cls: type) -> str:
    """``module:QualName`` of a class, as written in serialized data."""
    return f"{cls.__module__}:{cls.__qualname__}"


def load_class(path: str, base: type, where: str = "$") -> type:
    """The class named by ``path`` (``module:QualName``); it must belong to the ``enoslib``
    package and derive from ``base``, anything else is refused (a data file never chooses
    which code is imported).

    Raises:
        ValueError: naming ``where`` (the position in the data) and what is wrong.
    """
    module, _, qualname = str(path).partition(":")
    if not (module == "enoslib" or module.startswith("enoslib.")) or not qualname:
        raise ValueError(f"{where}: refusing to load class {path!r} (only enoslib classes are loaded)")
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"{where}: unknown class {path!r} ({exc})") from None
    if not (isinstance(obj, type) and issubclass(obj, base)):
        raise ValueError(f"{where}: {path!r} is not a {base.__name__}")
    return obj


# -- encoding -----------------------------------------------------------------------------------
def _network(net: Network) -> dict[str, Any]:
    state = {k: (str(v) if isinstance(v, (netaddr.IPNetwork, netaddr.IPAddress)) else v)
             for k, v in vars(net).items()}
    return {TAG: "Network", "class": class_path(type(net)), **state}


def _host(host: Host) -> dict[str, Any]:
    return {TAG: "Host", "class": class_path(type(host)), **host.to_dict()}


def to_data(value: Any, hook: Hook | None = None, where: str = "$") -> Any:
    """``value`` as JSON-able data (see the module's documentation).

    ``hook(obj)`` may encode other types: it returns a dict (tagged with :data:`TAG`) or None.

    Raises:
        TypeError: for a value that cannot be written, naming its position (``$.roles``).
    """
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Roles):
        return {TAG: "Roles", "roles": {r: [_host(h) for h in hs] for r, hs in value.items()}}
    if isinstance(value, Networks):
        return {TAG: "Networks", "networks": {r: [_network(n) for n in ns] for r, ns in value.items()}}
    if isinstance(value, Host):
        return _host(value)
    if isinstance(value, Network):
        return _network(value)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: only string keys can be stored, got {key!r}")
            if key == TAG:
                raise TypeError(f"{where}: the key {TAG!r} is reserved")
            out[key] = to_data(item, hook, f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [to_data(item, hook, f"{where}[{i}]") for i, item in enumerate(value)]
    encoded = hook(value) if hook is not None else None
    if encoded is None:
        raise TypeError(
            f"{where}: cannot store a {type(value).__name__} (store JSON data, Roles, Networks, "
            f"Host, Network, a provider or its configuration)")
    return encoded


# -- decoding -----------------------------------------------------------------------------------
class _Decoder:
    def __init__(self, hook: Callable[[dict[str, Any], str], Any] | None) -> None:
        self.hook = hook
        self.networks: dict[str, Network] = {}  # cidr -> network, for the hosts' addresses
        self.hosts: dict[tuple[Any, ...], Host] = {}  # one object per host, whatever its roles

    def network(self, d: dict[str, Any], where: str) -> Network:
        cls = load_class(d.get("class", "enoslib.objects.network:Network"), Network, where)
        net = cls.__new__(cls)
        state = {k: v for k, v in d.items() if k not in (TAG, "class")}
        try:
            state["network"] = netaddr.IPNetwork(state["network"])
        except (KeyError, netaddr.AddrFormatError, ValueError, TypeError):
            raise ValueError(f"{where}: a network needs a valid 'network' address") from None
        net.__dict__.update(state)
        self.networks.setdefault(net.cidr, net)
        return net

    def host(self, d: dict[str, Any], where: str) -> Host:
        cls = load_class(d.get("class", "enoslib.objects.host:Host"), Host, where)
        key = (d.get("address"), d.get("alias") or d.get("address"), d.get("user"), d.get("keyfile"),
               d.get("port"))
        if key in self.hosts:
            return self.hosts[key]
        devices = []
        for dev in d.get("net_devices") or ():
            addresses = frozenset(
                IPAddress(a["address"], self._network_of(a.get("network"))) for a in dev.get("addresses", ())
            )
            devices.append(NetDevice(dev["name"], addresses, mac=dev.get("mac"), kind=dev.get("kind", "physical")))
        host = cls.__new__(cls)
        try:
            Host.__init__(host, d["address"], d.get("alias"), d.get("user"), d.get("keyfile"), d.get("port"),
                          d.get("extra"), devices)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{where}: invalid host ({exc})") from None
        self.hosts[key] = host
        return host

    def _network_of(self, cidr: str | None) -> Network | None:
        if cidr is None:
            return None
        return self.networks.get(cidr) or Network(cidr)

    def value(self, data: Any, where: str) -> Any:
        if isinstance(data, list):
            return [self.value(item, f"{where}[{i}]") for i, item in enumerate(data)]
        if not isinstance(data, dict):
            return data
        tag = data.get(TAG)
        if tag is None:
            # networks first: the hosts' addresses then point at the same network objects
            order = sorted(data, key=lambda k: not (isinstance(data[k], dict) and data[k].get(TAG) == "Networks"))
            decoded = {k: self.value(data[k], f"{where}.{k}") for k in order}
            return {k: decoded[k] for k in data}
        if tag == "Roles":
            roles = Roles()
            for role, hosts in data.get("roles", {}).items():
                roles[role] = [self.host(h, f"{where}.roles.{role}[{i}]") for i, h in enumerate(hosts)]
            return roles
        if tag == "Networks":
            networks = Networks()
            for role, nets in data.get("networks", {}).items():
                networks[role] = [self.network(n, f"{where}.networks.{role}[{i}]") for i, n in enumerate(nets)]
            return networks
        if tag == "Host":
            return self.host(data, where)
        if tag == "Network":
            return self.network(data, where)
        if self.hook is not None:
            return self.hook(data, where)
        raise ValueError(f"{where}: unknown object kind {tag!r}")


def from_data(data: Any, hook: Callable[[dict[str, Any], str], Any] | None = None) -> Any:
    """Rebuild what :func:`to_data` wrote. Hosts with the same identity become one object;
    their addresses point at the networks of the same data.

    ``hook(d, where)`` decodes the tagged dicts this module does not know.

    Raises:
        ValueError: for malformed data, naming its position (``$.roles.server[0]``).
    """
    return _Decoder(hook).value(data, "$")
