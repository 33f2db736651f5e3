"""Configuration of the Grid'5000 provider (fields: ``schemas/g5k.json``).

Building and validating a configuration never touches the network. What only the reference
API knows (the site of a cluster, whether it is exotic) is resolved at ``init``; the site rules
are checked here as far as the sites are already known (explicit ``servers``, or clusters seen
before and kept in the on-disk reference cache), and again at ``init`` with the full picture.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from enoslib.errors import EnosConfigError
from enoslib.infra.configuration import BaseConfiguration, ConfigNode, walltime_to_seconds

KAVLAN_TYPES = ("kavlan-local", "kavlan", "kavlan-global")
SUBNET_TYPES = ("slash_22", "slash_16")
SITE_BOUND_TYPES = ("prod", "kavlan-local", "kavlan")  # a node can only join these on its own site


class G5kNetworkConf(dict):
    """A network description to pass to ``add_network_conf`` / ``add_machine(primary_network=...)``.

    Its ``id`` is chosen by the configuration it is added to when not given.

    >>> net = G5kNetworkConf(type="kavlan", roles=["exp"], site="rennes")
    >>> conf = G5kConf.from_settings(job_type=["deploy"], env_name="debian12-min")
    >>> conf = conf.add_machine(roles=["a"], cluster="paravance", primary_network=net)
    >>> net["id"]
    'kavlan-rennes'
    """

    def __init__(self, *, type: str, roles: list[str], site: str, id: str | None = None) -> None:
        super().__init__(type=type, roles=list(roles), site=site)
        if id is not None:
            self["id"] = id

    @property
    def id(self) -> str | None:
        return self.get("id")


class G5kConf(BaseConfiguration):
    """Grid'5000 resources: groups of nodes by cluster (or exact servers) and networks.

    >>> conf = (G5kConf.from_settings(job_name="exp", walltime="30:00:00")
    ...         .add_network(id="vlan", type="kavlan", roles=["exp"], site="rennes")
    ...         .add_machine(roles=["server"], cluster="paravance", nodes=2, primary_network="vlan")
    ...         .set(job_type=["deploy"], env_name="debian12-min"))
    >>> G5kConf.from_dictionary(conf.to_dict()) == conf
    True
    """

    __slots__ = ()
    schema_name = "g5k"

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_dictionary(cls, dictionary: dict[str, Any], validate_: bool = True) -> G5kConf:
        if isinstance(dictionary, dict):
            resources = dictionary.get("resources")
            machines = resources.get("machines") if isinstance(resources, dict) else None
            for i, machine in enumerate(machines if isinstance(machines, list) else []):
                _one_of_cluster_servers(machine, f"$.resources.machines[{i}]")
        return super().from_dictionary(dictionary, validate_)

    def _add(self, kind: str, item: dict[str, Any]) -> G5kConf:
        if kind == "machines":
            index = len(self._data.get("resources", {}).get("machines", []))
            _one_of_cluster_servers(item, f"$.resources.machines[{index}]")
        return super()._add(kind, item)

    # -- builders -------------------------------------------------------------------------
    def add_network(self, **network: Any) -> G5kConf:
        """Add a network; without ``id`` one is derived from type and site (``kavlan-rennes``)."""
        if "id" not in network and isinstance(network.get("type"), str) and isinstance(network.get("site"), str):
            network["id"] = self._free_id(f"{network['type']}-{network['site']}")
        return self._add("networks", network)

    def add_network_conf(self, network: Mapping[str, Any] | ConfigNode) -> G5kConf:
        """Add a :class:`G5kNetworkConf` (or dict); its id is written back into it if missing."""
        data = _plain(network)
        self.add_network(**data)
        if isinstance(network, dict) and "id" not in network:
            network["id"] = self._data["resources"]["networks"][-1]["id"]
        return self

    def add_machine(self, **machine: Any) -> G5kConf:
        """Add a group of nodes. ``primary_network`` / ``secondary_networks`` may be network ids
        or network descriptions (added to the configuration when not yet in it)."""
        if machine.get("primary_network") is not None:
            machine["primary_network"] = self._network_id(machine["primary_network"])
        if isinstance(machine.get("secondary_networks"), (list, tuple)):  # anything else: the schema says why
            machine["secondary_networks"] = [self._network_id(n) for n in machine["secondary_networks"]]
        return self._add("machines", machine)

    add_machine_conf = add_machine

    def _network_id(self, ref: Any) -> Any:
        if not isinstance(ref, (Mapping, ConfigNode)):
            return ref  # an id, or a wrong type the schema refuses with its path
        data = _plain(ref)
        known = self._data.get("resources", {}).get("networks", [])
        if "id" in data and any(n.get("id") == data["id"] for n in known):
            return data["id"]
        for n in known:  # the same description added before without an id
            if {k: v for k, v in n.items() if k != "id"} == {k: v for k, v in data.items() if k != "id"}:
                if isinstance(ref, dict):
                    ref["id"] = n["id"]
                return n["id"]
        self.add_network_conf(ref if isinstance(ref, dict) else data)
        return self._data["resources"]["networks"][-1]["id"]

    def _free_id(self, base: str) -> str:
        taken = {n.get("id") for n in self._data.get("resources", {}).get("networks", [])}
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    # -- derived views ----------------------------------------------------------------------
    @property
    def job_types(self) -> list[str]:
        """``job_type`` as a list (a single string is accepted in the configuration)."""
        value = self.job_type
        return [value] if isinstance(value, str) else list(value or [])

    @property
    def deploy(self) -> bool:
        return "deploy" in self.job_types

    @property
    def walltime_seconds(self) -> int:
        return walltime_to_seconds(self.walltime)

    def machine_specs(self) -> list[dict[str, Any]]:
        """Machines with defaults filled in: ``nodes`` (and ``min``) always present, ``site`` and
        ``cluster`` taken from ``servers`` when given."""
        specs = []
        for m in self.to_dict(defaults=True).get("resources", {}).get("machines", []):
            m = dict(m)
            if m.get("servers"):
                m["nodes"] = m.get("nodes", len(m["servers"]))
                _, m["site"], m["cluster"] = _server_parts(m["servers"][0])
            else:
                m["nodes"] = m.get("nodes", 1)
            m["min"] = m.get("min", m["nodes"])
            specs.append(m)
        return specs

    def network_specs(self) -> list[dict[str, Any]]:
        return self.to_dict(defaults=True).get("resources", {}).get("networks", [])

    # -- cross-field rules ------------------------------------------------------------------
    def _check(self) -> None:
        networks = self.network_specs()
        by_id: dict[str, tuple[int, dict[str, Any]]] = {}
        for i, n in enumerate(networks):
            if n["id"] in by_id:
                _fail(f"$.resources.networks[{i}].id",
                      f"network id {n['id']!r} is already used by networks[{by_id[n['id']][0]}]", "unique")
            by_id[n["id"]] = (i, n)
        if walltime_to_seconds(self.walltime) <= 0:
            _fail("$.walltime", "the walltime must be positive", "minimum")
        self._check_machines(by_id)
        self._check_jobs(networks)
        jobids = self.oargrid_jobids or []
        sites = [str(j[0]) for j in jobids]
        for k, site in enumerate(sites):
            if sites.index(site) != k:
                _fail(f"$.oargrid_jobids[{k}]", f"site {site!r} is given twice (one job per site)", "unique")
        from enoslib.infra.enos_g5k.reference import known_cluster_sites

        self.check_sites(known_cluster_sites(), partial=True)

    def _check_machines(self, by_id: Mapping[str, tuple[int, dict[str, Any]]]) -> None:
        seen_servers: dict[str, int] = {}
        for i, m in enumerate(self.machine_specs()):
            here = f"$.resources.machines[{i}]"
            if m["min"] > m["nodes"]:
                _fail(f"{here}.min", f"min ({m['min']}) is more than nodes ({m['nodes']})", "min<=nodes")
            if m.get("servers"):
                if m["nodes"] > len(m["servers"]):
                    _fail(f"{here}.nodes", f"{m['nodes']} nodes asked among {len(m['servers'])} servers",
                          "nodes<=servers")
                first = _server_parts(m["servers"][0])
                for k, server in enumerate(m["servers"]):
                    parts = _server_parts(server)
                    if parts[1:] != first[1:]:
                        _fail(f"{here}.servers[{k}]",
                              f"{server} is not in cluster {first[2]} of {first[1]} like servers[0]; "
                              "use one machine group per cluster", "same-cluster")
                    if server in seen_servers:
                        _fail(f"{here}.servers[{k}]",
                              f"{server} is already in machines[{seen_servers[server]}]", "unique")
                    seen_servers[server] = i
            primary = m.get("primary_network")
            if primary is not None:
                if primary not in by_id:
                    _fail(f"{here}.primary_network", _unknown(primary, by_id), "reference")
                if by_id[primary][1]["type"] in SUBNET_TYPES:
                    _fail(f"{here}.primary_network",
                          f"{primary!r} is a {by_id[primary][1]['type']} network: subnets give addresses "
                          "to VMs/containers, NICs join prod or kavlan networks", "network-type")
            for k, net in enumerate(m.get("secondary_networks", [])):
                path = f"{here}.secondary_networks[{k}]"
                if net not in by_id:
                    _fail(path, _unknown(net, by_id), "reference")
                if by_id[net][1]["type"] in SUBNET_TYPES:
                    _fail(path, f"{net!r} is a {by_id[net][1]['type']} network: a NIC cannot join a subnet",
                          "network-type")
                if net == primary:
                    _fail(path, f"{net!r} is already the primary network of these nodes", "distinct")

    def _check_jobs(self, networks: list[dict[str, Any]]) -> None:
        types = self.job_types
        deploy = "deploy" in types
        for i, n in enumerate(networks):
            if n["type"] in KAVLAN_TYPES and not deploy:
                _fail(f"$.resources.networks[{i}].type",
                      f"a {n['type']} network needs deployed nodes: add 'deploy' to job_type "
                      "(and set env_name)", "deploy")
        if deploy and self.env_name is None:
            _fail("$.env_name", "job_type 'deploy' needs env_name (e.g. 'debian12-min')", "required")
        if self.env_name is not None and not deploy:
            _fail("$.job_type", f"env_name {self.env_name!r} is only deployed with job_type 'deploy'", "deploy")
        if self.env_version is not None and self.env_name is None:
            _fail("$.env_version", "env_version needs env_name", "required")
        if "besteffort" in types and self.reservation is not None:
            _fail("$.reservation", "best-effort jobs cannot be advance reservations", "besteffort")
        if "besteffort" in types and self.queue not in ("default", "besteffort"):
            _fail("$.queue", f"best-effort jobs do not go to the {self.queue!r} queue", "besteffort")

    def check_sites(self, cluster_site: Mapping[str, str], *, partial: bool = False) -> None:
        """Site rules: nodes join prod / kavlan / kavlan-local networks of their own site only.

        ``cluster_site`` maps clusters to sites; with ``partial`` unknown clusters are skipped,
        otherwise they are an error.
        """
        networks = {n["id"]: (i, n) for i, n in enumerate(self.network_specs())}
        for i, m in enumerate(self.machine_specs()):
            here = f"$.resources.machines[{i}]"
            site = m.get("site") or cluster_site.get(m["cluster"])
            if site is None:
                if partial:
                    continue
                _fail(f"{here}.cluster", f"no Grid'5000 cluster {m['cluster']!r}", "exists")
            refs = [("primary_network", m.get("primary_network"))]
            refs += [(f"secondary_networks[{k}]", n) for k, n in enumerate(m.get("secondary_networks", []))]
            for where, ref in refs:
                if ref is None or ref not in networks:
                    continue
                _, net = networks[ref]
                if net["type"] in SITE_BOUND_TYPES and net["site"] != site:
                    _fail(f"{here}.{where}",
                          f"network {ref!r} ({net['type']}) is on {net['site']} but the nodes of "
                          f"{m.get('cluster')} are on {site}; use a kavlan-global network to span sites",
                          "site")

    # -- helpers for the provider -----------------------------------------------------------
    def sites(self, cluster_site: Mapping[str, str]) -> list[str]:
        """Every site involved (machines and networks), in order of appearance."""
        found: dict[str, None] = {}
        for m in self.machine_specs():
            found[m.get("site") or cluster_site[m["cluster"]]] = None
        for n in self.network_specs():
            found[n["site"]] = None
        return list(found)


def _one_of_cluster_servers(machine: Any, path: str) -> None:
    if isinstance(machine, dict) and "cluster" in machine and "servers" in machine:
        _fail(f"{path}.servers", "give either cluster (any nodes of it) or servers (these nodes), "
              "not both: the cluster of servers is in their names", "oneOf")


def _plain(obj: Any) -> dict[str, Any]:
    if isinstance(obj, ConfigNode):
        return obj.to_dict()
    if isinstance(obj, Mapping):
        return copy.deepcopy(dict(obj))
    raise TypeError(f"expected a network description (dict or G5kNetworkConf), got {type(obj).__name__}")


def _server_parts(server: str) -> tuple[str, str, str]:
    short, site = server.split(".")[:2]
    return short, site, short.rsplit("-", 1)[0]


def _unknown(ref: str, by_id: Iterable[str]) -> str:
    known = ", ".join(repr(k) for k in by_id) or "none"
    return f"no network with id {ref!r} (known: {known})"


def _fail(path: str, message: str, rule: str) -> None:
    raise EnosConfigError(f"invalid g5k configuration at {path}: {message} (rule: {rule})", path=path, rule=rule)
