"""Helpers for the Grid'5000 REST API, under the names EnOSlib documents
(``enoslib.infra.enos_g5k.g5k_api_utils``).

They return python-grid5000 objects (``Job``, ``Site``, ``Node``, ``Vlan`` ...) as EnOSlib's do,
but every request goes through the provider's machinery: one :class:`G5kClient` (explicit URI,
retries with backoff, injectable clock), the on-disk reference cache, the OAR and kadeploy
logic of :mod:`~enoslib.infra.enos_g5k.oar` and :mod:`~enoslib.infra.enos_g5k.kadeploy`.
Objects are built from data already read (no second GET); ``job.refresh()`` and
``job.delete()`` work as usual.

>>> jobs = grid_reload_jobs_from_name("EnOSlib")           # doctest: +SKIP
>>> nodes, networks = build_resources(jobs)                # doctest: +SKIP

The connection is the default one (:func:`~enoslib.infra.enos_g5k.client.set_api`, else
``~/.python-grid5000.yaml``); :func:`get_api_client` returns it as a :class:`Client`. The
functions the objects of :mod:`~enoslib.infra.enos_g5k.objects` call also take ``client=``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, MutableSequence
from typing import TYPE_CHECKING, Any, NamedTuple

import netaddr

from enoslib.errors import EnosConfigError, EnosProviderError
from enoslib.infra.enos_g5k import kadeploy, oar
from enoslib.infra.enos_g5k.client import (
    DEFAULT_CONF_FILE,
    G5kApiError,
    G5kClient,
    _grid5000,
    as_client,
    read_conf_file,
    validate_uri,
)
from enoslib.infra.enos_g5k.constants import NATURE_PROD, PROD_VLAN_ID
from enoslib.infra.enos_g5k.objects import canonical_name, nic_name, split_name, usable_adapters
from enoslib.infra.enos_g5k.planning import vlan_type
from enoslib.infra.enos_g5k.reference import Reference

if TYPE_CHECKING:
    from grid5000.objects import Job, Node, Site, Vlan

logger = logging.getLogger(__name__)


class EnosG5kDuplicateJobsError(EnosProviderError):
    """Several jobs with the same name on one site: which one is the experiment's is unclear."""

    def __init__(self, site: str, job_name: str, jobs: Iterable[Any] = ()) -> None:
        self.site, self.job_name, self.jobs = site, job_name, list(jobs)
        ids = ", ".join(str(_attrs(j)["uid"]) for j in self.jobs)
        super().__init__(f"{site}: several jobs named {job_name!r} ({ids}); delete the extra ones")


class EnosG5kInvalidArgumentsError(EnosProviderError):
    """Arguments that cannot go together (e.g. nodes of several sites for one vlan request)."""


class EnosG5kKavlanNodesError(EnosProviderError):
    """KaVLAN refused to move some NICs into a vlan."""

    def __init__(self, vlan_id: str, nodes: Iterable[str], detail: str = "") -> None:
        self.vlan_id, self.nodes = str(vlan_id), list(nodes)
        super().__init__(f"KaVLAN could not put {', '.join(self.nodes)} in vlan {vlan_id}"
                         + (f": {detail}" if detail else ""))


class OarNetwork(NamedTuple):
    """A network an OAR job holds: ``nature`` is prod / kavlan* / slash_22 / slash_16,
    ``descriptor`` the vlan id (``DEFAULT`` for prod) or the subnet CIDR."""

    site: str
    nature: str
    descriptor: str


# -- the connection ------------------------------------------------------------------------------
_client_class: dict[str, type] = {}
_state: dict[str, Any] = {}


