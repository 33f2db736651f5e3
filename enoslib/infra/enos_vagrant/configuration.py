"""Configuration of the Vagrant provider (fields: ``schemas/vagrant.json``).

EnOSlib's spelling works as is:

>>> from enoslib.infra.enos_vagrant.configuration import (Configuration, MachineConfiguration,
...                                                      NetworkConfiguration)
>>> conf = Configuration.from_settings(backend="libvirt", box="enoslib/debian12")
>>> conf = conf.add_machine_conf(MachineConfiguration(roles=["srv"], flavour="tiny", number=2))
>>> conf = conf.add_network_conf(NetworkConfiguration(roles=["lan"], cidr="192.168.42.0/24"))
>>> [m["name"] for m in conf.finalize().machine_specs()]
['enos-1', 'enos-2']
"""

from __future__ import annotations

import ipaddress
from typing import Any

from enoslib.infra.configuration import BaseConfiguration, ItemConfiguration
from enoslib.infra.enos_vagrant.constants import (ADDRESS_OFFSET, BACKEND_LIBVIRT, DEFAULT_FLAVOUR, FLAVOURS,
                                                  LIBVIRT_MANAGEMENT_NETWORK)

LIBVIRT_MANAGEMENT = ipaddress.ip_network(LIBVIRT_MANAGEMENT_NETWORK)


class MachineConfiguration(ItemConfiguration):
    """``number`` machines (default 1) with these ``roles``, of size ``flavour`` (tiny ...
    extra-large) or ``flavour_desc`` (``{"core": 2, "mem": 1024}``), named
    ``<name_prefix>-<n>``."""

    __slots__ = ()
    schema_name = "vagrant"
    kind = "machines"

    def __init__(self, *, roles: list[str] | None = None, number: int | None = None,
                 name_prefix: str | None = None, flavour: str | None = None,
                 flavour_desc: dict[str, int] | None = None) -> None:
        super().__init__(roles=roles, number=number, name_prefix=name_prefix, flavour=flavour,
                         flavour_desc=flavour_desc)


class NetworkConfiguration(ItemConfiguration):
    """A private network (``cidr``, ``roles``) every machine is attached to."""

    __slots__ = ()
    schema_name = "vagrant"
    kind = "networks"

    def __init__(self, *, roles: list[str] | None = None, cidr: str | None = None) -> None:
        super().__init__(roles=roles, cidr=cidr)


class VagrantConf(BaseConfiguration):
    """Virtual machines run by vagrant on this machine.

    >>> conf = (VagrantConf.from_settings(backend="libvirt", box="enoslib/debian12")
    ...         .add_machine(roles=["server"], flavour="tiny", number=1)
    ...         .add_machine(roles=["client"], flavour_desc={"core": 1, "mem": 256})
    ...         .add_network(roles=["lan"], cidr="192.168.42.0/24"))
    """

    __slots__ = ()
    schema_name = "vagrant"
    machine_class = MachineConfiguration
    network_class = NetworkConfiguration

    def machine_specs(self) -> list[dict[str, Any]]:
        """One entry per machine: ``name``, ``roles``, ``core``, ``mem`` (MiB) and
        ``addresses`` (one per network, in the networks' order)."""
        data = self.to_dict(defaults=True)
        counters: dict[str, int] = {}
        machines = []
        for machine in data["resources"]["machines"]:
            prefix = machine.get("name_prefix") or data["name_prefix"]
            if "flavour_desc" in machine:
                size = machine["flavour_desc"]
            else:
                size = FLAVOURS[machine.get("flavour", DEFAULT_FLAVOUR[0])]
            for _ in range(machine["number"]):
                counters[prefix] = counters.get(prefix, 0) + 1
                machines.append({"name": f"{prefix}-{counters[prefix]}", "roles": list(machine["roles"]),
                                 "core": int(size["core"]), "mem": int(size["mem"])})
        for network in data["resources"]["networks"]:
            cidr = ipaddress.ip_network(network["cidr"], strict=False)
            for index, machine in enumerate(machines):
                machine.setdefault("addresses", []).append(str(cidr.network_address + ADDRESS_OFFSET + index))
        for machine in machines:
            machine.setdefault("addresses", [])
        return machines

    def network_specs(self) -> list[dict[str, Any]]:
        """The networks: ``cidr`` (normalised), ``netmask``, ``roles``."""
        specs = []
        for network in self.to_dict(defaults=True)["resources"]["networks"]:
            cidr = ipaddress.ip_network(network["cidr"], strict=False)
            specs.append({"cidr": str(cidr), "netmask": str(cidr.netmask), "roles": list(network["roles"])})
        return specs

    def _check(self) -> None:
        total = 0
        for i, machine in enumerate(self.machines):
            m = machine.to_dict()
            if "flavour" in m and "flavour_desc" in m:
                self._fail(f"$.resources.machines[{i}].flavour_desc",
                           "give either flavour or flavour_desc, not both", "oneOf")
            total += m.get("number", 1)
        networks = self.to_dict(defaults=True)["resources"]["networks"]
        seen: list[tuple[int, Any]] = []
        for i, network in enumerate(networks):
            here = f"$.resources.networks[{i}].cidr"
            cidr = ipaddress.ip_network(network["cidr"], strict=False)
            if cidr.version != 4:
                self._fail(here, f"{network['cidr']} is not an IPv4 network", "ipv4")
            for j, other in seen:
                if cidr.overlaps(other):
                    self._fail(here, f"{network['cidr']} overlaps networks[{j}] {other}", "disjoint")
            if self.backend == BACKEND_LIBVIRT and cidr.overlaps(LIBVIRT_MANAGEMENT):
                self._fail(here, f"{network['cidr']} overlaps vagrant-libvirt's management network "
                                 f"{LIBVIRT_MANAGEMENT}", "disjoint")
            seen.append((i, cidr))
            # machines take offset .. offset + total - 1; the broadcast address stays free
            if ADDRESS_OFFSET + total > cidr.num_addresses - 1:
                self._fail(here, f"{total} machines do not fit in {network['cidr']} (addresses are "
                                 f"given from the {ADDRESS_OFFSET + 1}th on)", "size")


#: EnOSlib's name of this provider's configuration class
Configuration = VagrantConf
