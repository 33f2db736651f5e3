"""Configuration of the Distem provider (fields: ``schemas/distem.json``).

>>> conf = (Configuration.from_settings(job_name="containers", walltime="01:00:00", force_deploy=True)
...         .add_machine(roles=["server"], cluster="paravance", number=2, flavour="small")
...         .add_machine_conf(MachineConfiguration(roles=["client"], cluster="paravance",
...                                                flavour_desc={"core": 2, "mem": 2048})))
>>> [m.flavour_desc for m in conf.machines]
[{'core': 1, 'mem': 1024}, {'core': 2, 'mem': 2048}]
>>> conf.networks
['slash_22']
>>> Configuration.from_dictionary(conf.to_dict()) == conf
True
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

from enoslib.infra.configuration import BaseConfiguration, ItemConfiguration, validate
from enoslib.infra.enos_distem.constants import FLAVOURS, PRIVATE_VNETWORK, SUBNET_TYPES
from enoslib.infra.enos_distem.schema import SCHEMA_NAME

__all__ = ["Configuration", "DistemConf", "FLAVOURS", "MachineConfiguration"]

# addresses of a vnetwork a vnode cannot get: network, broadcast, and the first one (gateway)
_RESERVED_ADDRESSES = 3


class MachineConfiguration(ItemConfiguration):
    """``number`` containers with ``roles``, of one flavour, on nodes of ``cluster``."""

    __slots__ = ()
    schema_name = SCHEMA_NAME
    kind = "machines"

    def __init__(self, *, roles: list[str] | None = None, cluster: str | None = None, number: int | None = None,
                 flavour: str | None = None, flavour_desc: dict[str, int] | None = None,
                 vcore_type: str | None = None, undercloud: list[dict[str, Any]] | None = None) -> None:
        super().__init__(roles=roles, cluster=cluster, number=number, flavour=flavour,
                         flavour_desc=None if flavour_desc is None else dict(flavour_desc),
                         vcore_type=vcore_type, undercloud=undercloud)

    def __getattr__(self, name: str) -> Any:
        if name == "flavour_desc":  # the custom flavour, else the named one's size
            return copy.deepcopy(self._data.get("flavour_desc") or FLAVOURS[self.flavour])
        return super().__getattr__(name)


class Configuration(BaseConfiguration):
    """Containers on Grid'5000 nodes, with Distem."""

    __slots__ = ()
    schema_name = SCHEMA_NAME
    machine_class = MachineConfiguration
    network_class = MachineConfiguration  # networks are plain strings here (see add_network)

    def add_network(self, network: str | None = None, **fields: Any) -> Configuration:  # type: ignore[override]
        """Add what the job reserves besides the nodes: ``"slash_22"``, ``"slash_16"`` (the vnodes'
        addresses) or a KaVLAN type (the nodes are deployed in it). Also ``add_network(type=...)``."""
        value = network if network is not None else fields.pop("type", None)
        if fields:
            raise TypeError(f"add_network takes a network type, not {', '.join(fields)}")
        nets = self._resources().setdefault("networks", [])
        validate(SCHEMA_NAME, value, pointer="/$defs/resources/properties/networks/items",
                 path=f"$.resources.networks[{len(nets)}]")
        if value not in nets:
            nets.append(value)
        return self

    @property
    def networks(self) -> list[str]:  # type: ignore[override]
        """The network types reserved with the nodes (default ``["slash_22"]``)."""
        return list(self._data.get("resources", {}).get("networks", ["slash_22"]))

    # -- what the provider reads ---------------------------------------------------------------
    def machine_specs(self) -> list[dict[str, Any]]:
        """The machine groups with their defaults filled in, ``flavour_desc`` resolved."""
        return [{**m.to_dict(defaults=True), "flavour_desc": m.flavour_desc} for m in self.machines]

    def subnet_type(self) -> str | None:
        """The subnet the vnodes take their addresses from (None: a private vnetwork)."""
        return next((n for n in self.networks if n in SUBNET_TYPES), None)

    def vlan_type(self) -> str | None:
        """The KaVLAN the nodes are deployed in (None: the production network)."""
        return next((n for n in self.networks if n not in SUBNET_TYPES), None)

    # -- cross-field rules ----------------------------------------------------------------------
    def _check(self) -> None:
        nets = self.networks
        for kinds, what in ((SUBNET_TYPES, "subnet"), (("kavlan", "kavlan-local", "kavlan-global"), "KaVLAN")):
            mine = [i for i, n in enumerate(nets) if n in kinds]
            if len(mine) > 1:
                self._fail(f"$.resources.networks[{mine[1]}]", f"one {what} at most ({', '.join(nets)})", "unique")
        subnet = self.subnet_type()
        size = {"slash_22": 2 ** 10, "slash_16": 2 ** 16}.get(subnet or "",
                                                              ipaddress.ip_network(PRIVATE_VNETWORK).num_addresses)
        wanted = sum(m["number"] for m in self.machine_specs())
        if wanted > size - _RESERVED_ADDRESSES:
            self._fail("$.resources.machines", f"{wanted} containers do not fit in the vnetwork "
                       f"({subnet or PRIVATE_VNETWORK}: {size - _RESERVED_ADDRESSES} addresses)", "capacity")
        for i, m in enumerate(self.machine_specs()):
            names = [u["address"] for u in m.get("undercloud") or []]
            for k, name in enumerate(names):
                if not name.startswith(f"{m['cluster']}-"):
                    self._fail(f"$.resources.machines[{i}].undercloud[{k}].address",
                               f"{name} is not a node of cluster {m['cluster']}", "cluster")
                if names.index(name) != k:
                    self._fail(f"$.resources.machines[{i}].undercloud[{k}].address", f"{name} is listed twice",
                               "unique")


#: EnOSlib's facade name
DistemConf = Configuration