def _make_client_class() -> type:
    """``Client`` subclasses ``grid5000.Grid5000``, so it is built on first use (python-grid5000
    is imported by :mod:`~enoslib.infra.enos_g5k.client` only, and only when needed)."""
    if "Client" in _client_class:
        return _client_class["Client"]

    class Client(_grid5000().Grid5000):  # type: ignore[misc, name-defined]
        """Wrapper of the python-grid5000 client.

        Without ``uri`` the settings come from ``~/.python-grid5000.yaml`` (``$G5K_API_CONF``),
        read strictly (an error names the file and the key); keyword arguments override them.
        ``excluded_sites``: sites to forget about when scanning every site (unreachable ones).
        """

        def __init__(self, excluded_sites: list[str] | None = None, **kwargs: Any) -> None:
            import os
            from pathlib import Path

            settings: dict[str, Any] = {}
            if "uri" not in kwargs:
                conf = Path(os.environ.get("G5K_API_CONF", DEFAULT_CONF_FILE)).expanduser()
                if conf.is_file():
                    settings = read_conf_file(conf)
            settings.update(kwargs)
            settings["uri"] = validate_uri(settings.get("uri") or "https://api.grid5000.fr/stable")
            super().__init__(**settings)
            self.excluded_sites = list(excluded_sites or [])
            self._enos: G5kClient | None = None

        @classmethod
        def sharing(cls, enos: G5kClient, excluded_sites: list[str] | None = None) -> Any:
            """A Client on the same connection (session, credentials) as ``enos``."""
            self = cls.__new__(cls)
            self.__dict__.update(enos.gk.__dict__)
            self.set_initial_managers()
            self.excluded_sites = list(excluded_sites or [])
            self._enos = enos
            return self

        @property
        def enos(self) -> G5kClient:
            """Our retrying client over this connection."""
            if self._enos is None:
                self._enos = G5kClient.wrap(self)
            return self._enos

        def __repr__(self) -> str:
            return f"Client(uri={self._uri!r}, username={self.username!r})"

    Client.__module__, Client.__qualname__ = __name__, "Client"
    _client_class["Client"] = Client
    return Client


def __getattr__(name: str) -> Any:
    if name == "Client":
        return _make_client_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_api_client() -> Any:
    """The default connection as a :class:`Client` (one object while the default is the same)."""
    base = as_client()
    cached = _state.get("client")
    if cached is None or cached.enos is not base:
        excluded = cached.excluded_sites if cached is not None else None
        cached = _make_client_class().sharing(base, excluded)
        _state["client"] = cached
    return cached


def _enos(client: Any = None) -> G5kClient:
    if client is None:
        return get_api_client().enos
    if isinstance(client, G5kClient):
        return client
    if isinstance(client, _make_client_class()):
        return client.enos
    return as_client(client)


def _gk(client: Any = None) -> Any:
    return get_api_client() if client is None else _enos(client).gk


def _ref(client: Any = None) -> Reference:
    from enoslib.g5k.api_utils import get_reference

    return get_reference(_enos(client))


def _excluded(client: Any = None) -> set[str]:
    return set(get_api_client().excluded_sites) if client is None else set(getattr(client, "excluded_sites", ()))


def get_api_username() -> str:
    """The login of the default connection (``$USER`` when it has none, as on a frontend)."""
    return _enos().login


# -- python-grid5000 objects from data already read ------------------------------------------------
def _objects() -> Any:
    return _grid5000().objects


def _site_stub(gk: Any, site: str, attrs: Mapping[str, Any] | None = None) -> Any:
    o = _objects()
    return o.Site(o.SiteManager(gk), dict(attrs or {"uid": site}))


def _cluster_stub(gk: Any, site: str, cluster: str, attrs: Mapping[str, Any] | None = None) -> Any:
    o = _objects()
    return o.Cluster(o.ClusterManager(gk, parent=_site_stub(gk, site)), dict(attrs or {"uid": cluster}))


def _job_obj(gk: Any, job: Mapping[str, Any]) -> Job:
    o = _objects()
    return o.Job(o.JobManager(gk, parent=_site_stub(gk, job["site"])), dict(job))


def _attrs(job: Any) -> dict[str, Any]:
    """A job as our dict (``site`` included), from a python-grid5000 Job or a dict."""
    if isinstance(job, Mapping):
        return dict(job)
    data = {**job._attrs, **job._updated_attrs}
    data.setdefault("site", getattr(job, "site", None))
    return data


def _refresh(job: Any, data: Mapping[str, Any]) -> None:
    """Make a python-grid5000 Job show ``data`` (what we just read)."""
    if not isinstance(job, Mapping):
        job.__dict__["_attrs"] = dict(data)
        job.__dict__["_updated_attrs"] = {}


