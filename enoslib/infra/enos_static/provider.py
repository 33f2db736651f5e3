"""The Static provider: machines that already exist, turned into roles and networks."""

from __future__ import annotations

from typing import Any

from enoslib.infra.provider import ImmediateProvider, Time
from enoslib.infra.enos_static.configuration import StaticConf
from enoslib.objects import DefaultNetwork, Host, Networks, Roles


class Static(ImmediateProvider):
    """Nothing is reserved and nothing is released: ``init`` maps the configured machines
    and networks to roles, ``destroy`` forgets them. Usable inside ``Providers``."""

    configuration_class = StaticConf

    def __init__(self, provider_conf: StaticConf | dict[str, Any], name: str | None = None) -> None:
        super().__init__(provider_conf, name)
        self._created = False

    def init(self, force_deploy: bool = False, start_time: Time | None = None, **kwargs: Any) -> tuple[Roles, Networks]:
        if start_time is not None:
            self.set_reservation(start_time)
        roles = Roles()
        for machine in self.provider_conf.machines:
            m = machine.to_dict()
            host = Host(m["address"], m.get("alias"), m.get("user"), m.get("keyfile"), m.get("port"), m.get("extra"))
            roles.add_one(host, m["roles"])
        networks = Networks()
        for network in self.provider_conf.networks:
            n = network.to_dict()
            roles_ = n.pop("roles")
            # the documented start/end are DefaultNetwork's ip_start/ip_end
            n["ip_start"], n["ip_end"] = n.pop("start", None), n.pop("end", None)
            networks.add_one(DefaultNetwork(n.pop("cidr"), **n), roles_)
        self._created = True
        return roles, networks

    def destroy(self, wait: bool = False, **kwargs: Any) -> None:
        self._created = False

    def is_created(self) -> bool:
        return self._created
