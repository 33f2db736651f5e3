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

Two runs of the same configuration started at the same moment do not make two reservations:
on one machine a per-name file lock serialises reserve-or-reload; across machines, the job
list of each site is read again right after submitting and the younger of two jobs of the same
name is cancelled (both runs then use the older one).

``destroy`` keeps trying while the API fails (``g5k_release_deadline`` seconds, see
:func:`enoslib.infra.enos_g5k.client.api_settings`), then writes what it could not release to
a local record (``<cache_dir>/g5k/pending-release/``) that the next ``init`` or ``destroy`` of
the same name, or ``enos destroy NAME``, finishes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from enoslib.errors import EnosConfigError, EnosProviderError
from enoslib.infra.configuration import seconds_to_walltime, walltime_to_seconds
from enoslib.infra.enos_g5k import kadeploy, mapping, oar, planning, remote
from enoslib.infra.enos_g5k.client import G5kClient, Stopwatch, api_settings, as_client
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
                 client: Any = None, check_enough: Callable[[set[str], set[str]], bool] | None = None,
                 state_dir: str | os.PathLike[str] | None = None) -> None:
        super().__init__(provider_conf, name)
        self._client_spec = client
        # where the per-name lock and the record of unreleased jobs live (default <cache_dir>/g5k):
        # runs sharing it never reserve twice the same name
        self.state_dir = None if state_dir is None else Path(state_dir)
        # whether a submission may have reached OAR since the last release (None: unknown, this
        # provider never reserved): only then must destroy look the jobs up by name
        self._posted: bool | None = None
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
        if self._posted is None:
            self._posted = False
        try:
            conf = self.provider_conf
            if conf.oargrid_jobids:
                for site, uid in conf.oargrid_jobids:
                    self._record(oar.get_job(self.client, str(site), uid))
                return list(self.jobs)
            specs = self.job_specs()
            with name_lock(self._state_dir(), self._key()):
                self._finish_pending_release()
                return self._reserve(specs)
        except BaseException:
            self._release_on_failure()
            raise

    def _reserve(self, specs: list[oar.JobSpec]) -> list[dict[str, Any]]:
        """Reserve-or-reload; the caller holds the per-name lock."""
        conf = self.provider_conf
        with self._jobs_lock:
            self.jobs.clear()  # what is alive now is found again below; the rest is gone
        found = oar.find_jobs_everywhere(self.client, [s.site for s in specs], conf.job_name, self.client.login)
        try:
            for job in found:  # all checked before any is recorded: a mismatch releases nothing
                self._check_reloaded(job)
        except EnosProviderError:
            self._posted = None  # jobs of this name exist that we do not hold: destroy looks them up
            raise
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
        if todo:
            self._posted = True
            submitted = oar.submit_all(self.client, todo, user=self.client.login, on_submitted=self._record,
                                       cancelled=self._cancel)
            for job in submitted:
                self._drop_if_duplicate(job)
        return list(self.jobs)

    def _drop_if_duplicate(self, job: dict[str, Any]) -> None:
        """Another run (another machine: the file lock covers this one) may have submitted the
        same name on the same site meanwhile: the younger job is cancelled, both runs use the
        older one."""
        site, uid = job["site"], int(job["uid"])
        same = oar.find_jobs(self.client, site, self.provider_conf.job_name, self.client.login)
        older = [j for j in same if int(j["uid"]) < uid]
        if not older:
            return
        keep = older[0]
        self._check_reloaded(keep)
        oar.delete_job(self.client, site, uid)
        with self._jobs_lock:
            self.jobs = [j for j in self.jobs if (j["site"], int(j["uid"])) != (site, uid)]
        self._record(keep)
        logger.warning("%s: job %s duplicated job %s named %r (another run started at the same time): "
                       "cancelled it, using %s", site, uid, keep["uid"], self.provider_conf.job_name, keep["uid"])

    def wait(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """Wait until every job runs; the jobs."""
        try:
            jobs = oar.wait_running(self.client, list(self.jobs), timeout=timeout, on_update=self._record)
        except BaseException:
            self._release_on_failure()
            raise
        return jobs

    def _release_on_failure(self) -> None:
        if self.jobs or self._posted:
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
        user on every site (jobs whose submission answer was lost), retrying while the API
        fails; what is left after ``g5k_release_deadline`` seconds is recorded for the next
        ``init``/``destroy`` of that name (or ``enos destroy NAME``). Safe to call twice: once
        released, nothing more is asked to the API."""
        self._cancel.set()
        try:
            client = self.client
        except (EnosConfigError, ImportError) as exc:
            if self.job_ids:
                raise
            logger.warning("nothing to release (no API connection: %s)", exc)
            return
        conf = self.provider_conf
        pending = read_pending(self._state_dir(), self._key())
        ids = sorted(set(self.job_ids) | {(s, int(u)) for s, u in (pending or {}).get("jobs", [])})
        by_name = not conf.oargrid_jobids and (self._posted is not False or bool(pending and pending["by_name"]))
        if not ids and not by_name:
            logger.debug("%s: nothing to release", conf.job_name)
            return
        left, lookup_left, errors = release_jobs(client, conf.job_name, ids, by_name=by_name,
                                                 sites=lambda: self._all_sites(ids))
        if left or lookup_left:
            path = write_pending(self._state_dir(), self._key(), client, conf.job_name, left, lookup_left, errors)
            raise EnosProviderError(
                f"could not release the Grid'5000 job(s) named {conf.job_name!r} ({_what_is_left(left, lookup_left)}): "
                f"{'; '.join(errors[-3:])}. Recorded in {path}: the next init or destroy of "
                f"{conf.job_name!r}, or `enos destroy {conf.job_name}`, finishes the release")
        remove_pending(self._state_dir(), self._key())
        with self._jobs_lock:
            self.jobs.clear()
        self._posted = False
        self.hosts, self.networks, self.deployed, self.undeployed = [], [], [], []

    def _all_sites(self, ids: Sequence[tuple[str, int]]) -> list[str]:
        try:
            return self.reference.sites()
        except EnosProviderError as exc:
            logger.warning("could not list the sites to delete jobs by name: %s", exc)
            conf = self.provider_conf  # what is known without asking the API again
            named = [m.get("site") for m in conf.machine_specs()] + [n.get("site") for n in conf.network_specs()]
            return sorted({s for s, _ in ids} | set(self._cluster_site.values()) | {s for s in named if s})

    # -- local state: the per-name lock, the record of jobs left to release ------------------
    def _state_dir(self) -> Path:
        if self.state_dir is not None:
            return self.state_dir
        from enoslib.config import cache_dir

        return cache_dir("g5k")

    def _key(self) -> tuple[str, str, str]:
        return (self.client.uri, self.client.login, self.provider_conf.job_name)

    def _finish_pending_release(self) -> None:
        """A previous destroy of this name could not finish: finish it before reserving."""
        pending = read_pending(self._state_dir(), self._key())
        if pending is None:
            return
        logger.warning("a previous destroy of %r left job(s) to release: finishing it first",
                       self.provider_conf.job_name)
        ids = [(s, int(u)) for s, u in pending.get("jobs", [])]
        left, lookup_left, errors = release_jobs(self.client, self.provider_conf.job_name, ids,
                                                 by_name=bool(pending.get("by_name")),
                                                 sites=lambda: self._all_sites(ids))
        if left or lookup_left:
            path = write_pending(self._state_dir(), self._key(), self.client, self.provider_conf.job_name,
                                 left, lookup_left, errors)
            raise EnosProviderError(
                f"the job(s) of a previous run named {self.provider_conf.job_name!r} could not be released yet "
                f"({_what_is_left(left, lookup_left)}: {'; '.join(errors[-3:])}); not reserving. Record: {path}")
        remove_pending(self._state_dir(), self._key())

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
        if remote.use_access_host(conf.ssh_jump):  # with the global g5k_auto_jump
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


# -- releasing jobs, even through API failures ------------------------------------------------
def release_jobs(client: G5kClient, job_name: str, ids: Sequence[tuple[str, int]], *, by_name: bool,
                 sites: Callable[[], Sequence[str]], deadline: float | None = None
                 ) -> tuple[list[tuple[str, int]], bool, list[str]]:
    """Delete the jobs ``ids`` and, when ``by_name``, every job named ``job_name`` of the
    client's user on ``sites()``. Rounds are retried with backoff while the API fails, for
    ``deadline`` seconds (default ``g5k_release_deadline``), with a progress line per round.
    Returns (jobs not deleted, whether the lookup by name is still to do, the errors)."""
    settings = api_settings()
    deadline = settings["g5k_release_deadline"] if deadline is None else deadline
    watch = Stopwatch(client.now)
    todo = {(s, int(u)) for s, u in ids}
    delay = client.backoff
    errors: list[str] = []
    deleted: list[str] = []
    while True:
        errors = []
        for site, uid in sorted(todo):
            try:
                if oar.delete_job(client, site, uid):
                    deleted.append(f"{site}:{uid}")
                todo.discard((site, uid))
            except EnosProviderError as exc:  # keep going: the other jobs must go too
                errors.append(f"{site}:{uid}: {exc}")
        if by_name and not errors:  # looked up once the known jobs are gone (no race with them)
            try:
                found = oar.find_jobs_everywhere(client, sites(), job_name, client.login)
            except EnosProviderError as exc:
                errors.append(f"looking up jobs named {job_name!r}: {exc}")
            else:
                todo |= {(j["site"], int(j["uid"])) for j in found}
                by_name = False
                continue  # delete what was found in this round
        if not todo and not by_name:
            if deleted:
                logger.info("deleted job(s) %s", ", ".join(deleted))
            return [], False, []
        elapsed = watch.elapsed()
        if elapsed + delay > deadline:
            return sorted(todo), by_name, errors
        logger.warning("releasing %r: %s still to do (%s); next try in %.0fs, giving up in %.0fs "
                       "(g5k_release_deadline)", job_name, _what_is_left(sorted(todo), by_name), errors[-1],
                       delay, deadline - elapsed)
        client.sleep(delay)
        delay = min(client.max_backoff, delay * 2)


def _what_is_left(jobs: Sequence[tuple[str, int]], by_name: bool) -> str:
    parts = [f"{s}:{u}" for s, u in jobs]
    if by_name:
        parts.append("the look-up of the jobs by name")
    return ", ".join(parts)


def _pending_path(state_dir: Path, key: tuple[str, str, str]) -> Path:
    digest = hashlib.sha256("\0".join(key).encode()).hexdigest()[:20]
    return state_dir / "pending-release" / f"{digest}.json"


def read_pending(state_dir: Path, key: tuple[str, str, str]) -> dict[str, Any] | None:
    """The record of jobs a destroy of ``key`` = (API uri, login, job name) could not release."""
    path = _pending_path(state_dir, key)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logger.warning("ignoring the unreadable release record %s: %s", path, exc)
        return None
    return data if isinstance(data, dict) else None


def pending_releases(state_dir: Path | None = None) -> list[dict[str, Any]]:
    """Every record of jobs left to release (``uri``, ``login``, ``job_name``, ``jobs``, ...)."""
    if state_dir is None:
        from enoslib.config import cache_dir

        state_dir = cache_dir("g5k")
    out = []
    for path in sorted((state_dir / "pending-release").glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            out.append({**data, "path": str(path)})
    return out


def write_pending(state_dir: Path, key: tuple[str, str, str], client: G5kClient, job_name: str,
                  jobs: Sequence[tuple[str, int]], by_name: bool, errors: Sequence[str]) -> Path:
    """Record jobs that could not be released (so ``enos destroy NAME`` can finish the job);
    returns the record's path."""
    path = _pending_path(state_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    record = {"uri": key[0], "login": key[1], "job_name": job_name, "jobs": [[s, int(u)] for s, u in jobs],
              "by_name": by_name, "errors": list(errors)[-5:], "time": time.time()}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)  # never a half-written record
    logger.error("could not release %s; recorded in %s", _what_is_left(jobs, by_name), path)
    return path


def remove_pending(state_dir: Path, key: tuple[str, str, str]) -> None:
    """Forget the record of unreleased jobs for ``key`` (they are released)."""
    with contextlib.suppress(FileNotFoundError):
        _pending_path(state_dir, key).unlink()


@contextlib.contextmanager
def name_lock(state_dir: Path, key: tuple[str, str, str]) -> Iterator[None]:
    """An exclusive lock on this machine for one (API uri, login, job name): two runs of the same
    configuration never reserve at the same time (flock: also between threads of one process)."""
    import fcntl

    path = _pending_path(state_dir, key).parent.parent / "locks" / (_pending_path(state_dir, key).stem + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.warning("another run is reserving %r: waiting for it (lock %s)", key[2], path)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def release_by_name(job_name: str, client: Any = None, *, state_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Delete every job named ``job_name`` of the client's user on every site, plus the jobs a
    failed destroy recorded (what ``enos destroy NAME`` does); the jobs deleted or already gone.
    Raises :class:`EnosProviderError` (and keeps the record) when some could not be."""
    from enoslib.config import cache_dir

    client = as_client(client)
    where = Path(state_dir) if state_dir is not None else cache_dir("g5k")
    key = (client.uri, client.login, job_name)
    pending = read_pending(where, key) or {}
    ids = [(s, int(u)) for s, u in pending.get("jobs", [])]
    with name_lock(where, key):
        left, lookup_left, errors = release_jobs(client, job_name, ids, by_name=True,
                                                 sites=lambda: Reference(client).sites())
        if left or lookup_left:
            path = write_pending(where, key, client, job_name, left, lookup_left, errors)
            raise EnosProviderError(f"could not release {_what_is_left(left, lookup_left)}: "
                                    f"{'; '.join(errors[-3:])} (recorded in {path})")
        remove_pending(where, key)
    return [f"{s}:{u}" for s, u in ids]


def _node_of(host: Host | G5kHost | str) -> str:
    from enoslib.infra.enos_g5k.objects import canonical_name

    if isinstance(host, G5kHost):
        return host.fqdn
    if isinstance(host, Host):
        return str(host.extra.get("g5k_fqdn") or canonical_name(host.address))
    return canonical_name(str(host))


# EnOSlib's per-site provider class; here one class serves one site or many.
G5kBase = G5k
