"""The Local provider: a multi-host testbed on this machine, no account needed.

Each host is a Linux network namespace running its own sshd (with its own hostname, ``/root``
and ``/tmp``); each network a Linux bridge. Hosts reach each other and this machine over
real IP, so Ansible, SSH, ``tc`` and ``ping`` behave as on a testbed. Root is needed for
namespaces; without root, ``backend="loopback"`` runs each host as an sshd on a 127.0.0.1 port.

>>> conf = en.LocalConf.from_settings(name="demo").add_machine(roles=["srv"], number=2)
>>> with en.Local(conf) as (roles, networks):
...     en.run_command("hostname", roles=roles)
"""

from __future__ import annotations

import logging
import os
from typing import Any

from enoslib.errors import EnosProviderError
from enoslib.infra.local.configuration import LocalConf
from enoslib.infra.provider import ImmediateProvider, Time
from enoslib.objects import DefaultNetwork, Host, IPAddress, NetDevice, Networks, Roles

logger = logging.getLogger(__name__)

# Host.extra key marking the hosts of the 'loopback' backend: they share this machine's
# network stack and own no network device (network emulation refuses them)
LOOPBACK_EXTRA = "enoslib_local_backend"


class Local(ImmediateProvider):
    """Hosts on this machine, by role and count. ``init`` reuses the hosts of a previous run
    with the same ``name`` when their shape matches; ``destroy`` removes every namespace,
    bridge, veth and sshd it made, and nothing else.

    With ``backend="loopback"`` the hosts share this machine's network stack: they report
    no ``net_devices`` and carry ``extra[LOOPBACK_EXTRA] == "loopback"`` (network emulation
    refuses them rather than shape the machine's own interfaces)."""

    configuration_class = LocalConf

    def __init__(self, provider_conf: LocalConf | dict[str, Any], name: str | None = None) -> None:
        super().__init__(provider_conf, name)
        self.lab: Any = None

    @property
    def backend(self) -> str:
        backend = self.provider_conf.backend
        if backend == "auto":
            return "netns" if os.geteuid() == 0 else "loopback"
        if backend == "netns" and os.geteuid() != 0:
            raise EnosProviderError(
                "the Local provider's 'netns' backend needs root (network namespaces and bridges); "
                "run as root, or set backend='loopback' (hosts as sshd on 127.0.0.1 ports), "
                "or use the Static provider for machines you already have"
            )
        return backend

    def _lab_class(self) -> Any:
        from enoslib.nodes import LoopbackLab, NamespaceLab

        return NamespaceLab if self.backend == "netns" else LoopbackLab

    def init(self, force_deploy: bool = False, start_time: Time | None = None, **kwargs: Any) -> tuple[Roles, Networks]:
        if start_time is not None:
            self.set_reservation(start_time)
        conf: LocalConf = self.provider_conf  # type: ignore[assignment]
        lab_class = self._lab_class()
        networks_spec = conf.network_specs()
        hosts_spec = conf.host_specs()
        lab = self.lab or lab_class.load(conf.name)
        if lab is not None and not self._matches(lab, networks_spec, hosts_spec):
            logger.info("local testbed %r changed shape: recreating it", conf.name)
            lab.destroy()
            lab = None
        if lab is None:
            # leftovers of a crashed run with this name would clash with the new resources;
            # the name is matched exactly, never as a prefix of another experiment's
            lab_class.cleanup_all(conf.name)
            lab = lab_class(name=conf.name)
        self.lab = lab
        for net in networks_spec:
            if net["id"] not in lab.bridges:
                lab.add_bridge(net["id"], net["cidr"])
        by_networks: dict[tuple[str, ...], list[str]] = {}
        for h in hosts_spec:
            if h["name"] not in lab.nodes:
                by_networks.setdefault(tuple(h["networks"]), []).append(h["name"])
        for nets, names in by_networks.items():
            lab.add_nodes(names, networks=list(nets))
        if force_deploy:
            for h in hosts_spec:
                lab.reset_node(h["name"])
        lab.wait_ssh()
        return self._roles_networks(hosts_spec, networks_spec)

    @staticmethod
    def _matches(lab: Any, networks_spec: list[dict[str, Any]], hosts_spec: list[dict[str, Any]]) -> bool:
        bridges = {name: b.cidr for name, b in lab.bridges.items()}
        if bridges != {n["id"]: n["cidr"] for n in networks_spec}:
            return False
        nodes = {name: list(info.interfaces) for name, info in lab.nodes.items()}
        return nodes == {h["name"]: list(h["networks"]) for h in hosts_spec}

    def _roles_networks(self, hosts_spec: list[dict[str, Any]], networks_spec: list[dict[str, Any]]) -> tuple[Roles, Networks]:
        lab = self.lab
        networks = Networks()
        by_id: dict[str, DefaultNetwork] = {}
        for net in networks_spec:
            bridge = lab.bridges[net["id"]]
            by_id[net["id"]] = DefaultNetwork(net["cidr"], gateway=bridge.gateway, name=net["id"])
            networks.add_one(by_id[net["id"]], net["roles"])
        roles = Roles()
        # a loopback node's addresses are labels only: no device of its own holds them
        loopback = getattr(lab, "kind", None) == "loopback"
        for h in hosts_spec:
            info = lab.nodes[h["name"]]
            devices = [] if loopback else [
                NetDevice(i["ifname"], frozenset({IPAddress(i["address"], by_id[net_id])}), mac=i.get("mac"))
                for net_id, i in info.interfaces.items()
            ]
            # lab hosts get fresh host keys each time they are made: no known_hosts check
            extra = {"ansible_python_interpreter": "/usr/bin/python3", "ansible_host_key_checking": False}
            if loopback:
                extra[LOOPBACK_EXTRA] = "loopback"
            host = Host(
                info.address,
                alias=info.name,
                user=info.user,
                keyfile=info.keyfile,
                port=info.port,
                extra=extra,
                net_devices=devices,
            )
            roles.add_one(host, h["roles"])
        return roles, networks

    def destroy(self, wait: bool = False, **kwargs: Any) -> None:
        lab = self.lab or self._lab_class().load(self.provider_conf.name)
        if lab is not None:
            lab.destroy()
        self.lab = None

    def is_created(self) -> bool:
        return (self.lab or self._lab_class().load(self.provider_conf.name)) is not None