# -- natures --------------------------------------------------------------------------------------
def to_vlan_nature(vlan_id: str) -> str:
    """``kavlan-local`` (vlans 1-3), ``kavlan`` (4-9), ``kavlan-global``; ``prod`` for DEFAULT."""
    return NATURE_PROD if str(vlan_id).upper() == PROD_VLAN_ID else vlan_type(vlan_id)


def to_subnet_nature(cidr: str) -> str:
    """``slash_22`` for a /22 ..."""
    return f"slash_{netaddr.IPNetwork(cidr).prefixlen}"


def to_prod_nature() -> str:
    """The nature name of the production network (as EnOSlib's helper of the same name)."""
    return NATURE_PROD


# -- jobs -----------------------------------------------------------------------------------------
def grid_reload_jobs_from_ids(oargrid_jobids: Iterable[tuple[str, Any]]) -> list[Job]:
    """The jobs ``(site, job id)``, whatever their state."""
    client, gk = _enos(), _gk()
    return [_job_obj(gk, oar.get_job(client, str(site), uid)) for site, uid in oargrid_jobids]


def grid_reload_from_ids(oargrid_jobids: Iterable[tuple[str, Any]]) -> list[Job]:
    """The jobs ``(site, job id)`` still running or pending."""
    return [j for j in grid_reload_jobs_from_ids(oargrid_jobids) if j.state in oar.ACTIVE_STATES]


def _sites(restrict_to: Iterable[str] | None) -> list[str]:
    if restrict_to is not None:
        return list(restrict_to)
    excluded = _excluded()
    return [s for s in _ref().sites() if s not in excluded]


def grid_reload_jobs_from_name(job_name: str, restrict_to: Iterable[str] | None = None) -> list[Job]:
    """The running or pending jobs of the user named ``job_name`` on every site (or on
    ``restrict_to``), skipping the client's ``excluded_sites``. Raises
    :class:`EnosG5kDuplicateJobsError` when a site has several."""
    client, gk = _enos(), _gk()
    found = oar.find_jobs_everywhere(client, _sites(restrict_to), job_name, client.login)
    by_site: dict[str, list[dict[str, Any]]] = {}
    for job in found:
        by_site.setdefault(job["site"], []).append(job)
    for site, jobs in by_site.items():
        if len(jobs) > 1:
            raise EnosG5kDuplicateJobsError(site, job_name, jobs)
    return [_job_obj(gk, j) for j in found]


def build_resources(jobs: Iterable[Any]) -> tuple[list[str], list[OarNetwork]]:
    """``(nodes, networks)`` of the jobs: every node FQDN, every vlan and subnet held, and the
    production network of each job's site."""
    nodes: list[str] = []
    networks: list[OarNetwork] = []
    for job in map(_attrs, jobs):
        site = job["site"]
        nodes += oar.job_nodes(job)
        networks += [OarNetwork(site, to_subnet_nature(s), s) for s in oar.job_subnets(job)]
        networks += [OarNetwork(site, to_vlan_nature(v), v) for v in oar.job_vlans(job)]
        networks.append(OarNetwork(site, NATURE_PROD, PROD_VLAN_ID))
    return nodes, networks


def job_delete(job: Any, wait: bool = False) -> None:
    """Delete a job (already gone is fine); with ``wait``, until OAR says it is no more active."""
    client, data = _enos(), _attrs(job)
    oar.delete_job(client, data["site"], data["uid"])
    while wait:
        data = oar.get_job(client, data["site"], data["uid"])
        _refresh(job, data)
        if data.get("state") not in oar.ACTIVE_STATES:
            break
        client.sleep(1.0)


def grid_destroy_from_name(job_name: str, wait: bool = False, restrict_to: Iterable[str] | None = None) -> None:
    """Delete every running or pending job of the user named ``job_name``."""
    client = _enos()
    for job in oar.find_jobs_everywhere(client, _sites(restrict_to), job_name, client.login):
        job_delete(job, wait=wait)


def grid_destroy_from_ids(oargrid_jobids: Iterable[tuple[str, Any]], wait: bool = False) -> None:
    """Delete the jobs ``(site, job id)`` still running or pending."""
    for job in grid_reload_from_ids(oargrid_jobids):
        job_delete(job, wait=wait)


