"""Configuration of the VMonG5k provider (fields: ``schemas/vmong5k.json``).

>>> conf = (Configuration.from_settings(job_name="vms", walltime="1:00:00")
...         .add_machine(roles=["server"], cluster="paravance", number=4, flavour="large")
...         .add_machine(roles=["client"], cluster="paravance", flavour_desc={"core": 2, "mem": 3000}))
>>> conf.finalize().machines[0].flavour_desc, conf.machines[1].flavour, conf.networks
({'core': 4, 'mem': 4096}, 'custom', ['enos_network'])
>>> Configuration.from_dictionary(conf.to_dict()) == conf
True

``undercloud`` takes :class:`~enoslib.objects.Host` objects (the nodes to start the VMs on,
for :func:`~enoslib.infra.enos_vmong5k.provider.start_virtualmachines`); they are kept as
dictionaries in the configuration and given back as hosts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from enoslib.infra.configuration import BaseConfiguration, ItemConfiguration
from enoslib.infra.enos_vmong5k.constants import DEFAULT_FLAVOUR, FLAVOURS
from enoslib.objects import Host

__all__ = ["Configuration", "MachineConfiguration", "VMonG5kConf"]


def _host_dicts(hosts: Iterable[Any]) -> list[Any]:
    out = []
    for h in hosts:
        if isinstance(h, Host):
            d = h.to_dict()
            d.pop("net_devices", None)
            out.append({k: v for k, v in d.items() if v is not None and v != {}})
        else:
            out.append(h)  # a dict, or anything else the schema refuses with its path
    return out


class MachineConfiguration(ItemConfiguration):
    """``number`` VMs of one flavour with these ``roles``, on nodes of ``cluster`` (or on the
    given ``undercloud`` hosts), with these ``macs`` (default: taken from the subnet).

    ``flavour`` is one of the ``FLAVOURS`` of :mod:`enoslib.infra.enos_vmong5k.constants` (default
    ``tiny``); ``flavour_desc`` (``{"core": 2, "mem": 2048, "disk": 10}``: vcpus, MiB, an extra
    disk in GiB) describes a custom one instead.
    """

    __slots__ = ()
    schema_name = "vmong5k"
    kind = "machines"

    def __init__(self, *, roles: list[str] | None = None, number: int | None = None,
                 flavour: str | None = None, flavour_desc: Mapping[str, int] | None = None,
                 vcore_type: str | None = None, cluster: str | None = None,
                 undercloud: Iterable[Any] | None = None, macs: Iterable[str] | None = None,
                 extra_devices: str | None = None) -> None:
        super().__init__(roles=roles, number=number, flavour=flavour,
                         flavour_desc=dict(flavour_desc) if flavour_desc is not None else None,
                         vcore_type=vcore_type, cluster=cluster,
                         undercloud=list(undercloud) if undercloud is not None else None,
                         macs=list(macs) if macs is not None else None, extra_devices=extra_devices)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "undercloud" and value is not None:
            value = _host_dicts(value)
        if name == "macs" and value is not None:
            value = [str(m) for m in value]
        super().__setattr__(name, value)

    def __getattr__(self, name: str) -> Any:
        if name == "flavour":
            if "flavour" in self._data:
                return self._data["flavour"]
            return "custom" if "flavour_desc" in self._data else DEFAULT_FLAVOUR[0]
        if name == "flavour_desc":
            if "flavour_desc" in self._data:
                return dict(self._data["flavour_desc"])
            flavour = self._data.get("flavour", DEFAULT_FLAVOUR[0])
            return dict(FLAVOURS.get(flavour, DEFAULT_FLAVOUR[1]))
        if name == "undercloud":
            return [Host.from_dict(d) for d in self._data.get("undercloud", [])]
        return super().__getattr__(name)


class Configuration(BaseConfiguration):
    """VMs by role, flavour and count on Grid'5000 nodes; ``networks`` are the role names of
    the VMs' network (the reserved subnets). ``VMonG5kConf`` is this class."""

    __slots__ = ()
    schema_name = "vmong5k"
    machine_class = MachineConfiguration
    network_class = MachineConfiguration  # unused: networks are role names (strings)

    @property
    def networks(self) -> list[str]:  # type: ignore[override]
        """The role names of the VMs' network (default ``["enos_network"]``)."""
        nets = self._data.get("resources", {}).get("networks")
        return list(nets) if nets is not None else ["enos_network"]

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "networks":
            from enoslib.infra.configuration import validate

            value = list(value)
            validate(self.schema_name, value, pointer="/properties/resources/properties/networks",
                     path="$.resources.networks")
            self._resources()["networks"] = value
            return
        if name == "job_type" and isinstance(value, str):
            value = [value]
        super().__setattr__(name, value)

    def add_machine(self, **machine: Any) -> Configuration:
        """Add a group of VMs (fields of :class:`MachineConfiguration`); ``undercloud`` may hold
        :class:`~enoslib.objects.Host` objects."""
        if machine.get("undercloud") is not None and not isinstance(machine["undercloud"], (str, Mapping)):
            machine["undercloud"] = _host_dicts(machine["undercloud"])
        if machine.get("macs") is not None and not isinstance(machine["macs"], str):
            machine["macs"] = [str(m) for m in machine["macs"]]
        return self._add("machines", machine)

    def add_machine_conf(self, machine: Any) -> Configuration:
        """Add a :class:`MachineConfiguration` (or a dict)."""
        if isinstance(machine, Mapping):
            return self.add_machine(**machine)
        return super().add_machine_conf(machine)

    def _check(self) -> None:
        for i, m in enumerate(self._data.get("resources", {}).get("machines", [])):
            where = f"$.resources.machines[{i}]"
            if "flavour" in m and "flavour_desc" in m:
                self._fail(where, "give flavour or flavour_desc, not both", "oneOf")
            if "cluster" not in m and not m.get("undercloud"):
                self._fail(where, "'cluster' (or 'undercloud') is required", "required")
            macs = m.get("macs")
            if macs and len(macs) < m.get("number", 1):
                self._fail(f"{where}.macs", f"{len(macs)} MACs for {m.get('number', 1)} VMs", "minItems")


VMonG5kConf = Configuration
