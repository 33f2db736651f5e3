"""The Grid'5000 provider.

>>> conf = (en.G5kConf.from_settings(job_name="exp", walltime="1:00:00")
...         .add_machine(roles=["server"], cluster="paravance", nodes=2))
>>> with en.G5k(conf) as (roles, networks):       # doctest: +SKIP
...     en.run_command("hostname", roles=roles)

``init`` submits one OAR job per site, all named ``job_name``, in parallel, or reloads the
jobs of that name that are still alive (a second run of the script, or a second ``init``,
never makes duplicates); waits for them with a progress display; maps nodes, NICs and
networks to the configuration deterministically (the same nodes get the same roles on every
run); puts secondary NICs into their vlans; deploys (only the nodes not deployed yet, a few
rounds, honouring ``min``); and makes the nodes usable as root.

Every job is recorded the moment OAR acknowledges it: a failure or Ctrl-C while reserving
releases exactly those, and ``destroy`` deletes them by id and, as a fallback, every job of
that name on every site.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from enoslib.errors import EnosConfigError, EnosProviderError
from enoslib.infra.configuration import seconds_to_walltime, walltime_to_seconds
from enoslib.infra.enos_g5k import kadeploy, mapping, oar, planning, remote
from enoslib.infra.enos_g5k.client import G5kClient, as_client
from enoslib.infra.enos_g5k.configuration import KAVLAN_TYPES, G5kConf
from enoslib.infra.enos_g5k.g5k_api_utils import put_nics_in_vlan
from enoslib.infra.enos_g5k.mapping import NotEnoughNodesError
from enoslib.infra.enos_g5k.objects import G5kHost, G5kNetwork, nic_name
from enoslib.infra.enos_g5k.objects import G5kProdNetwork, G5kSubnetNetwork, G5kVlanNetwork  # noqa: F401 - documented path
from enoslib.infra.enos_g5k.tunnel import G5kTunnel, tunnel_method
from enoslib.infra.enos_g5k.reference import Reference
from enoslib.infra.provider import Provider, Time, to_timestamp
from enoslib.infra.slots import IntervalSet
from enoslib.objects import Host, Networks, Roles

logger = logging.getLogger(__name__)

class G5k(Provider):
    """Grid'5000 through its REST API (python-grid5000).

    ``client``: a :class:`~enoslib.infra.enos_g5k.client.G5kClient`, a ``grid5000.Grid5000`` (an
    emulator's), a dict of client settings, or None (see :func:`~enoslib.infra.enos_g5k.client.as_client`).
    ``check_enough(deployed, undeployed)``: sets of node FQDNs after each deployment round;
    return True to stop redeploying.
    """

    configuration_class = G5kConf
    provider_conf: G5kConf

    def __init__(self, provider_conf: G5kConf | dict[str, Any], name: str | None = None, *,
                 client: Any = None, check_enough: Callable[[set[str], set[str]], bool] | None = None) -> None:
        super().__init__(provider_conf, name)
        self._client_spec = client
        self._client: G5kClient | None = None
        self._reference: Reference | None = None
        self.check_enough = check_enough
        self.jobs: list[dict[str, Any]] = []          # every job of this reservation, as last seen
        self._jobs_lock = threading.Lock()
        self._cancel = threading.Event()
        self.hosts: list[G5kHost] = []
        self.networks: list[G5kNetwork] = []
        self.deployed: list[G5kHost] = []
        self.undeployed: list[G5kHost] = []
        self._cluster_site: dict[str, str] = {}
        self.groups: dict[int, list[G5kHost]] = {}    # machine group index -> its hosts

    # -- connections ------------------------------------------------------------------------
    @property
    def client(self) -> G5kClient:
        if self._client is None:
            self._client = as_client(self._client_spec)
        return self._client

    @property
    def reference(self) -> Reference:
        if self._reference is None:
            self._reference = Reference(self.client)
        return self._reference

    # -- the jobs of this reservation -----------------------------------------------------
    def _record(self, job: dict[str, Any]) -> None:
        with self._jobs_lock:
            for i, known in enumerate(self.jobs):
                if known["site"] == job["site"] and int(known["uid"]) == int(job["uid"]):
                    self.jobs[i] = job
                    return
            self.jobs.append(job)
            self.jobs.sort(key=lambda j: (j["site"], int(j["uid"])))  # the same order on every run

    @property
    def job_ids(self) -> list[tuple[str, int]]:
        """(site, job id) of every job of this reservation."""
        with self._jobs_lock:
            return [(j["site"], int(j["uid"])) for j in self.jobs]

    # -- planning -----------------------------------------------------------------------------
    def cluster_sites(self) -> dict[str, str]:
        """Site of every cluster of the configuration (reference API, cached on disk)."""
        conf = self.provider_conf
        for m in conf.machine_specs():
            if m["cluster"] not in self._cluster_site:
                self._cluster_site[m["cluster"]] = m.get("site") or self.reference.cluster_site(m["cluster"])
        return dict(self._cluster_site)

    def job_specs(self) -> list[oar.JobSpec]:
        """The job to submit on each site (resource strings, types, walltime, reservation)."""
        conf = self.provider_conf
        cluster_site = self.cluster_sites()
        conf.check_sites(cluster_site)
        per_site: dict[str, list[str]] = {s: [] for s in conf.sites_of(cluster_site)}
        exotic: set[str] = set()
        for m in conf.machine_specs():
            site = cluster_site[m["cluster"]]
            disks = "(type='default' or type='disk') AND " if m.get("reservable_disks") else ""
            if m.get("servers"):
                names = ", ".join(f"'{s}'" for s in m["servers"])
                per_site[site].append(f"{{{disks}network_address in ({names})}}/nodes={m['nodes']}")
            else:
                per_site[site].append(f"{{{disks}cluster='{m['cluster']}'}}/nodes={m['nodes']}")
            if self.reference.is_exotic(m["cluster"]):
                exotic.add(site)
        for n in conf.network_specs():
            if n["type"] in KAVLAN_TYPES:
                per_site[n["site"]].append(f"{{type='{n['type']}'}}/vlan=1")
            elif n["type"] in ("slash_22", "slash_16"):
                per_site[n["site"]].append(f"{n['type']}=1")
        specs = []
        for site, groups in per_site.items():
            if not groups:
                continue  # only a prod network there: nothing to reserve
            types = list(conf.job_types)
            if site in exotic and "exotic" not in types:
                types.append("exotic")
            if conf.monitor:
                types.append(f"monitor={conf.monitor}")
            specs.append(oar.JobSpec(site=site, resources="+".join(groups), walltime=conf.walltime,
                                     name=conf.job_name, types=types, queue=conf.queue,
                                     project=conf.project, reservation=conf.reservation))
        return specs

    # -- lifecycle --------------------------------------------------------------------------
    def init(self, force_deploy: bool = False, start_time: Time | None = None, **kwargs: Any) -> tuple[Roles, Networks]:
        if start_time is not None:
            self.set_reservation(start_time)
        self.reserve()
        jobs = self.wait()
        self._concretize(jobs)
        self._mirror_vlans()
        if self.provider_conf.deploy:
            self._deploy(force_deploy or self.provider_conf.force_deploy, jobs)
        else:
            self.deployed, self.undeployed = list(self.hosts), []
            if self.provider_conf.root_access:
                remote.grant_root_access([h.to_host(user=self.client.login, **self._jump())
                                          for h in self.hosts])
        return self._to_enoslib()

    def async_init(self, start_time: Time | None = None, **kwargs: Any) -> None:
        """Submit (or reload) the jobs without waiting for them to start."""
        if start_time is not None:
            self.set_reservation(start_time)
        self.reserve()

    def reserve(self) -> list[dict[str, Any]]:
        """Reload this reservation's jobs (by id, or by name), submit the missing ones."""
        self._cancel.clear()
        try:
            conf = self.provider_conf
            if conf.oargrid_jobids:
                for site, uid in conf.oargrid_jobids:
                    self._record(oar.get_job(self.client, str(site), uid))
                return list(self.jobs)
            specs = self.job_specs()
            with self._jobs_lock:
                self.jobs.clear()  # what is alive now is found again below; the rest is gone
            found = oar.find_jobs_everywhere(self.client, [s.site for s in specs], conf.job_name, self.client.login)
            for job in found:  # all checked before any is recorded: a mismatch releases nothing
                self._check_reloaded(job)
            for job in found:
                self._record(job)
            have = {j["site"] for j in found}
            for site in sorted(have):
                same = [j["uid"] for j in found if j["site"] == site]
                if len(same) > 1:
                    logger.warning("%s: %d jobs named %r (%s); using all of them", site, len(same),
                                   conf.job_name, ", ".join(map(str, same)))
            todo = [s for s in specs if s.site not in have]
            if found:
                logger.info("reloading job(s) %s", ", ".join(f"{j['site']}:{j['uid']}" for j in found))
            oar.submit_all(self.client, todo, user=self.client.login, on_submitted=self._record,
                           cancelled=self._cancel)
            return list(self.jobs)
        except BaseException:
            self._release_on_failure()
            raise

    def wait(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """Wait until every job runs; the jobs."""
        try:
            jobs = oar.wait_running(self.client, list(self.jobs), timeout=timeout, on_update=self._record)
        except BaseException:
            self._release_on_failure()
            raise
        return jobs

    def _release_on_failure(self) -> None:
        if self.jobs:
            logger.warning("reservation failed: releasing %s", ", ".join(f"{s}:{u}" for s, u in self.job_ids))
            from enoslib._signals import sigint_deferred

            with sigint_deferred():
                try:
                    self.destroy()
                except Exception as exc:  # noqa: BLE001 - the original error matters more
                    logger.error("releasing after the failure failed too: %s", exc)

    def _check_reloaded(self, job: dict[str, Any]) -> None:
        wanted, got = self.provider_conf.deploy, "deploy" in (job.get("types") or [])
        if wanted != got:
            raise EnosProviderError(
                f"{job['site']}: job {job['uid']} named {self.provider_conf.job_name!r} was submitted "
                f"{'without' if wanted else 'with'} job type deploy; delete it (provider.destroy()) or "
                "change job_name")

    def destroy(self, wait: bool = False, **kwargs: Any) -> None:
        """Delete the jobs of this reservation by id, then every job named ``job_name`` of this
        user on every site (jobs whose submission answer was lost). Safe to call twice."""
        self._cancel.set()
        try:
            client = self.client
        except (EnosConfigError, ImportError) as exc:
            if self.job_ids:
                raise
            logger.warning("nothing to release (no API connection: %s)", exc)
            return
        deleted: list[str] = []
        errors: list[str] = []

        def delete(site: str, uid: Any) -> None:
            try:
                if oar.delete_job(client, site, uid):
                    deleted.append(f"{site}:{uid}")
            except EnosProviderError as exc:  # keep going: the other jobs must go too
                errors.append(f"{site}:{uid}: {exc}")

        recorded = self.job_ids
        for site, uid in recorded:
            delete(site, uid)
        if not self.provider_conf.oargrid_jobids:
            try:
                sites = self.reference.sites()
            except EnosProviderError as exc:
                logger.warning("could not list the sites to delete jobs by name: %s", exc)
                sites = sorted({s for s, _ in recorded} | {s.site for s in self._known_specs()})
            try:
                found = oar.find_jobs_everywhere(client, sites, self.provider_conf.job_name, client.login)
            except EnosProviderError as exc:
                errors.append(f"looking up jobs named {self.provider_conf.job_name!r}: {exc}")
                found = []
            for job in found:
                if (job["site"], int(job["uid"])) not in set(recorded):
                    delete(job["site"], job["uid"])
        if deleted:
            logger.info("deleted job(s) %s", ", ".join(deleted))
        if errors:
            raise EnosProviderError("some jobs may still be alive: " + "; ".join(errors))
        with self._jobs_lock:
            self.jobs.clear()
        self.hosts, self.networks, self.deployed, self.undeployed = [], [], [], []

    def _known_specs(self) -> list[oar.JobSpec]:
        try:
            return self.job_specs()
        except Exception:  # noqa: BLE001 - only a hint of where to look
            return []

    def is_created(self) -> bool:
        conf = self.provider_conf
        if conf.oargrid_jobids:
            return any(oar.get_job(self.client, str(s), u).get("state") in oar.ACTIVE_STATES
                       for s, u in conf.oargrid_jobids)
        sites = [s.site for s in self.job_specs()]
        return bool(oar.find_jobs_everywhere(self.client, sites, conf.job_name, self.client.login))

    # -- planning ---------------------------------------------------------------------------
    def availability(self, start: Time, end: Time) -> IntervalSet:
        demands = planning.demands(self.client, self.provider_conf, self.cluster_sites())
        return planning.availability(demands, to_timestamp(start), to_timestamp(end))

    def test_slot(self, start: Time, end: Time) -> bool:
        s, e = to_timestamp(start), to_timestamp(end)
        if e <= s:
            return False
        free = self.availability(s, e)
        return any(i.start <= s and i.end >= e for i in free)

    def set_reservation(self, timestamp: Time) -> None:
        """Make the jobs start at ``timestamp`` (epoch or aware datetime), in Grid'5000's time."""
        self.provider_conf.reservation = oar.to_oar_date(to_timestamp(timestamp))

    def offset_walltime(self, offset: float) -> None:
        seconds = walltime_to_seconds(self.provider_conf.walltime) + int(offset)
        if seconds <= 0:
            raise EnosConfigError(f"invalid g5k configuration at $.walltime: {self.provider_conf.walltime} "
                                  f"{offset:+.0f}s is not positive (rule: minimum)", path="$.walltime", rule="minimum")
        self.provider_conf.walltime = seconds_to_walltime(seconds)

    # -- mapping jobs to the configuration --------------------------------------------------
    def _concretize(self, jobs: Sequence[dict[str, Any]]) -> None:
        conf = self.provider_conf
        cluster_site = self.cluster_sites() if not conf.oargrid_jobids else mapping.sites_from_jobs(
            conf, jobs, self.reference)
        self.hosts, self.networks, self.groups = mapping.concretize(conf, jobs, self.reference, cluster_site)

    # -- actions on the testbed -------------------------------------------------------------
    def _mirror_vlans(self) -> None:
        """Put the secondary NICs into their vlans (KaVLAN; idempotent)."""
        batches: dict[tuple[str, str], list[str]] = {}
        for h in self.hosts:
            for site, vlan, name in h.vlan_requests():
                batches.setdefault((site, vlan), []).append(name)
        for (site, vlan), names in batches.items():
            put_nics_in_vlan(site, names, vlan, client=self.client)

    def _deploy(self, force: bool, jobs: Sequence[dict[str, Any]]) -> None:
        conf, client = self.provider_conf, self.client
        by_fqdn = {h.fqdn: h for h in self.hosts}
        targets = {h.fqdn: kadeploy.Target(h.site, h.primary_network.vlan_id if h.primary_network.kind != "prod"
                                           else None) for h in self.hosts}
        started = {j["site"]: float(j.get("started_at") or 0) for j in jobs}

        def already(nodes: Sequence[str]) -> set[str]:
            if force:
                return set()
            found: set[str] = set()
            for site in sorted({targets[n].site for n in nodes}):
                here = [n for n in nodes if targets[n].site == site]
                for vlan in {targets[n].vlan for n in here}:
                    found |= kadeploy.deployed_since(client, site, [n for n in here if targets[n].vlan == vlan],
                                                     conf.env_name, since=started.get(site, 0),
                                                     version=conf.env_version, vlan=vlan, user=client.login)
            if conf.check_deployed_command and found:
                hosts = {by_fqdn[n].to_host(**self._jump()): n for n in found}
                ok = remote.check_command(list(hosts), conf.check_deployed_command)
                found = {hosts[h] for h in ok}
            return found

        deployed, undeployed = kadeploy.deploy_rounds(
            client, targets, conf.env_name, version=conf.env_version, key=remote.public_keys(conf.key),
            tries=conf.deploy_tries, already_deployed=already, check_enough=self.check_enough,
            user=client.login)
        self.deployed = [h for h in self.hosts if h.fqdn in deployed]
        self.undeployed = [h for h in self.hosts if h.fqdn in undeployed]
        problems = []
        for i, m in enumerate(conf.machine_specs()):
            mine = self.groups.get(i, [])
            ok = [h for h in mine if h.fqdn in deployed]
            if len(ok) < m["min"]:
                problems.append(f"$.resources.machines[{i}]: {len(ok)} node(s) deployed, min {m['min']} "
                                f"(failed: {', '.join(h.fqdn for h in mine if h.fqdn not in deployed)})")
        if problems:
            raise NotEnoughNodesError("deployment failed: " + "; ".join(problems))
        if self.undeployed:
            logger.warning("%d node(s) could not be deployed and are left out (min allows it): %s",
                           len(self.undeployed), ", ".join(h.fqdn for h in self.undeployed))
        hosts = {h: h.to_host(**self._jump()) for h in self.deployed}
        if conf.wait_ssh:
            remote.wait_ssh(hosts.values())
        if conf.dhcp:
            todo = {hosts[h]: h.dhcp_command() for h in self.deployed if h.secondary_networks}
            if todo:
                remote.run_dhcp(todo)

    def _jump(self) -> dict[str, Any]:
        conf = self.provider_conf
        if conf.ssh_jump == "always" or (conf.ssh_jump == "auto" and not remote.inside_g5k()):
            return {"gateway": conf.access_host, "gateway_user": self.client.login}
        return {}

    def _to_enoslib(self) -> tuple[Roles, Networks]:
        roles = Roles()
        user = "root" if (self.provider_conf.deploy or self.provider_conf.root_access) else self.client.login
        jump = self._jump()
        for h in self.deployed:
            roles.add_one(h.to_host(user=user, **jump), h.roles)
        networks = Networks()
        for net in self.networks:
            for generic in net.to_enos()[1]:
                networks.add_one(generic, net.roles)
        return roles, networks

    # -- firewall and tunnels ---------------------------------------------------------------
    def fw_create(self, hosts: Sequence[Host | G5kHost | str] | None = None, port: int | list[int] | None = None,
                  src_addr: str | list[str] | None = None, proto: str = "tcp+udp") -> None:
        """Open the reconfigurable firewall (IPv6) towards ``hosts`` (default: every node of the
        jobs), for the lifetime of the jobs. Reference: https://www.grid5000.fr/w/Reconfigurable_Firewall"""
        wanted = None if hosts is None else {_node_of(h) for h in hosts}
        rule: dict[str, Any] = {"proto": proto}
        if port is not None:
            rule["port"] = port
        if src_addr is not None:
            rule["src_addr"] = src_addr
        for job in list(self.jobs):
            nodes = [n for n in oar.job_nodes(job) if wanted is None or n in wanted]
            if not nodes:
                continue
            body = [{**rule, "addr": [nic_name(n, ipv6=True) for n in nodes]}]
            self.client.post(f"/sites/{job['site']}/firewall/{job['uid']}", body)
            logger.info("%s: firewall opened for job %s (%d node(s))", job["site"], job["uid"], len(nodes))

    def fw_delete(self) -> None:
        """Remove every firewall opening of the jobs."""
        for job in list(self.jobs):
            self.client.delete(f"/sites/{job['site']}/firewall/{job['uid']}")

    def fw_list(self) -> list[dict[str, Any]]:
        out = []
        for job in list(self.jobs):
            for rule in self.client.items(f"/sites/{job['site']}/firewall/{job['uid']}"):
                out.append({**rule, "site": job["site"], "job": job["uid"]})
        return out

    @contextlib.contextmanager
    def firewall(self, hosts: Sequence[Host | G5kHost | str] | None = None, port: int | list[int] | None = None,
                 src_addr: str | list[str] | None = None, proto: str = "tcp+udp") -> Iterator[None]:
        """Firewall openings for the duration of a ``with`` block."""
        self.fw_create(hosts=hosts, port=port, src_addr=src_addr, proto=proto)
        try:
            yield
        finally:
            self.fw_delete()

    @tunnel_method
    def tunnel(self, address: str, port: int, local_port: int = 0) -> Any:
        """Start a tunnel to ``address:port`` inside Grid'5000 (none needed inside): ``(local
        address, local port, forwarder or None)``, which closes the tunnel when used in
        ``with provider.tunnel(host, 80) as (local_address, local_port, _): ...``."""
        jump = self._jump()
        return G5kTunnel(address, port, local_port=local_port, gateway=jump.get("gateway"),
                         user=jump.get("gateway_user")).open()


def _node_of(host: Host | G5kHost | str) -> str:
    from enoslib.infra.enos_g5k.objects import canonical_name

    if isinstance(host, G5kHost):
        return host.fqdn
    if isinstance(host, Host):
        return str(host.extra.get("g5k_fqdn") or canonical_name(host.address))
    return canonical_name(str(host))


# EnOSlib's per-site provider class; here one class serves one site or many.
G5kBase = G5k
