"""Configuration of the Grid'5000 provider (fields: ``schemas/g5k.json``).

Building and validating a configuration never touches the network. What only the reference
API knows (the site of a cluster, whether it is exotic) is resolved at ``init``; the site rules
are checked here as far as the sites are already known (explicit ``servers``, or clusters seen
before and kept in the on-disk reference cache), and again at ``init`` with the full picture.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from enoslib.errors import EnosConfigError
from enoslib.infra.configuration import (BaseConfiguration, ConfigNode, ItemConfiguration, load_schema,
                                         walltime_to_seconds)

KAVLAN_TYPES = ("kavlan-local", "kavlan", "kavlan-global")
SUBNET_TYPES = ("slash_22", "slash_16")
SITE_BOUND_TYPES = ("prod", "kavlan-local", "kavlan")  # a node can only join these on its own site


# the documented defaults, as the schema gives them
_TOP = load_schema("g5k")["properties"]
DEFAULT_JOB_NAME: str = _TOP["job_name"]["default"]
DEFAULT_WALLTIME: str = _TOP["walltime"]["default"]
DEFAULT_QUEUE: str = _TOP["queue"]["default"]
DEFAULT_NUMBER = 1
#: environment EnOSlib deploys when kavlan networks are asked without env_name (deprecated use)
DEFAULT_ENV_NAME_COMPAT = "debian11-nfs"
NETWORK_ROLE_PROD = "prod"  # role of the implicit production network of a site


class NetworkConfiguration(ItemConfiguration):
    """A Grid'5000 network: ``NetworkConfiguration(id=..., type=..., roles=[...], site=...)``.

    Without ``id`` the configuration it is added to names it from type and site
    (``kavlan-rennes``, ``kavlan-rennes-2`` ...).

    >>> net = NetworkConfiguration(type="kavlan", roles=["exp"], site="rennes")
    >>> conf = Configuration.from_settings(job_type=["deploy"], env_name="debian12-min")
    >>> conf = conf.add_network_conf(net)
    >>> net.id, conf.networks[0].id
    ('kavlan-rennes', 'kavlan-rennes')
    """

    __slots__ = ()
    schema_name = "g5k"
    kind = "networks"

    def __init__(self, *, id: str | None = None, roles: list[str] | None = None, type: str | None = None,
                 site: str | None = None) -> None:
        super().__init__(id=id, roles=roles, type=type, site=site)


class MachineConfiguration(ItemConfiguration):
    """A group of Grid'5000 nodes: ``nodes`` nodes of ``cluster`` (:class:`ClusterConfiguration`)
    or some of the listed ``servers`` (:class:`ServersConfiguration`).

    ``MachineConfiguration(...)`` gives the right one of the two from its arguments.
    ``primary_network`` / ``secondary_networks`` take :class:`NetworkConfiguration` objects
    (or network ids); ``site`` is never needed (it is known from servers or the cluster) but
    may be given. Reading ``primary_network`` without one set gives the production network of
    the nodes' site, as the provider will use.
    """

    __slots__ = ("_site", "_links")
    schema_name = "g5k"
    kind = "machines"

    def __new__(cls, *args: Any, **fields: Any) -> MachineConfiguration:
        if cls is MachineConfiguration:
            cls = ServersConfiguration if fields.get("servers") is not None else ClusterConfiguration
        return object.__new__(cls)

    def __init__(self, *, roles: list[str] | None = None, cluster: str | None = None,
                 servers: list[str] | None = None, site: str | None = None, nodes: int | None = None,
                 min: int | None = None, reservable_disks: bool | None = None,
                 primary_network: NetworkConfiguration | str | None = None,
                 secondary_networks: list[NetworkConfiguration | str] | None = None) -> None:
        object.__setattr__(self, "_site", site)
        object.__setattr__(self, "_links", {})
        super().__init__(roles=roles, cluster=cluster, servers=servers, nodes=nodes, min=min,
                         reservable_disks=reservable_disks, primary_network=primary_network,
                         secondary_networks=secondary_networks)

    @classmethod
    def _class_for(cls, data: dict[str, Any]) -> type:
        return ServersConfiguration if data.get("servers") else ClusterConfiguration

    @classmethod
    def _view(cls, conf: BaseConfiguration, index: int, data: dict[str, Any]) -> Any:
        item = super()._view(conf, index, data)
        object.__setattr__(item, "_site", None)
        object.__setattr__(item, "_links", {})
        return item

    # -- derived fields ---------------------------------------------------------------------
    @property
    def cluster(self) -> str | None:
        """The cluster, taken from the servers' names for a servers group."""
        if self._data.get("servers"):
            return _server_parts(self._data["servers"][0])[2]
        return self._data.get("cluster")

    @property
    def site(self) -> str | None:
        """The nodes' site: given, from the servers' names, or known offline for the cluster
        (reference cache); None while unknown (the provider resolves it at ``init``)."""
        if self._site:
            return self._site
        if self._data.get("servers"):
            return _server_parts(self._data["servers"][0])[1]
        cluster = self._data.get("cluster")
        hints = self._conf._site_hints if isinstance(self._conf, G5kConf) else {}
        if cluster in hints:
            return hints[cluster]
        from enoslib.infra.enos_g5k.reference import known_cluster_sites

        return known_cluster_sites().get(cluster) if cluster else None

    @property
    def nodes(self) -> int:
        """How many nodes (default: 1 for a cluster, every listed server for servers)."""
        if "nodes" in self._data:
            return self._data["nodes"]
        return len(self._data["servers"]) if self._data.get("servers") else DEFAULT_NUMBER

    @property
    def min(self) -> int:
        """Accept fewer nodes, down to this many (default: ``nodes``)."""
        return self._data.get("min", self.nodes)

    @property
    def primary_network(self) -> Any:
        """The :class:`NetworkConfiguration` of the first NIC (default: the site's production
        network; None while the site is unknown)."""
        ref = self._data.get("primary_network")
        if self._conf is None:
            return self._links.get("primary_network", ref)
        if ref is not None:
            return self._conf._network_view(ref)
        site = self.site
        if site is None:
            return None
        for net in self._conf.networks:
            if net.type == "prod" and net.site == site:
                return net
        return NetworkConfiguration(id=f"prod-{site}", type="prod", roles=[NETWORK_ROLE_PROD], site=site)

    @property
    def secondary_networks(self) -> list[Any]:
        """The :class:`NetworkConfiguration` objects of the other NICs, in NIC order."""
        refs = self._data.get("secondary_networks", [])
        if self._conf is None:
            return list(self._links.get("secondary_networks", refs))
        return [self._conf._network_view(ref) for ref in refs]

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "site":
            object.__setattr__(self, "_site", value)
            if isinstance(self._conf, G5kConf) and value and self._data.get("cluster"):
                self._conf._site_hints[self._data["cluster"]] = value
            return
        if name in ("primary_network", "secondary_networks") and value is None:  # back to the default
            self._links.pop(name, None)
            self._data.pop(name, None)
            return
        if name in ("primary_network", "secondary_networks"):
            if self._conf is not None:  # attached: networks are resolved (added) at once
                value = (self._conf._network_id(value) if name == "primary_network"
                         else [self._conf._network_id(n) for n in value])
            else:  # standalone: keep the objects, resolved when added to a configuration
                self._links[name] = value if name == "primary_network" else list(value)
                ids = [_network_ref_id(n) for n in ([value] if name == "primary_network" else value)]
                if None in ids:
                    self._data.pop(name, None)
                    return
                value = ids[0] if name == "primary_network" else ids
        super().__setattr__(name, value)


