"""The Distem provider: containers (vnodes) on Grid'5000 nodes.

>>> conf = (en.DistemConf.from_settings(job_name="containers", walltime="01:00:00")
...         .add_machine(roles=["server"], cluster="paravance", number=4, flavour="small"))
>>> with en.Distem(conf) as (roles, networks):       # doctest: +SKIP
...     en.run_command("hostname", roles=roles)

``init``:

1. reserves the nodes and the subnet (``slash_22`` by default) in one Grid'5000 job named
   ``job_name`` through :class:`~enoslib.infra.enos_g5k.G5k` (a job of that name still alive is
   reloaded), and deploys ``env_name`` on the nodes; how many nodes: enough for the
   containers' flavours against the cluster's cores (or threads, ``vcore_type``) and memory,
   from the reference API;
2. starts Distem: ``distem-bootstrap`` on the first node (the coordinator) over SSH, unless
   its REST API (port 4567, reached through an SSH tunnel over ``access_host`` from outside
   Grid'5000) already answers with every node as a pnode;
3. through the coordinator's REST API (the ``distem`` client): creates the vnetwork (the
   subnet, or a private one), the missing vnodes (host, filesystem ``image``, flavour's CPU
   and memory, one interface on the vnetwork), starts those not running (a vnode that fails
   to start is tried again), and returns them as hosts (user root; through the coordinator
   when the vnetwork is private).

A second ``init`` (or run of the script) reloads the job and keeps the running vnodes;
``force_deploy`` removes them first. ``destroy`` removes the vnodes and releases the job.
A failure or Ctrl-C in ``init`` releases everything.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import shlex
import time
from typing import Any

from enoslib.errors import EnosConfigError, EnosProviderError
from enoslib.infra.configuration import walltime_to_seconds
from enoslib.infra.enos_distem.client import DistemApi, not_found
from enoslib.infra.enos_distem.configuration import Configuration
from enoslib.infra.enos_distem.forward import SshForward
from enoslib.infra.enos_distem.constants import (COORDINATOR_PORT, PRIVATE_VNETWORK, VIFACE,
                                                 VNETWORK_NAME)
from enoslib.infra.enos_g5k.configuration import G5kConf
from enoslib.infra.enos_g5k.objects import G5kSubnetNetwork
from enoslib.infra.provider import Provider, Time
from enoslib.infra.slots import IntervalSet
from enoslib.objects import DefaultNetwork, Host, Networks, Roles

logger = logging.getLogger(__name__)

__all__ = ["Distem"]

_RUNNING, _FAILED = "RUNNING", "FAILED"
_NODEFILE = "/tmp/enoslib-distem-nodes"


class Distem(Provider):
    """Use Distem on G5k.

    ``client``: the Grid'5000 API client, as :class:`~enoslib.infra.enos_g5k.G5k` takes it.
    ``coordinator``: ``(address, port)`` of a Distem REST API already running for these nodes
    (no bootstrap, no tunnel). ``start_timeout``: seconds to wait for the vnodes to run;
    ``start_tries``: starts of a vnode before giving up.
    """

    configuration_class = Configuration
    provider_conf: Configuration

    def __init__(self, provider_conf: Configuration | dict[str, Any], name: str | None = None, *,
                 client: Any = None, coordinator: tuple[str, int] | None = None,
                 state_dir: str | os.PathLike[str] | None = None, start_timeout: float = 600.0,
                 start_tries: int = 3) -> None:
        super().__init__(provider_conf, name)
        from enoslib.infra.enos_g5k.provider import G5k

        self._coordinator = coordinator
        self.start_timeout, self.start_tries = start_timeout, start_tries
        self.g5k = G5k(self._g5k_conf([1] * len(self.provider_conf.machines), self._site_hint()), client=client,
                       state_dir=state_dir)
        self.api: DistemApi | None = None
        self._tunnel: Any = None
        self.requests = 0  # Distem REST calls made by the last init/destroy
        self.coordinator_host: Host | None = None
        self.pnodes: list[list[str]] = []   # per machine group: the pnodes (node FQDNs) its vnodes go on
        self.vnodes: dict[str, dict[str, Any]] = {}  # name -> {"group", "pnode", "address"}
        self.cidr: str | None = None

    # -- the Grid'5000 side --------------------------------------------------------------------
    def _g5k_conf(self, nodes: list[int], site: str | None) -> G5kConf:
        """The Grid'5000 job: ``nodes[i]`` nodes for machine group i, the vlan/subnet on ``site``."""
        conf = self.provider_conf
        g5k = G5kConf.from_settings(job_name=conf.job_name, walltime=conf.walltime, queue=conf.queue,
                                    job_type=["deploy"], env_name=conf.env_name, force_deploy=conf.force_deploy,
                                    ssh_jump=conf.ssh_jump, access_host=conf.access_host, dhcp=False,
                                    # the nodes are reached over SSH only to bootstrap Distem
                                    wait_ssh=self._coordinator is None)
        if conf.reservation:
            g5k.reservation = conf.reservation
        if conf.key:
            g5k.key = conf.key
        vlan, subnet = conf.vlan_type(), conf.subnet_type()
        if vlan and site:
            g5k.add_network(id="distem_vlan", type=vlan, roles=["distem_vlan"], site=site)
        if subnet and site:
            g5k.add_network(id="distem_subnet", type=subnet, roles=["distem_subnet"], site=site)
        for i, (m, n) in enumerate(zip(conf.machine_specs(), nodes)):
            extra: dict[str, Any] = {"primary_network": "distem_vlan"} if vlan and site else {}
            if m.get("undercloud"):  # these very nodes (of the cluster: checked by the configuration)
                servers = [u["address"] for u in m["undercloud"]]
                extra.update(servers=servers, nodes=len(servers))
            else:
                extra.update(cluster=m["cluster"], nodes=n)
            g5k.add_machine(roles=[f"distem_group_{i}"], **extra)
        return g5k

    def _site_hint(self) -> str | None:
        """The site of the clusters (from the cached reference; None when unknown offline)."""
        from enoslib.infra.enos_g5k.reference import known_cluster_sites

        known = known_cluster_sites()
        sites = {known.get(m["cluster"]) for m in self.provider_conf.machine_specs()}
        return next(iter(sites)) if len(sites) == 1 and None not in sites else None

    def _plan(self) -> tuple[list[int], str]:
        """How many nodes each machine group needs (flavours against the cluster's nodes), and
        the site of the clusters."""
        conf, ref = self.provider_conf, self.g5k.reference
        sites = {}
        out = []
        for i, m in enumerate(conf.machine_specs()):
            try:
                sites[m["cluster"]] = ref.cluster_site(m["cluster"])
                node = next(iter(ref.nodes(m["cluster"]).values()))
            except (KeyError, StopIteration):
                raise EnosConfigError(f"invalid distem configuration at $.resources.machines[{i}].cluster: "
                                      f"unknown cluster {m['cluster']!r} (rule: cluster)",
                                      path=f"$.resources.machines[{i}].cluster", rule="cluster") from None
            arch = node.get("architecture", {})
            cores = int(arch.get("nb_threads" if m["vcore_type"] == "thread" else "nb_cores") or arch.get("nb_cores") or 1)
            mem = int(node.get("main_memory", {}).get("ram_size") or 0) // 2 ** 20 or 1
            want = m["flavour_desc"]
            if want["core"] > cores or want["mem"] > mem:
                raise EnosConfigError(
                    f"invalid distem configuration at $.resources.machines[{i}].flavour: a container of "
                    f"{want['core']} core(s) and {want['mem']} MiB does not fit on a {m['cluster']} node "
                    f"({cores} {m['vcore_type']}s, {mem} MiB) (rule: flavour)",
                    path=f"$.resources.machines[{i}].flavour", rule="flavour")
            per_node = min(cores // want["core"], mem // want["mem"])
            out.append(max(1, math.ceil(m["number"] / per_node)))
        if len(set(sites.values())) > 1:
            raise EnosConfigError("invalid distem configuration at $.resources.machines: the clusters are on "
                                  f"several sites ({', '.join(sorted(set(sites.values())))}); Distem runs on one "
                                  "(rule: site)", path="$.resources.machines", rule="site")
        return out, next(iter(sites.values()))

    # -- lifecycle -------------------------------------------------------------------------------
    def init(self, force_deploy: bool = False, start_time: Time | None = None, **kwargs: Any
             ) -> tuple[Roles, Networks]:
        from enoslib._signals import sigint_deferred

        force = force_deploy or self.provider_conf.force_deploy
        try:
            self.g5k.provider_conf = self._g5k_conf(*self._plan())
            if start_time is not None:
                self.g5k.set_reservation(start_time)
            self.g5k.init(force_deploy=force)
            self._pnodes()
            self._connect()
            self._vnetwork(force)
            self._vnodes(force)
            return self._to_enoslib()
        except BaseException:
            logger.warning("%s: init failed: releasing the vnodes and the job", self.name)
            with sigint_deferred():
                try:
                    self.destroy()
                except Exception as exc:  # noqa: BLE001 - the original error matters more
                    logger.error("releasing after the failure failed too: %s", exc)
            raise

    def _pnodes(self) -> None:
        self.pnodes = [[h.fqdn for h in self.g5k.groups.get(i, [])] for i in range(len(self.provider_conf.machines))]
        coordinator = self.g5k.deployed[0]
        self.coordinator_host = coordinator.to_host(user="root", **self.g5k._jump())
        subnets = [n for n in self.g5k.networks if isinstance(n, G5kSubnetNetwork)]
        if subnets:  # a /22, or the 64 /22 of a /16: one vnetwork over all of it
            merged = list(ipaddress.collapse_addresses(ipaddress.ip_network(s) for s in subnets[0].subnets))
            self.cidr = str(merged[0])
        else:
            self.cidr = PRIVATE_VNETWORK

    def _all_pnodes(self) -> list[str]:
        return list(dict.fromkeys(p for group in self.pnodes for p in group))

    def _connect(self) -> None:
        """The coordinator's REST API: bootstrapped when needed, tunnelled when not routable."""
        if self._coordinator is not None:
            self.api = DistemApi(*self._coordinator)
        else:
            assert self.coordinator_host is not None
            from enoslib.infra.enos_g5k import remote

            if remote.inside_g5k():  # the nodes are routable from here
                address, port = str(self.coordinator_host.extra.get("g5k_fqdn")), COORDINATOR_PORT
            else:  # an SSH forward over the coordinator's connection (through access_host if needed)
                self._tunnel = SshForward(self.coordinator_host, COORDINATOR_PORT)
                address, port = self._tunnel.open()
            self.api = DistemApi(address, port)
            if not self._answers():
                self._bootstrap()
        known = self._call("pnodes_info")
        have = {str(p.get(k)) for p in known for k in ("address", "hostname")}
        missing = [p for p in self._all_pnodes() if p not in have]
        if missing:
            self._call("pnode_init", missing)

    def _answers(self) -> bool:
        """Does the REST API answer (one try, no retries)?"""
        assert self.api is not None
        try:
            self.requests += 1
            DistemApi(self.api.address, self.api.port, retries=0).pnodes_info()
            return True
        except EnosProviderError:
            return False

    def _bootstrap(self) -> None:
        """``distem-bootstrap`` on the coordinator for every pnode, then wait for the REST API."""
        from enoslib.api.commands import run_command

        assert self.coordinator_host is not None
        nodes = self._all_pnodes()
        command = (f"printf '%s\\n' {' '.join(shlex.quote(n) for n in nodes)} > {_NODEFILE} && "
                   f"distem-bootstrap -f {_NODEFILE} -c {shlex.quote(nodes[0])}")
        logger.info("starting Distem on %d node(s), coordinator %s", len(nodes), nodes[0])
        run_command(command, roles=[self.coordinator_host], task_name="distem-bootstrap")
        deadline = time.monotonic() + 120
        while not self._answers():
            if time.monotonic() > deadline:
                raise EnosProviderError(f"Distem's REST API on {nodes[0]}:{COORDINATOR_PORT} does not answer "
                                        "after distem-bootstrap")
            time.sleep(1)

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        assert self.api is not None
        self.requests += 1
        return getattr(self.api, name)(*args, **kwargs)

    def _vnetwork(self, force: bool) -> None:
        try:
            vnet = self._call("vnetwork_info", VNETWORK_NAME)
        except EnosProviderError as exc:
            if not not_found(exc):
                raise
            vnet = None
        if vnet is not None and (force or vnet.get("address") != self.cidr):
            self._remove_vnodes(list(vnet.get("vnodes") or []))
            self._call("vnetwork_remove", VNETWORK_NAME)
            vnet = None
        if vnet is None:
            self._call("vnetwork_create", VNETWORK_NAME, self.cidr)

    def _names(self) -> list[tuple[str, int, str]]:
        """(vnode name, machine group, pnode) of every wanted vnode: round robin over the group's pnodes."""
        out = []
        for i, m in enumerate(self.provider_conf.machine_specs()):
            pnodes = self.pnodes[i]
            for k in range(m["number"]):
                out.append((f"vnode-{i}-{k}", i, pnodes[k % len(pnodes)]))
        return out

    def _vnodes(self, force: bool) -> None:
        conf = self.provider_conf
        specs = conf.machine_specs()
        existing = {v["name"]: v for v in self._call("vnodes_info")}
        wanted = self._names()
        names = {n for n, _, _ in wanted}
        stale = [n for n, v in existing.items()
                 if n not in names or force or v.get("status") == _FAILED
                 or not any(i.get("vnetwork") == VNETWORK_NAME for i in v.get("vifaces") or [])]
        self._remove_vnodes(stale)
        for n in stale:
            existing.pop(n, None)
        key = self._public_key()
        for name, group, pnode in wanted:
            if name in existing:
                continue
            flavour = specs[group]["flavour_desc"]
            self._call("vnode_create", name, {"host": pnode}, {"public": key} if key else None)
            self._call("vfilesystem_create", name, {"image": conf.image})
            self._call("vcpu_create", name, 1, unit="ratio", corenb=flavour["core"])
            self._call("vmem_create", name, f"{flavour['mem']}M")
            self._call("viface_create", name, VIFACE, {"vnetwork": VNETWORK_NAME, "default": "true"})
        self._start([n for n, _, _ in wanted])
        info = {v["name"]: v for v in self._call("vnodes_info")}
        self.vnodes = {}
        for name, group, pnode in wanted:
            iface = next(i for i in info[name]["vifaces"] if i.get("vnetwork") == VNETWORK_NAME)
            self.vnodes[name] = {"group": group, "pnode": info[name].get("host") or pnode,
                                 "address": str(iface["address"]).split("/")[0]}

    def _start(self, names: list[str]) -> None:
        """Start the vnodes not running; a vnode that fails is started again (``start_tries``)."""
        tries = {n: 0 for n in names}
        deadline = time.monotonic() + self.start_timeout
        delay = 0.05
        while True:
            status = {v["name"]: v.get("status") for v in self._call("vnodes_info") if v["name"] in tries}
            todo = [n for n in names if status.get(n) not in (_RUNNING, "CONFIGURING")]
            failed = [n for n in todo if status.get(n) == _FAILED]
            for n in failed:
                if tries[n] >= self.start_tries:
                    raise EnosProviderError(f"vnode {n} failed to start {tries[n]} time(s)")
                self._call("vnode_stop", n)
            if todo:
                for n in todo:
                    tries[n] += 1
                self._call("vnodes_start", todo, asynch=True)
                continue
            if all(status.get(n) == _RUNNING for n in names):
                return
            if time.monotonic() > deadline:
                late = [n for n in names if status.get(n) != _RUNNING]
                raise EnosProviderError(f"{len(late)} vnode(s) not running after {self.start_timeout:.0f}s: "
                                        f"{', '.join(late[:5])}")
            time.sleep(delay)
            delay = min(1.0, delay * 2)

    def _public_key(self) -> str | None:
        from enoslib.infra.enos_g5k import remote

        try:
            return remote.public_keys(self.provider_conf.key).splitlines()[0]
        except EnosConfigError:
            return None

    def _remove_vnodes(self, names: list[str]) -> None:
        if names:
            self._call("vnodes_remove", names)

    def _to_enoslib(self) -> tuple[Roles, Networks]:
        conf = self.provider_conf
        specs = conf.machine_specs()
        private = conf.subnet_type() is None
        jump = self.g5k._jump()
        assert self.coordinator_host is not None
        coordinator = self.coordinator_host.address
        roles = Roles()
        for name, vnode in self.vnodes.items():
            extra: dict[str, Any] = {"ansible_host_key_checking": False, "distem_vnode": name,
                                     "distem_pnode": vnode["pnode"]}
            if private and jump:
                extra["ansible_ssh_common_args"] = (f"-o ProxyJump={jump['gateway_user']}@{jump['gateway']},"
                                                    f"root@{coordinator}")
            elif private:
                extra.update(gateway=coordinator, gateway_user="root")
            elif jump:
                extra.update(jump)
            roles.add_one(Host(vnode["address"], alias=name, user="root", extra=extra), specs[vnode["group"]]["roles"])
        networks = Networks()
        networks.add_one(DefaultNetwork(address=self.cidr), ["distem"])
        return roles, networks

    def destroy(self, wait: bool = False, **kwargs: Any) -> None:
        """Remove the vnodes (when the coordinator answers), then release the job."""
        errors = []
        if self.api is not None or self._coordinator is not None:
            try:
                if self.api is None and self._coordinator is not None:
                    self.api = DistemApi(*self._coordinator)
                mine = [v["name"] for v in self._call("vnodes_info") if v["name"].startswith("vnode-")]
                self._remove_vnodes(mine)
                try:
                    self._call("vnetwork_remove", VNETWORK_NAME)
                except EnosProviderError as exc:
                    if not not_found(exc):
                        raise
            except Exception as exc:  # noqa: BLE001 - the job must go anyway (it takes the vnodes with it)
                errors.append(str(exc))
                logger.warning("could not remove the vnodes (%s); releasing the job removes them", exc)
        if self._tunnel is not None:
            self._tunnel.close()
            self._tunnel = None
        self.api = None
        self.vnodes = {}
        self.g5k.destroy(wait=wait)

    def is_created(self) -> bool:
        return self.g5k.is_created()

    # -- planning: Grid'5000's ---------------------------------------------------------------------
    def availability(self, start: Time, end: Time) -> IntervalSet:
        self.g5k.provider_conf = self._g5k_conf(*self._plan())
        return self.g5k.availability(start, end)

    def test_slot(self, start_time: Time, end_time: Time) -> bool:
        self.g5k.provider_conf = self._g5k_conf(*self._plan())
        return self.g5k.test_slot(start_time, end_time)

    def set_reservation(self, timestamp: Time) -> None:
        from enoslib.infra.enos_g5k import oar
        from enoslib.infra.provider import to_timestamp

        self.provider_conf.reservation = oar.to_oar_date(to_timestamp(timestamp))
        self.g5k.set_reservation(timestamp)

    def offset_walltime(self, offset: float) -> None:
        self.g5k.offset_walltime(offset)
        self.provider_conf.walltime = self.g5k.provider_conf.walltime

    @property
    def walltime_seconds(self) -> float:  # type: ignore[override]
        return float(walltime_to_seconds(self.provider_conf.walltime))
