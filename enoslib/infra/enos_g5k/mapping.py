"""From running jobs to the configuration's hosts and networks, deterministically.

Whatever order OAR lists nodes, vlans and subnets in, the same jobs give the same mapping:
nodes are taken in natural order (explicit ``servers`` first, then every cluster group gets its
``min``, then groups are filled up to ``nodes`` in configuration order); vlans in numeric order,
subnets in address order, networks in configuration order; a node's NICs in reference order
(the mounted one first, then by device name).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from enoslib.errors import EnosConfigError, EnosProviderError
from enoslib.infra.enos_g5k import oar
from enoslib.infra.enos_g5k.configuration import KAVLAN_TYPES, NETWORK_ROLE_PROD, G5kConf
from enoslib.infra.enos_g5k.objects import (
    G5kHost,
    G5kNetwork,
    G5kProdNetwork,
    G5kSubnetNetwork,
    G5kVlanNetwork,
    usable_adapters,
)
from enoslib.infra.enos_g5k.planning import vlan_type
from enoslib.infra.enos_g5k.reference import Reference, natural_sort

logger = logging.getLogger(__name__)

PROD_ROLE = NETWORK_ROLE_PROD  # role of the implicit production networks


class NotEnoughNodesError(EnosProviderError):
    """A machine group got (or could deploy) fewer nodes than its ``min``."""


def nics_of(node: dict[str, Any]) -> list[tuple[str, str]]:
    """Usable NICs of a node from the reference: (device, name), the mounted one first."""
    usable = usable_adapters(node.get("network_adapters", []))
    usable.sort(key=lambda a: (not a.get("mounted"), a.get("device", "")))
    return [(a["device"], a.get("name") or a["device"]) for a in usable]


def sites_from_jobs(conf: G5kConf, jobs: Sequence[dict[str, Any]], ref: Reference) -> dict[str, str]:
    """``cluster -> site`` from the nodes of existing jobs (reloading by job ids)."""
    found = {f.split(".")[0].rsplit("-", 1)[0]: f.split(".")[1] for j in jobs for f in oar.job_nodes(j)}
    for m in conf.machine_specs():
        if m["cluster"] not in found:
            found[m["cluster"]] = m.get("site") or ref.cluster_site(m["cluster"])
    return found


def pick_nodes(specs: Sequence[dict[str, Any]], pools: dict[str, list[str]],
               cluster_site: dict[str, str]) -> dict[int, list[str]]:
    """Machine group index -> its node FQDNs. Raises :class:`NotEnoughNodesError` when a group
    gets fewer than its ``min``."""
    free = {s: list(nodes) for s, nodes in pools.items()}
    picked: dict[int, list[str]] = {i: [] for i in range(len(specs))}

    def take(i: int, count: int, allowed: Callable[[str], bool]) -> None:
        site = cluster_site[specs[i]["cluster"]]
        for node in [n for n in free.get(site, []) if allowed(n)][:max(0, count)]:
            free[site].remove(node)
            picked[i].append(node)

    for i, m in enumerate(specs):
        if m.get("servers"):
            take(i, m["nodes"], lambda n, s=frozenset(m["servers"]): n in s)
    cluster_groups = [i for i, m in enumerate(specs) if not m.get("servers")]
    for phase in ("min", "nodes"):
        for i in cluster_groups:
            m = specs[i]
            take(i, m[phase] - len(picked[i]), lambda n, c=m["cluster"]: n.split(".")[0].rsplit("-", 1)[0] == c)
    for i, m in enumerate(specs):
        if len(picked[i]) < m["min"]:
            raise NotEnoughNodesError(
                f"$.resources.machines[{i}] ({m['cluster']}, roles {m['roles']}): got {len(picked[i])} "
                f"node(s), at least {m['min']} needed")
        if len(picked[i]) < m["nodes"]:
            logger.warning("machines[%d] (%s): %d of %d node(s) (min %d allows it)", i, m["cluster"],
                           len(picked[i]), m["nodes"], m["min"])
    return picked


def prod_network(ref: Reference, net_id: str, roles: list[str], site: str) -> G5kProdNetwork:
    """The production network of ``site`` as a network of the configuration ``net_id`` and ``roles``."""
    s = ref.site(site)
    default = (s.get("kavlans") or {}).get("default") or {}
    return G5kProdNetwork(roles, net_id, site, cidr=default.get("network"), gateway=default.get("gateway"),
                          dns=ref.dns(site), ipv6=s.get("ipv6"), client=ref.client)


def network(ref: Reference, n: dict[str, Any], vlans: list[str], subnets: list[str], path: str,
            used: set[str]) -> G5kNetwork:
    """The concrete network for configuration network ``n``: the first vlan of its type (or
    /22 subnets) of the site's job not given to an earlier network (``used``)."""
    site = n["site"]
    if n["type"] == "prod":
        return prod_network(ref, n["id"], n["roles"], site)
    s = ref.site(site)
    if n["type"] in KAVLAN_TYPES:
        mine = [v for v in sorted(set(vlans), key=int) if vlan_type(v) == n["type"] and f"{site}/vlan/{v}" not in used]
        if not mine:
            raise EnosProviderError(f"{path}: the job on {site} holds no {n['type']} vlan for network {n['id']!r} "
                                    f"(vlans: {vlans or 'none'}); is the reloaded job the right one?")
        info = (s.get("kavlans") or {}).get(mine[0]) or {}
        used.add(f"{site}/vlan/{mine[0]}")
        return G5kVlanNetwork(n["roles"], n["id"], site, mine[0], vlan_type=n["type"], cidr=info.get("network"),
                              gateway=info.get("gateway"), dns=ref.dns(site), ipv6=s.get("ipv6"), client=ref.client)
    count = 1 if n["type"] == "slash_22" else 64
    mine = [x for x in sorted(set(subnets), key=_subnet_key) if f"{site}/subnet/{x}" not in used][:count]
    if len(mine) < count:
        raise EnosProviderError(f"{path}: the job on {site} holds {len(mine)} free /22 subnet(s), "
                                f"{count} needed for network {n['id']!r}")
    used.update(f"{site}/subnet/{x}" for x in mine)
    return G5kSubnetNetwork(n["roles"], n["id"], site, mine, kind=n["type"],
                            gateway=(s.get("g5ksubnet") or {}).get("gateway"), dns=ref.dns(site), client=ref.client)