_SPEC_KEYS = {"resources", "command", "name", "types", "queue", "project", "reservation", "properties", "directory"}


def submit_jobs(job_specs: list[tuple[str, Mapping[str, Any]]]) -> list[Job]:
    """Submit ``(site, job body)`` pairs (bodies as the API takes them); when one fails, the
    jobs already submitted are deleted and the error raised."""
    client, gk = _enos(), _gk()
    specs = []
    for i, (site, body) in enumerate(job_specs):
        unknown = sorted(set(body) - _SPEC_KEYS)
        if unknown:
            raise EnosConfigError(f"job_specs[{i}] ({site}): unknown key(s) {', '.join(unknown)} "
                                  f"(known: {', '.join(sorted(_SPEC_KEYS))})", path=f"$[{i}].{unknown[0]}",
                                  rule="additionalProperties")
        types = body.get("types")
        specs.append(oar.JobSpec(site=site, types=[types] if isinstance(types, str) else list(types or []),
                                 **{k: v for k, v in body.items() if k != "types"}))
    submitted: list[dict[str, Any]] = []
    try:
        oar.submit_all(client, specs, user=client.login, on_submitted=submitted.append)
    except BaseException:
        for job in submitted:
            oar.delete_job(client, job["site"], job["uid"])
        raise
    order = {s.site: i for i, s in enumerate(specs)}
    return [_job_obj(gk, j) for j in sorted(submitted, key=lambda j: order.get(j["site"], 0))]


def wait_for_jobs(jobs: Iterable[Any]) -> None:
    """Wait until every job runs (the objects are refreshed). A job in error raises
    :class:`~enoslib.errors.EnosReservationError`."""
    jobs = list(jobs)
    current = oar.wait_running(_enos(), [_attrs(j) for j in jobs])
    by_key = {(j["site"], int(j["uid"])): j for j in current}
    for job in jobs:
        data = _attrs(job)
        _refresh(job, by_key[(data["site"], int(data["uid"]))])


def _machine_dict(m: Any) -> dict[str, Any]:
    return dict(m) if isinstance(m, Mapping) else m.to_dict()


def grid_make_reservation(job_name: str, walltime: Any, reservation_date: Any, queue: Any,
                          job_type: str | MutableSequence[str], monitor: Any, project: Any,
                          machines: Iterable[Any], networks: Iterable[Any]) -> list[Job]:
    """Submit one job per site for ``machines`` and ``networks`` (configuration objects or
    their dicts), as the G5k provider would; the jobs, not waited for."""
    from enoslib.infra.enos_g5k.provider import G5k

    settings = {"job_name": job_name, "walltime": walltime, "reservation": reservation_date, "queue": queue,
                "job_type": job_type, "monitor": monitor, "project": project}
    conf = {k: v for k, v in settings.items() if v not in (None, "")}
    conf["resources"] = {"machines": [_machine_dict(m) for m in machines],
                         "networks": [_machine_dict(n) for n in networks]}
    provider = G5k(conf, client=_enos())
    return submit_jobs([(s.site, {k: v for k, v in s.body().items() if v not in (None, [], "")})
                        for s in provider.job_specs()])


def grid_get_or_create_job(job_name: str, walltime: Any, reservation_date: Any, queue: Any, job_type: Any,
                           monitor: Any, project: Any, machines: Iterable[Any], networks: Iterable[Any],
                           wait: bool = True, restrict_to: Iterable[str] | None = None) -> list[Job]:
    """The jobs named ``job_name`` (reloaded), else new ones; with ``wait``, once running."""
    jobs = grid_reload_jobs_from_name(job_name, restrict_to=restrict_to)
    if not jobs:
        jobs = grid_make_reservation(job_name, walltime, reservation_date, queue, job_type, monitor, project,
                                     machines, networks)
    if wait:
        wait_for_jobs(jobs)
    return jobs


grid_get_create_or_update_job = grid_get_or_create_job


