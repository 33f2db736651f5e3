"""Configuration of the OpenStack provider (fields: ``schemas/openstack.json``).

>>> conf = (OpenstackConf.from_settings(key_name="mykey", image="debian-12", user="debian",
...                                     rc_file="./openrc.sh")
...         .add_machine(roles=["server"], flavour="m1.small", number=2)
...         .add_network("lan"))
>>> conf.finalize().machines[0].flavour, conf.networks
('m1.small', ['lan'])

The Chameleon configurations (:mod:`enoslib.infra.enos_chameleonkvm`,
:mod:`enoslib.infra.enos_chameleonbaremetal`) are this class on their own schema.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from enoslib.infra.configuration import BaseConfiguration, ItemConfiguration


class MachineConfiguration(ItemConfiguration):
    """``number`` servers of Nova flavor ``flavour`` with these ``roles``."""

    __slots__ = ()
    schema_name = "openstack"
    kind = "machines"

    def __init__(self, *, roles: list[str] | None = None, flavour: str | None = None,
                 number: int | None = None) -> None:
        super().__init__(roles=roles, flavour=flavour, number=number)


class OpenstackConf(BaseConfiguration):
    """Servers by role, flavour and count, on one private network; ``networks`` are the role
    names of that network."""

    __slots__ = ()
    schema_name = "openstack"
    machine_class = MachineConfiguration
    network_class = MachineConfiguration  # unused: networks are role names (strings)

    @property
    def networks(self) -> list[str]:  # type: ignore[override]
        """The role names of the experiment's network."""
        return list(self._data.get("resources", {}).get("networks", []))

    def add_network(self, *roles: str, **fields: Any) -> "OpenstackConf":  # type: ignore[override]
        """Give the experiment's network more role names (``add_network("lan")``); keyword
        fields are refused with the schema's error (networks are role names here)."""
        for role in roles:
            self._add("networks", role)
        if fields or not roles:
            self._add("networks", fields)  # not a string: the schema names the path and rule
        return self

    def add_network_conf(self, network: Any) -> "OpenstackConf":  # type: ignore[override]
        return self.add_network(network)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "networks":
            before = self._resources().get("networks", [])
            self._resources()["networks"] = []
            try:
                self.add_network(*value)
            except BaseException:
                self._resources()["networks"] = before
                raise
            return
        super().__setattr__(name, value)

    # -- what the provider reads ---------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """Every top-level field with the schema's defaults filled in."""
        return self.to_dict(defaults=True)

    def server_specs(self) -> list[dict[str, Any]]:
        """One entry per server, in a stable order: ``name`` (``<prefix>-<n>``), ``roles``,
        ``flavour``, ``group`` (index of its machine group)."""
        s = self.settings()
        servers = []
        for group, machine in enumerate(s["resources"]["machines"]):
            for _ in range(machine["number"]):
                servers.append({"name": f"{s['prefix']}-{len(servers) + 1}", "roles": list(machine["roles"]),
                                "flavour": machine["flavour"], "group": group})
        return servers

    def _check(self) -> None:
        s = self.settings()
        cidr = s.get("subnet", {}).get("cidr")
        pool = s.get("allocation_pool")
        if cidr and pool:
            net = ipaddress.ip_network(cidr, strict=False)
            for key in ("start", "end"):
                if ipaddress.ip_address(pool[key]) not in net:
                    self._fail(f"$.allocation_pool.{key}", f"{pool[key]} is outside the subnet {cidr}", "inside-cidr")
            if ipaddress.ip_address(pool["start"]) > ipaddress.ip_address(pool["end"]):
                self._fail("$.allocation_pool.end", f"{pool['end']} comes before start {pool['start']}", "range")


#: EnOSlib's name of this provider's configuration class
Configuration = OpenstackConf