def concretize(conf: G5kConf, jobs: Sequence[dict[str, Any]], ref: Reference, cluster_site: dict[str, str]
               ) -> tuple[list[G5kHost], list[G5kNetwork], dict[int, list[G5kHost]]]:
    """(hosts, networks, machine group index -> its hosts) for running ``jobs``."""
    nodes: dict[str, list[str]] = {}
    vlans: dict[str, list[str]] = {}
    subnets: dict[str, list[str]] = {}
    for job in jobs:
        nodes.setdefault(job["site"], []).extend(oar.job_nodes(job))
        vlans.setdefault(job["site"], []).extend(oar.job_vlans(job))
        subnets.setdefault(job["site"], []).extend(oar.job_subnets(job))
    networks: dict[str, G5kNetwork] = {}
    used: set[str] = set()
    for i, n in enumerate(conf.network_specs()):
        networks[n["id"]] = network(ref, n, vlans.get(n["site"], []), subnets.get(n["site"], []),
                                    f"$.resources.networks[{i}]", used)
    specs = conf.machine_specs()
    picked = pick_nodes(specs, {s: natural_sort(set(ns)) for s, ns in nodes.items()}, cluster_site)
    prods: dict[str, G5kNetwork] = {}
    hosts: list[G5kHost] = []
    groups: dict[int, list[G5kHost]] = {}
    for i, m in enumerate(specs):
        site = cluster_site[m["cluster"]]
        if m.get("primary_network"):
            primary = networks[m["primary_network"]]
        else:  # the production network of the site: the configuration's, or an implicit one
            primary = prods.get(site) or next((n for n in networks.values() if n.kind == "prod" and n.site == site),
                                              None) or prod_network(ref, f"prod-{site}", [PROD_ROLE], site)
            prods[site] = primary
        secondary = [networks[n] for n in m.get("secondary_networks", [])]
        for fqdn in picked[i]:
            nics = nics_of(ref.node(fqdn))
            if len(secondary) > len(nics) - 1:
                where = f"$.resources.machines[{i}].secondary_networks"
                raise EnosConfigError(f"invalid g5k configuration at {where}: {fqdn} has {max(0, len(nics) - 1)} "
                                      f"spare NIC(s) for {len(secondary)} secondary network(s) (rule: nics)",
                                      path=where, rule="nics")
            host = G5kHost(fqdn, m["roles"], primary, secondary, nics, cluster=m["cluster"], site=site,
                           client=ref.client)
            hosts.append(host)
            groups.setdefault(i, []).append(host)
    all_networks = list(networks.values()) + [p for p in prods.values() if p not in networks.values()]
    return hosts, all_networks, groups


def _subnet_key(cidr: str) -> tuple[int, ...]:
    address, _, length = cidr.partition("/")
    return (*map(int, address.split(".")), int(length or 32))
