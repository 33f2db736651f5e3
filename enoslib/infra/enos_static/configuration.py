"""Configuration of the Static provider (fields: ``schemas/static.json``).

EnOSlib's spelling works as is:

>>> from enoslib.infra.enos_static.configuration import (Configuration, MachineConfiguration,
...                                                     NetworkConfiguration)
>>> conf = Configuration()
>>> conf = conf.add_machine_conf(MachineConfiguration(roles=["srv"], address="10.0.0.1", alias="srv-1"))
>>> conf = conf.add_network_conf(NetworkConfiguration(roles=["lan"], cidr="10.0.0.0/24",
...                                                   start="10.0.0.10", end="10.0.0.20"))
>>> conf.finalize().machines[0].alias, conf.networks[0].start
('srv-1', '10.0.0.10')
"""

from __future__ import annotations

from typing import Any

from enoslib.infra.configuration import BaseConfiguration, ItemConfiguration


class MachineConfiguration(ItemConfiguration):
    """An existing machine: ``address`` (what SSH connects to), ``roles`` and optionally
    ``alias``, ``user``, ``keyfile``, ``port`` and ``extra`` (per-host variables)."""

    __slots__ = ()
    schema_name = "static"
    kind = "machines"

    def __init__(self, *, address: str | None = None, roles: list[str] | None = None, alias: str | None = None,
                 user: str | None = None, keyfile: str | None = None, port: int | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(address=address, roles=roles, alias=alias, user=user, keyfile=keyfile, port=port,
                         extra=extra)


class NetworkConfiguration(ItemConfiguration):
    """An existing network: ``cidr``, ``roles``, optionally ``gateway``, ``dns`` and the range
    ``start``-``end`` of addresses experimenters may take (``mac_start``/``mac_end`` likewise)."""

    __slots__ = ()
    schema_name = "static"
    kind = "networks"

    def __init__(self, *, roles: list[str] | None = None, start: str | None = None, end: str | None = None,
                 cidr: str | None = None, gateway: str | None = None, dns: str | None = None,
                 mac_start: str | None = None, mac_end: str | None = None) -> None:
        super().__init__(roles=roles, start=start, end=end, cidr=cidr, gateway=gateway, dns=dns,
                         mac_start=mac_start, mac_end=mac_end)


class StaticConf(BaseConfiguration):
    """Existing machines and networks.

    >>> conf = (StaticConf.from_settings()
    ...         .add_machine(roles=["srv"], address="10.0.0.1", user="root")
    ...         .add_network(roles=["lan"], cidr="10.0.0.0/24", gateway="10.0.0.254"))
    """

    __slots__ = ()
    schema_name = "static"
    machine_class = MachineConfiguration
    network_class = NetworkConfiguration

    def _check(self) -> None:
        # DefaultNetwork would otherwise fail at init with a bare ValueError, or
        # silently yield no address at all for reversed bounds
        import ipaddress

        import netaddr

        for i, net in enumerate(self.networks):
            n = net.to_dict()
            here = f"$.resources.networks[{i}]"
            cidr = ipaddress.ip_network(n["cidr"], strict=False)
            for key in ("gateway", "start", "end"):
                if key in n and ipaddress.ip_address(n[key]) not in cidr:
                    self._fail(f"{here}.{key}", f"{n[key]} is outside {n['cidr']}", "inside-cidr")
            if "start" in n and ipaddress.ip_address(n["start"]) > ipaddress.ip_address(n["end"]):
                self._fail(f"{here}.end", f"{n['end']} comes before start {n['start']}", "range")
            if "mac_start" in n and netaddr.EUI(n["mac_start"]) > netaddr.EUI(n["mac_end"]):
                self._fail(f"{here}.mac_end", f"{n['mac_end']} comes before mac_start {n['mac_start']}", "range")


#: EnOSlib's name of this provider's configuration class
Configuration = StaticConf
