"""Configuration of the Local provider (fields: ``schemas/local.json``)."""

from __future__ import annotations

from typing import Any

import ipaddress

import netaddr

from enoslib.errors import EnosConfigError
from enoslib.infra.configuration import BaseConfiguration, ItemConfiguration


class MachineConfiguration(ItemConfiguration):
    """``number`` hosts (default 1) with these ``roles``, attached to the ``networks`` (ids;
    default: every network)."""

    __slots__ = ()
    schema_name = "local"
    kind = "machines"

    def __init__(self, *, roles: list[str] | None = None, number: int | None = None,
                 networks: list[str] | None = None) -> None:
        super().__init__(roles=roles, number=number, networks=networks)


class NetworkConfiguration(ItemConfiguration):
    """A local network (a bridge): ``id`` machines refer to, ``roles``, private IPv4 ``cidr``."""

    __slots__ = ()
    schema_name = "local"
    kind = "networks"

    def __init__(self, *, id: str | None = None, roles: list[str] | None = None, cidr: str | None = None) -> None:
        super().__init__(id=id, roles=roles, cidr=cidr)


class LocalConf(BaseConfiguration):
    """Hosts by role and count on this machine, attached to one or more local networks.

    >>> conf = (LocalConf.from_settings(name="lat")
    ...         .add_network(id="n1", roles=["lan"], cidr="10.42.0.0/24")
    ...         .add_machine(roles=["server"], number=2)
    ...         .add_machine(roles=["client"], number=2))
    """

    __slots__ = ()
    schema_name = "local"
    machine_class = MachineConfiguration
    network_class = NetworkConfiguration

    def network_specs(self) -> list[dict[str, Any]]:
        """The networks, with the schema's default network when none was given."""
        return self.to_dict(defaults=True)["resources"]["networks"]

    def host_specs(self) -> list[dict[str, Any]]:
        """One entry per host: ``name`` (``<first role>-<n>``), ``roles``, ``networks`` (ids)."""
        all_ids = [n["id"] for n in self.network_specs()]
        counters: dict[str, int] = {}
        hosts = []
        for machine in self.to_dict(defaults=True)["resources"]["machines"]:
            prefix = machine["roles"][0]
            for _ in range(machine["number"]):
                counters[prefix] = counters.get(prefix, 0) + 1
                hosts.append({
                    "name": f"{prefix}-{counters[prefix]}",
                    "roles": machine["roles"],
                    "networks": machine.get("networks") or all_ids,
                })
        return hosts

    def _check(self) -> None:
        networks = self.network_specs()
        ids = [n["id"] for n in networks]
        for i, n in enumerate(networks):
            if ids.index(n["id"]) != i:
                raise EnosConfigError(
                    f"invalid local configuration at $.resources.networks[{i}].id: "
                    f"network id {n['id']!r} is used twice (rule: unique)",
                    path=f"$.resources.networks[{i}].id", rule="unique",
                )
            cidr = netaddr.IPNetwork(n["cidr"])
            if cidr.version != 4 or not ipaddress.ip_network(str(cidr.cidr)).is_private:
                raise EnosConfigError(
                    f"invalid local configuration at $.resources.networks[{i}].cidr: "
                    f"{n['cidr']} is not a private IPv4 range (rule: private)",
                    path=f"$.resources.networks[{i}].cidr", rule="private",
                )
            for j, other in enumerate(networks[:i]):
                if _overlap(cidr, netaddr.IPNetwork(other["cidr"])):
                    raise EnosConfigError(
                        f"invalid local configuration at $.resources.networks[{i}].cidr: "
                        f"{n['cidr']} overlaps networks[{j}] {other['cidr']} (rule: disjoint)",
                        path=f"$.resources.networks[{i}].cidr", rule="disjoint",
                    )
        for i, machine in enumerate(self.machines):
            for k, net in enumerate(machine.to_dict().get("networks", [])):
                if net not in ids:
                    raise EnosConfigError(
                        f"invalid local configuration at $.resources.machines[{i}].networks[{k}]: "
                        f"no network with id {net!r} (known: {', '.join(ids)}) (rule: reference)",
                        path=f"$.resources.machines[{i}].networks[{k}]", rule="reference",
                    )
        hosts = self.host_specs()
        for i, n in enumerate(networks):
            attached = sum(n["id"] in h["networks"] for h in hosts)
            room = netaddr.IPNetwork(n["cidr"]).size - 3  # network, broadcast, bridge
            if attached > room:
                raise EnosConfigError(
                    f"invalid local configuration at $.resources.networks[{i}].cidr: "
                    f"{attached} hosts do not fit in {n['cidr']} ({room} addresses) (rule: size)",
                    path=f"$.resources.networks[{i}].cidr", rule="size",
                )


#: the configuration class of this provider under EnOSlib's conventional name
Configuration = LocalConf


def _overlap(a: netaddr.IPNetwork, b: netaddr.IPNetwork) -> bool:
    return a.first <= b.last and b.first <= a.last