# -- deployments ----------------------------------------------------------------------------------
def grid_deploy(site: str, nodes: list[str], config: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Deploy ``config`` (``environment``, ``key``, ``version``, ``vlan`` ... as the API takes
    them) on ``nodes`` and wait; ``(deployed, undeployed)`` nodes."""
    client = _enos()
    options = {k: v for k, v in config.items() if k != "nodes"}
    environment = options.pop("environment", None)
    if not environment:
        raise EnosConfigError("grid_deploy: config needs an environment", path="$.environment", rule="required")
    dep = kadeploy.start(client, site, nodes, environment, user=client.login, **options)
    [dep] = kadeploy.wait(client, [dep])
    ok, bad = kadeploy.outcome(dep, nodes)
    return sorted(ok), sorted(bad)


deploy = grid_deploy


def set_nodes_vlan(nodes: list[str], interface: str, vlan_id: str, *, client: Any = None) -> None:
    """Put NIC ``interface`` of ``nodes`` (all on one site) in vlan ``vlan_id``.

    Raises :class:`EnosG5kInvalidArgumentsError` for nodes of several sites and
    :class:`EnosG5kKavlanNodesError` when KaVLAN refuses some."""
    sites = {split_name(n)[4] for n in nodes}
    if None in sites:
        raise EnosG5kInvalidArgumentsError(f"set_nodes_vlan needs node FQDNs (node.site.grid5000.fr): {nodes}")
    if len(sites) != 1:
        raise EnosG5kInvalidArgumentsError(
            f"set_nodes_vlan needs nodes of exactly one site, got {sorted(sites) or 'none'}: {nodes}")
    put_nics_in_vlan(sites.pop(), [nic_name(canonical_name(n), interface) for n in nodes], vlan_id, client=client)


def put_nics_in_vlan(site: str, nics: list[str], vlan_id: str, *, client: Any = None) -> None:
    """Move the NICs named ``nics`` (``paravance-1-eth1.rennes.grid5000.fr``; the node's name
    for its primary NIC) of ``site`` into vlan ``vlan_id`` (``DEFAULT``: production). Idempotent.
    Raises :class:`EnosG5kKavlanNodesError` when KaVLAN refuses some."""
    answer = _enos(client).post(f"/sites/{site}/vlans/{vlan_id}/nodes", list(nics), idempotent=True) or {}
    failed = {k: v for k, v in answer.items() if isinstance(v, dict) and v.get("status") == "failure"}
    if failed:
        raise EnosG5kKavlanNodesError(vlan_id, failed, "; ".join(f"{k}: {v.get('message', '')}"
                                                                 for k, v in failed.items()))
    logger.info("%s: %d NIC(s) in vlan %s", site, len(nics), vlan_id)


# -- reference API -------------------------------------------------------------------------------
def get_all_sites_obj() -> list[Site]:
    """Every site, as python-grid5000 ``Site`` objects."""
    ref, gk = _ref(), _gk()
    return [_site_stub(gk, s, ref.site(s)) for s in ref.sites()]


def get_site_obj(site: str, *, client: Any = None) -> Site:
    """A python-grid5000-like object for ``site`` (read from the reference API)."""
    return _site_stub(_gk(client), site, _ref(client).site(site))


def get_cluster_obj(site: str, cluster: str) -> Any:
    """A python-grid5000-like object for ``cluster`` of ``site`` (read from the reference API)."""
    return _cluster_stub(_gk(), site, cluster, _ref().clusters(site)[cluster])


def get_all_clusters_sites() -> dict[str, str]:
    """``cluster -> site`` for every cluster of every site but the excluded ones."""
    ref, excluded = _ref(), _excluded()
    return {c: s for s in ref.sites() if s not in excluded for c in ref.clusters(s)}


def get_clusters_sites(clusters: Iterable[str]) -> dict[str, str]:
    """Cluster name -> its site, for each of ``clusters``."""
    ref = _ref()
    return {c: ref.cluster_site(c) for c in clusters}


def get_cluster_site(cluster: str) -> str:
    """The site a cluster belongs to."""
    return _ref().cluster_site(cluster)


def clusters_sites_obj(clusters: Iterable[str]) -> dict[str, Site]:
    """``cluster -> python-grid5000 Site``."""
    return {c: get_site_obj(s) for c, s in get_clusters_sites(clusters).items()}


def get_site_clusters(site: str) -> list[str]:
    """The clusters of a site (every queue)."""
    from enoslib.infra.enos_g5k.reference import natural_sort

    return natural_sort(_ref().clusters(site))


def _node_obj(gk: Any, site: str, cluster: str, attrs: Mapping[str, Any]) -> Node:
    o = _objects()
    return o.Node(o.NodeManager(gk, parent=_cluster_stub(gk, site, cluster)), dict(attrs))


def get_nodes(cluster: str) -> list[Node]:
    """The nodes of a cluster, in natural order."""
    ref, gk = _ref(), _gk()
    site = ref.cluster_site(cluster)
    return [_node_obj(gk, site, cluster, n) for n in ref.nodes(cluster).values()]


def get_node(site: str, cluster: str, uid: str, *, client: Any = None) -> Node:
    """Node ``uid`` (``paravance-1``, or its FQDN) of ``cluster``."""
    ref = _ref(client)
    short = uid.split(".")[0]
    try:
        data = ref.nodes(cluster)[short]
    except KeyError:
        raise EnosProviderError(f"no node {short!r} in cluster {cluster!r} ({site})") from None
    return _node_obj(_gk(client), site, cluster, data)


def get_cores(cluster: str) -> int:
    """Cores per node of ``cluster``."""
    return int(get_nodes(cluster)[-1].architecture["nb_cores"])


def get_threads(cluster: str) -> int:
    """Hardware threads per node of ``cluster``."""
    return int(get_nodes(cluster)[-1].architecture["nb_threads"])


def get_memory(cluster: str) -> int:
    """RAM per node of ``cluster``, in bytes."""
    return int(get_nodes(cluster)[-1].main_memory["ram_size"])


def get_nics(cluster: str) -> list[dict[str, Any]]:
    """The network adapters of the cluster's nodes (those of its first node)."""
    return list(get_nodes(cluster)[0].network_adapters)


def get_cluster_interfaces(cluster: str, extra_cond: Callable[[Mapping[str, Any]], bool] = lambda nic: True
                           ) -> list[tuple[str, str]]:
    """Sorted ``(device, name)`` of the cluster's usable NICs (mountable Ethernet) that satisfy
    ``extra_cond`` (a predicate over the API's adapter dict)."""
    return sorted((a["device"], a.get("name") or a["device"]) for a in usable_adapters(get_nics(cluster), extra_cond))


def get_clusters_interfaces(clusters: Iterable[str], extra_cond: Callable[[Mapping[str, Any]], bool] = lambda nic: True
                            ) -> dict[str, list[tuple[str, str]]]:
    """For each cluster, its network interfaces accepted by ``extra_cond`` (see
    ``get_cluster_interfaces``)."""
    return {c: get_cluster_interfaces(c, extra_cond=extra_cond) for c in clusters}


def get_dns(site: str, *, client: Any = None) -> str | None:
    """The IPv4 address of the site's DNS server."""
    return _ref(client).dns(site)


def get_subnet_gateway(site: str, *, client: Any = None) -> str | None:
    """The gateway of a site's g5k-subnets, None when unknown."""
    return (_ref(client).site(site).get("g5ksubnet") or {}).get("gateway")


def get_vlans(site: str, *, client: Any = None) -> dict[str, Any]:
    """The site's ``kavlans`` (vlan id -> network, gateway; ``default`` is production)."""
    return dict(_ref(client).site(site).get("kavlans") or {})


def get_ipv6(site: str, *, client: Any = None) -> dict[str, Any]:
    """The IPv6 settings of a site from the reference API (empty when it has none)."""
    return dict(_ref(client).site(site).get("ipv6") or {})


def get_vlan(site: str, vlan_id: str, *, client: Any = None) -> Vlan:
    """The python-grid5000 ``Vlan`` (the production network is ``DEFAULT``)."""
    o, gk = _objects(), _gk(client)
    manager = o.VlanManager(gk, parent=_site_stub(gk, site))
    try:
        data = _enos(client).get(f"/sites/{site}/vlans/{vlan_id}")
    except G5kApiError as exc:
        if exc.status != 404 or str(vlan_id).upper() != PROD_VLAN_ID:
            raise
        data = {"uid": PROD_VLAN_ID, **(get_vlans(site, client=client).get("default") or {})}
    return o.Vlan(manager, data)


def get_clusters_status(clusters: Iterable[str]) -> dict[str, Any]:
    """Status (nodes' state and reservations) of each cluster, as python-grid5000 ``Status``
    objects: ``status.nodes`` is what :func:`can_start_on_cluster` takes."""
    client, gk, o = _enos(), _gk(), _objects()
    out = {}
    for cluster, site in get_clusters_sites(clusters).items():
        data = client.get(f"/sites/{site}/clusters/{cluster}/status", disks="no")
        manager = o.ClusterStatusManager(gk, parent=_cluster_stub(gk, site, cluster))
        out[cluster] = o.Status(manager, data)
    return out


def can_start_on_cluster(nodes_status: Mapping[str, Any], number: int, exact_nodes: list[str], start: float,
                         walltime: int) -> bool:
    """Whether ``number`` nodes (``exact_nodes`` among them) are free from ``start`` for
    ``walltime`` seconds, judging by the cluster status (dead or suspected nodes and
    non-best-effort reservations overlapping the window exclude a node). An approximation:
    OAR decides."""
    end = float(start) + int(walltime)
    free = []
    for node, status in nodes_status.items():
        if status.get("hard") in ("dead", "suspected"):
            continue
        busy = False
        for r in status.get("reservations") or []:
            if r.get("queue") == "besteffort":
                continue
            begin = r.get("started_at") or r.get("scheduled_at")
            if begin is None:
                busy = True  # not scheduled yet: it may take the node any time
                break
            if min(float(begin) + int(r.get("walltime") or 0), end) - max(float(begin), float(start)) > 0:
                busy = True
                break
        if not busy:
            free.append(node)
    return len(free) >= number and set(exact_nodes) <= set(free)


# -- storage --------------------------------------------------------------------------------------
def enable_group_storage(storage_site: str, storage_server: str, storage_name: str, ips: list[str],
                         termination_job: Any) -> None:
    """Let ``ips`` mount a group storage (or a home: server ``home``, name the login) until
    ``termination_job`` ends."""
    job = _attrs(termination_job)
    body = {"ipv4": [str(ip) for ip in ips], "termination": {"job": job["uid"], "site": job["site"]}}
    _enos().post(f"/sites/{storage_site}/storage/{storage_server}/{storage_name}/access", body, idempotent=True)
    logger.info("%s: %s/%s open to %d address(es) until job %s ends", storage_site, storage_server, storage_name,
                len(body["ipv4"]), job["uid"])


def enable_home_for_job(job: Any, ips: list[str]) -> None:
    """Let ``ips`` mount the user's home of the job's site while ``job`` runs."""
    enable_group_storage(_attrs(job)["site"], "home", get_api_username(), ips, job)


__all__ = [
    "Client", "EnosG5kDuplicateJobsError", "EnosG5kInvalidArgumentsError", "EnosG5kKavlanNodesError", "OarNetwork",
    "build_resources", "can_start_on_cluster", "clusters_sites_obj", "deploy", "enable_group_storage",
    "enable_home_for_job", "get_all_clusters_sites", "get_all_sites_obj", "get_api_client", "get_api_username",
    "get_cluster_interfaces", "get_cluster_obj", "get_cluster_site", "get_clusters_interfaces", "get_clusters_sites",
    "get_clusters_status", "get_cores", "get_dns", "get_ipv6", "get_memory", "get_nics", "get_node", "get_nodes",
    "get_site_clusters", "get_site_obj", "get_subnet_gateway", "get_threads", "get_vlan", "get_vlans",
    "grid_deploy", "grid_destroy_from_ids", "grid_destroy_from_name", "grid_get_create_or_update_job",
    "grid_get_or_create_job", "grid_make_reservation", "grid_reload_from_ids", "grid_reload_jobs_from_ids",
    "grid_reload_jobs_from_name", "job_delete", "put_nics_in_vlan", "set_nodes_vlan", "submit_jobs", "to_prod_nature",
    "to_subnet_nature", "to_vlan_nature", "wait_for_jobs",
]
