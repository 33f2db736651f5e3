"""What hosts really look like: network interfaces (``sync_info``) and inventories.

``sync_info`` reads every host's interfaces with one fast-path command, ``ip -j -d addr``
(iproute2 >= 4.14, JSON), instead of Ansible's fact gathering: on 50 hosts that is one round
trip (tens of ms on warm connections) instead of a Python run per host (seconds). Hosts where
``ip -j`` is unavailable fall back to Ansible facts.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any, Iterable, Mapping

from enoslib.api.hosts import RolesLike, as_roles
from enoslib.api.results import Results
from enoslib.objects import Host, IPAddress, NetDevice, Network, Roles

_IP_JSON = "ip -j -d addr show"


def _flatten(
    networks: Mapping[str, Iterable[Network]] | Iterable[Network] | None,
) -> list[tuple[str | None, Network]]:
    if networks is None:
        return []
    if isinstance(networks, Mapping):
        return [(role, n) for role, nets in networks.items() for n in nets]
    return [(None, n) for n in networks]


def _network_of(ip: str, networks: list[tuple[str | None, Network]]) -> Network | None:
    # the most specific network wins (a /24 inside a /16)
    matching = [n for _, n in networks if ip in n]
    return max(matching, key=lambda n: n.network.prefixlen) if matching else None


def devices_from_ip_json(
    data: list[dict[str, Any]], networks: list[tuple[str | None, Network]]
) -> set[NetDevice]:
    """NetDevices from ``ip -j -d addr`` output, addresses mapped to ``networks``."""
    devices = set()
    for link in data:
        name = link.get("ifname")
        if not name:
            continue
        addresses = frozenset(
            IPAddress(f"{a['local']}/{a.get('prefixlen', 32)}", _network_of(a["local"], networks))
            for a in link.get("addr_info", [])
            if a.get("family") in ("inet", "inet6") and a.get("local")
        )
        link_type = link.get("link_type")
        kind = (link.get("linkinfo") or {}).get("info_kind") or (
            "loopback" if link_type == "loopback" else "physical"
        )
        mac = link.get("address") if link_type == "ether" else None
        devices.add(NetDevice(name=name, addresses=addresses, mac=mac, kind=kind))
    return devices


def devices_from_facts(
    facts: Mapping[str, Any], networks: list[tuple[str | None, Network]]
) -> set[NetDevice]:
    """NetDevices from Ansible facts (``ansible_interfaces`` + ``ansible_<ifname>``)."""
    devices = set()
    for name in facts.get("ansible_interfaces", []):
        fact = facts.get("ansible_" + name.replace("-", "_").replace(".", "_"), {})
        entries = []
        for v4 in [fact.get("ipv4")] + list(fact.get("ipv4_secondaries", [])):
            if v4 and v4.get("address"):
                entries.append(f"{v4['address']}/{v4.get('prefix', v4.get('netmask', '32'))}")
        for v6 in fact.get("ipv6", []):
            if v6.get("address"):
                entries.append(f"{v6['address']}/{v6.get('prefix', '128')}")
        addresses = frozenset(IPAddress(a, _network_of(a.split("/")[0], networks)) for a in entries)
        kind = fact.get("type", "physical")
        kind = {"ether": "physical", "loopback": "loopback"}.get(kind, kind)
        devices.add(
            NetDevice(name=name, addresses=addresses, mac=fact.get("macaddress"), kind=kind)
        )
    return devices


def _var_name(role: str) -> str:
    return re.sub(r"\W", "_", role)


def _rebuild(
    host: Host, devices: set[NetDevice], networks: list[tuple[str | None, Network]]
) -> Host:
    new = Host(
        host.address, host.alias, host.user, host.keyfile, host.port, dict(host.extra), devices
    )
    # <network role>_dev / _ip: handy in commands ("ping {{ n2_ip }}") and playbooks
    for role, net in networks:
        if role is None:
            continue
        for dev in sorted(devices, key=lambda d: d.name):
            found = dev.filter(net)
            if found:
                new.extra.setdefault(f"{_var_name(role)}_dev", dev.name)
                new.extra.setdefault(f"{_var_name(role)}_ip", sorted(a.ip for a in found)[0])
                break
    return new


def sync_info(
    roles: RolesLike,
    networks: Mapping[str, Iterable[Network]] | Iterable[Network] | None = None,
    *,
    on_error_continue: bool = False,
) -> Roles:
    """New Roles whose hosts have ``net_devices`` filled from the hosts themselves.

    Every interface is listed; each address is linked to the (most specific) network of
    ``networks`` containing it. For each network role, hosts also get the extra variables
    ``<role>_dev`` (interface name) and ``<role>_ip``. Unreachable hosts raise unless
    ``on_error_continue`` (they are then kept unchanged).
    """
    from enoslib.api.commands import exec_commands

    r = as_roles(roles)
    nets = _flatten(networks)
    hosts = list(r.all())
    results = exec_commands(dict.fromkeys(hosts, _IP_JSON), task="sync_info")
    by_alias = {res.host: res for res in results}
    new: dict[Host, Host] = {}
    fallback = []
    for h in hosts:
        res = by_alias[h.alias]
        if res.status == "ok":
            try:
                new[h] = _rebuild(h, devices_from_ip_json(json.loads(res.stdout), nets), nets)
                continue
            except (ValueError, KeyError, TypeError):
                pass
        if res.status != "unreachable":
            fallback.append(h)
    if fallback:  # no iproute2 JSON there: ask Ansible
        from enoslib.api._actions import gather_facts

        facts = gather_facts(fallback, gather_subset=["network"], on_error_continue=True)
        for h in fallback:
            if h.alias in facts:
                new[h] = _rebuild(h, devices_from_facts(facts[h.alias], nets), nets)
    missing = [h for h in hosts if h not in new]
    if missing and not on_error_continue:
        Results(res for res in results if res.host in {h.alias for h in missing}).raise_for_status()
        from enoslib.errors import EnosFailedHostsError

        raise EnosFailedHostsError(hosts=[h.alias for h in missing], results=results)
    return Roles({role: [new.get(h, h) for h in members] for role, members in r.items()})


def _ini_value(value: Any) -> str:
    if isinstance(value, bool):
        value = "True" if value else "False"
    elif isinstance(value, (dict, list)):
        value = json.dumps(value)
    return shlex.quote(str(value))


def generate_inventory(
    roles: RolesLike,
    networks: Mapping[str, Iterable[Network]] | Iterable[Network] | None = None,
    inventory_path: str | Path = "hosts.ini",
    check_networks: bool = False,
) -> Path:
    """Write an INI inventory for running ``ansible-playbook`` by hand.

    Each role is a group; each host line carries its connection variables, its ``extra``
    and enoslib's ssh arguments (so hand-run Ansible reuses the same multiplexed
    connections). ``check_networks=True`` runs :func:`sync_info` first.
    """
    from enoslib.api.ssh import ansible_ssh_args

    r = as_roles(roles)
    if check_networks:
        r = sync_info(r, networks)
    lines: list[str] = []
    for role, hosts in r.items():
        lines.append(f"[{role}]")
        for h in hosts:
            variables = {**h.ansible_vars(), "ansible_ssh_args": ansible_ssh_args(h)}
            variables.pop("ansible_ssh_common_args", None)
            fields = [shlex.quote(h.alias)] + [f"{k}={_ini_value(v)}" for k, v in variables.items()]
            lines.append(" ".join(fields))
        lines.append("")
    path = Path(inventory_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path