class ClusterConfiguration(MachineConfiguration):
    """``nodes`` nodes (default 1) of a ``cluster``:
    ``ClusterConfiguration(roles=["srv"], cluster="paravance", nodes=2)``."""

    __slots__ = ()


class ServersConfiguration(MachineConfiguration):
    """Some of the listed ``servers`` (default: all), all of one cluster:
    ``ServersConfiguration(roles=["srv"], servers=["paravance-1.rennes.grid5000.fr"])``."""

    __slots__ = ()


#: EnOSlib's name of the common base of the two machine group classes
GroupConfiguration = MachineConfiguration


def _network_ref_id(ref: Any) -> Any:
    if isinstance(ref, ItemConfiguration):
        return ref._data.get("id")
    if isinstance(ref, Mapping):
        return ref.get("id")
    return ref


class G5kConf(BaseConfiguration):
    """Grid'5000 resources: groups of nodes by cluster (or exact servers) and networks.

    EnOSlib's spelling (``Configuration`` is this class):

    >>> conf = Configuration.from_settings(job_type=["deploy"], env_name="debian12-min")
    >>> vlan = NetworkConfiguration(id="vlan", type="kavlan", roles=["exp"], site="rennes")
    >>> conf = conf.add_network_conf(vlan).add_machine_conf(
    ...     ClusterConfiguration(roles=["server"], cluster="paravance", nodes=2, primary_network=vlan))
    >>> conf.job_name, conf.machines[0].primary_network.id
    ('EnOSlib', 'vlan')

    and ours, with network ids:

    >>> conf = (G5kConf.from_settings(job_name="exp", walltime="30:00:00")
    ...         .add_network(id="vlan", type="kavlan", roles=["exp"], site="rennes")
    ...         .add_machine(roles=["server"], cluster="paravance", nodes=2, primary_network="vlan")
    ...         .set(job_type=["deploy"], env_name="debian12-min"))
    >>> G5kConf.from_dictionary(conf.to_dict()) == conf
    True
    """

    __slots__ = ("_site_hints",)
    schema_name = "g5k"
    machine_class = MachineConfiguration
    network_class = NetworkConfiguration

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        super().__init__(data)
        # cluster -> site given by the user (``ClusterConfiguration(site=...)``): not part of the
        # dictionary, only a hint for the offline site rules
        object.__setattr__(self, "_site_hints", {})

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_dictionary(cls, dictionary: Mapping[str, Any], validate: bool = True) -> G5kConf:
        if isinstance(dictionary, Mapping):
            resources = dictionary.get("resources")
            machines = resources.get("machines") if isinstance(resources, dict) else None
            for i, machine in enumerate(machines if isinstance(machines, list) else []):
                _one_of_cluster_servers(machine, f"$.resources.machines[{i}]")
        return super().from_dictionary(dictionary, validate)

    def _add(self, kind: str, item: dict[str, Any], *, share: bool = False) -> G5kConf:
        if kind == "machines":
            index = len(self._data.get("resources", {}).get("machines", []))
            _one_of_cluster_servers(item, f"$.resources.machines[{index}]")
        return super()._add(kind, item, share=share)

    # -- builders -------------------------------------------------------------------------
    def add_network(self, **network: Any) -> G5kConf:
        """Add a network; without ``id`` one is derived from type and site (``kavlan-rennes``)."""
        if "id" not in network and isinstance(network.get("type"), str) and isinstance(network.get("site"), str):
            network["id"] = self._free_id(f"{network['type']}-{network['site']}")
        return self._add("networks", network)

    def add_network_conf(self, network: NetworkConfiguration | Mapping[str, Any]) -> G5kConf:
        """Add a :class:`NetworkConfiguration` (or dict); its id is written back into it if missing."""
        if isinstance(network, NetworkConfiguration):
            if network.get("id") is None and isinstance(network.type, str) and isinstance(network.site, str):
                network.id = self._free_id(f"{network.type}-{network.site}")
            return super().add_network_conf(network)
        data = _plain(network)
        self.add_network(**data)
        if isinstance(network, dict) and "id" not in network:
            network["id"] = self._data["resources"]["networks"][-1]["id"]
        return self

    def add_machine(self, **machine: Any) -> G5kConf:
        """Add a group of nodes. ``primary_network`` / ``secondary_networks`` may be network ids
        or network objects (added to the configuration when not yet in it); ``site`` may be
        given (it is otherwise known from the servers or the cluster)."""
        site = machine.pop("site", None)
        if machine.get("primary_network") is not None:
            machine["primary_network"] = self._network_id(machine["primary_network"])
        if isinstance(machine.get("secondary_networks"), (list, tuple)):  # anything else: the schema says why
            machine["secondary_networks"] = [self._network_id(n) for n in machine["secondary_networks"]]
        self._add("machines", machine)
        if site and isinstance(machine.get("cluster"), str):
            self._site_hints[machine["cluster"]] = site
        return self

    def add_machine_conf(self, machine: MachineConfiguration | Mapping[str, Any]) -> G5kConf:
        """Add a :class:`ClusterConfiguration` / :class:`ServersConfiguration` (or a dict); its
        networks are added to the configuration when not yet in it."""
        if not isinstance(machine, MachineConfiguration):
            if isinstance(machine, Mapping):
                return self.add_machine(**machine)
            return super().add_machine_conf(machine)  # the error naming the expected types
        for name in ("primary_network", "secondary_networks"):
            if name in machine._links:
                value = machine._links.pop(name)
                machine._data[name] = (self._network_id(value) if name == "primary_network"
                                       else [self._network_id(n) for n in value])
        super().add_machine_conf(machine)
        if machine._site and machine._data.get("cluster"):
            self._site_hints[machine._data["cluster"]] = machine._site
        return self

    def _network_id(self, ref: Any) -> Any:
        if not isinstance(ref, (Mapping, ConfigNode, ItemConfiguration)):
            return ref  # an id, or a wrong type the schema refuses with its path
        known = self._data.get("resources", {}).get("networks", [])
        if isinstance(ref, ItemConfiguration):
            if any(n is ref._data for n in known):
                return ref._data["id"]
            if ref.get("id") is not None and any(n.get("id") == ref["id"] for n in known):
                return ref["id"]  # the same network, described again
            self.add_network_conf(ref)
            return ref._data["id"]
        data = _plain(ref)
        if "id" in data and any(n.get("id") == data["id"] for n in known):
            return data["id"]
        for n in known:  # the same description added before without an id
            if {k: v for k, v in n.items() if k != "id"} == {k: v for k, v in data.items() if k != "id"}:
                if isinstance(ref, dict):
                    ref["id"] = n["id"]
                return n["id"]
        self.add_network_conf(ref if isinstance(ref, dict) else data)
        return self._data["resources"]["networks"][-1]["id"]

    def _network_view(self, network_id: Any) -> Any:
        """The network object with this id (a bare one while the id is not in the configuration)."""
        for net in self.networks:
            if net.id == network_id:
                return net
        return NetworkConfiguration(id=network_id)

    def _free_id(self, base: str) -> str:
        taken = {n.get("id") for n in self._data.get("resources", {}).get("networks", [])}
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def finalize(self) -> G5kConf:
        """Validate the whole configuration; returns it.

        As EnOSlib, older scripts keep working with a DeprecationWarning: kavlan networks or an
        ``env_name`` without job type ``deploy`` add it, and kavlan networks without ``env_name``
        deploy ``debian11-nfs``.
        """
        if isinstance(self._data.get("job_type", []), (str, list)):
            self._deploy_compat()
        return super().finalize()

    def _deploy_compat(self) -> None:
        resources = self._data.get("resources", {})
        networks = resources.get("networks", []) if isinstance(resources, dict) else []
        if not isinstance(networks, list):
            return  # the schema says what is wrong, with its path
        kavlan = any(isinstance(n, dict) and n.get("type") in KAVLAN_TYPES for n in networks)
        reasons = []
        if kavlan and "deploy" not in self.job_types:
            reasons.append("kavlan networks need job type 'deploy': adding it")
        elif self._data.get("env_name") is not None and "deploy" not in self.job_types:
            reasons.append("env_name is only deployed with job type 'deploy': adding it")
        if kavlan and self._data.get("env_name") is None:
            self._data["env_name"] = DEFAULT_ENV_NAME_COMPAT
            reasons.append(f"kavlan networks need an env_name: deploying {DEFAULT_ENV_NAME_COMPAT!r}")
        if "deploy" not in self.job_types and reasons:
            self._data["job_type"] = [*self.job_types, "deploy"]
        for reason in reasons:
            warnings.warn(f"g5k configuration: {reason}; please update the configuration",
                          DeprecationWarning, stacklevel=3)

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
        self._check_jobs()
        jobids = self.oargrid_jobids or []
        sites = [str(j[0]) for j in jobids]
        for k, site in enumerate(sites):
            if sites.index(site) != k:
                _fail(f"$.oargrid_jobids[{k}]", f"site {site!r} is given twice (one job per site)", "unique")
        from enoslib.infra.enos_g5k.reference import known_cluster_sites

        self.check_sites({**known_cluster_sites(), **self._site_hints}, partial=True)

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

    def _check_jobs(self) -> None:
        # kavlan networks and env_name without deploy were completed by _deploy_compat
        types = self.job_types
        if "deploy" in types and self.env_name is None:
            _fail("$.env_name", "job_type 'deploy' needs env_name (e.g. 'debian12-min')", "required")
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

    @property
    def sites(self) -> list[str]:
        """The sites known offline (machines' and networks'), in order of appearance."""
        found = [m.site for m in self.machines] + [n.site for n in self.networks]
        return list(dict.fromkeys(s for s in found if s))

    def restrict_to(self, site: str) -> G5kConf:
        """A copy with only the machines and networks of ``site`` (as far as known offline)."""
        conf = G5kConf(copy.deepcopy({k: v for k, v in self._data.items() if k != "resources"}))
        object.__setattr__(conf, "_site_hints", dict(self._site_hints))
        for net in self.networks:
            if net.site == site:
                conf.add_network(**net.to_dict())
        for machine in self.machines:
            if machine.site == site:
                conf.add_machine(**machine.to_dict())
        return conf

    # -- helpers for the provider -----------------------------------------------------------
    def sites_of(self, cluster_site: Mapping[str, str]) -> list[str]:
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
    raise TypeError(f"expected a network description (dict or NetworkConfiguration), got {type(obj).__name__}")


def _server_parts(server: str) -> tuple[str, str, str]:
    short, site = server.split(".")[:2]
    return short, site, short.rsplit("-", 1)[0]


def _unknown(ref: str, by_id: Iterable[str]) -> str:
    known = ", ".join(repr(k) for k in by_id) or "none"
    return f"no network with id {ref!r} (known: {known})"


def _fail(path: str, message: str, rule: str) -> None:
    raise EnosConfigError(f"invalid g5k configuration at {path}: {message} (rule: {rule})", path=path, rule=rule)


#: EnOSlib's name of this provider's configuration class
Configuration = G5kConf
#: our former name of :class:`NetworkConfiguration`
G5kNetworkConf = NetworkConfiguration
