"""Configuration of the Static provider (fields: ``schemas/static.json``)."""

from __future__ import annotations

from enoslib.infra.configuration import BaseConfiguration


class StaticConf(BaseConfiguration):
    """Existing machines and networks.

    >>> conf = (StaticConf.from_settings()
    ...         .add_machine(roles=["srv"], address="10.0.0.1", user="root")
    ...         .add_network(roles=["lan"], cidr="10.0.0.0/24", gateway="10.0.0.254"))
    """

    __slots__ = ()
    schema_name = "static"

    def _check(self) -> None:
        # DefaultNetwork would otherwise fail at init with a bare ValueError, or
        # silently yield no address at all for reversed bounds
        import ipaddress

        import netaddr

        for i, net in enumerate(self.networks):
            n = net.to_dict()
            here = f"$.resources.networks[{i}]"
            cidr = ipaddress.ip_network(n["cidr"], strict=False)
            for key in ("gateway", "ip_start", "ip_end"):
                if key in n and ipaddress.ip_address(n[key]) not in cidr:
                    self._fail(f"{here}.{key}", f"{n[key]} is outside {n['cidr']}", "inside-cidr")
            if "ip_start" in n and ipaddress.ip_address(n["ip_start"]) > ipaddress.ip_address(n["ip_end"]):
                self._fail(f"{here}.ip_end", f"{n['ip_end']} comes before ip_start {n['ip_start']}", "range")
            if "mac_start" in n and netaddr.EUI(n["mac_start"]) > netaddr.EUI(n["mac_end"]):
                self._fail(f"{here}.mac_end", f"{n['mac_end']} comes before mac_start {n['mac_start']}", "range")

