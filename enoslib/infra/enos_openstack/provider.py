"""The OpenStack provider.

>>> conf = (en.OpenstackConf.from_settings(key_name="mykey", image="debian-12", user="debian",
...                                        rc_file="~/openrc.sh")
...         .add_machine(roles=["server"], flavour="m1.small", number=2)
...         .add_machine(roles=["client"], flavour="m1.tiny", number=3))
>>> with en.Openstack(conf) as (roles, networks):     # doctest: +SKIP
...     en.run_command("hostname", roles=roles)

``init`` checks the image and flavours first (nothing is made when one is missing), then
finds or creates, by name: the keypair (from your public key), the network, subnet, router
(to the external network) and security group (``configure_network``), boots the missing
servers ``<prefix>-1``, ``<prefix>-2`` ... in parallel, waits until they are ACTIVE (a server
that goes to ERROR is replaced, ``boot_retries`` times), gives the first one a floating IP and
makes it the SSH jump host of the others (``gateway``), and waits until every server answers
over SSH.

Idempotent: a second ``init`` (or a second run of the script) finds the servers of the same
``prefix`` and reuses them. Every resource this provider makes carries a mark (Neutron
``description`` ``enoslib:<prefix>``, Nova metadata ``enoslib_prefix``) and is recorded the
moment the cloud acknowledges it; ``destroy`` deletes exactly those (by id, and by mark from
another process), never the network, router or keypair that existed before. A failure or
Ctrl-C during ``init`` releases what was made.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from enoslib._signals import sigint_deferred
from enoslib.errors import EnosError, EnosProviderError, EnosTimeoutError
from enoslib.infra.enos_openstack.client import (KEYPAIR_KEY, MARK_KEY, OpenstackClient, describe_error, mark,
                                                 status_of, transient)
from enoslib.infra.enos_openstack.configuration import OpenstackConf
from enoslib.infra.provider import ImmediateProvider, Time
from enoslib.objects import DefaultNetwork, Host, Networks, Roles

logger = logging.getLogger(__name__)

#: kinds of resources a provider records, in the order ``destroy`` deletes them
KINDS = ("server", "floating_ip", "router", "subnet", "network", "security_group", "keypair")


class Openstack(ImmediateProvider):
    """Servers on an OpenStack cloud (openstacksdk).

    ``client``: an :class:`~enoslib.infra.enos_openstack.client.OpenstackClient`, an openstacksdk
    ``Connection``, a dict of ``openstack.connect`` arguments, or None (the configuration's
    ``rc_file``, else ``OS_*``/``clouds.yaml``). ``sleep``/``now``: how waiting passes and what
    time it is (an emulator's virtual clock in tests). ``public_key``: text or path of the key
    to create a missing keypair from (default ``~/.ssh/id_{ed25519,ecdsa,rsa}.pub``).
    ``wait_ssh``: wait until every server answers over SSH before returning.
    """

    configuration_class = OpenstackConf
    provider_conf: OpenstackConf

    def __init__(self, provider_conf: OpenstackConf | dict[str, Any], name: str | None = None, *,
                 client: Any = None, sleep: Callable[[float], Any] | None = None,
                 now: Callable[[], float] | None = None, public_key: str | None = None,
                 boot_timeout: float = 1800.0, poll_interval: float = 3.0, boot_retries: int = 2,
                 parallel_boots: int = 8, wait_ssh: bool = True) -> None:
        super().__init__(provider_conf, name)
        self._client_spec = client
        self._client: OpenstackClient | None = None
        self.sleep = sleep or time.sleep
        self.now = now or time.time
        self.public_key = public_key
        self.boot_timeout = boot_timeout
        self.poll_interval = poll_interval
        self.boot_retries = boot_retries
        self.parallel_boots = parallel_boots
        self.wait_ssh = wait_ssh
        self.created: dict[str, list[str]] = {k: [] for k in KINDS}
        self._lock = threading.Lock()
        self._keypair_made = False
        self.servers: list[dict[str, Any]] = []     # in configuration order
        self.specs: list[dict[str, Any]] = []
        self.gateway_ip: str | None = None
        self.net: dict[str, Any] = {}
        self.subnet: dict[str, Any] = {}
        self.secgroup: dict[str, Any] | None = None

    # -- settings ------------------------------------------------------------------------------
    @property
    def settings(self) -> dict[str, Any]:
        return self.provider_conf.settings()

    @property
    def prefix(self) -> str:
        return self.settings["prefix"]

    @property
    def client(self) -> OpenstackClient:
        if self._client is None:
            spec = self._client_spec
            if isinstance(spec, OpenstackClient):
                self._client = spec
            elif spec is None:
                self._client = OpenstackClient.from_rc_file(self.settings.get("rc_file"), sleep=self.sleep)
            elif isinstance(spec, dict):
                import openstack

                self._client = OpenstackClient(openstack.connect(load_envvars=False, load_yaml_config=False,
                                                                 **spec), sleep=self.sleep)
            else:
                self._client = OpenstackClient(spec, sleep=self.sleep)
        return self._client

    def _record(self, kind: str, ident: str) -> None:
        with self._lock:
            if ident not in self.created[kind]:
                self.created[kind].append(ident)

    # -- lifecycle -----------------------------------------------------------------------------
    def init(self, force_deploy: bool = False, start_time: Time | None = None, **kwargs: Any) -> tuple[Roles, Networks]:
        if start_time is not None:
            self.set_reservation(start_time)
        try:
            self._before_boot()
            image, flavors = self._lookups()
            self._keypair()
            self._network()
            self._boot(image, flavors, force_deploy)
            self._gateway()
            roles, networks = self._to_enoslib()
            if self.wait_ssh:
                from enoslib.api import wait_for

                wait_for(roles, retries=60, interval=10)
            return roles, networks
        except BaseException as exc:
            logger.info("%s: init failed, releasing what was made", self.name)
            with sigint_deferred():
                self.destroy()
            if isinstance(exc, Exception) and not isinstance(exc, EnosError):
                raise EnosProviderError(f"{self.name}: {describe_error(exc)}") from exc
            raise

    # hooks for the Chameleon providers ---------------------------------------------------------
    def _before_boot(self) -> None:
        """Called first by ``init`` (bare metal: get the lease)."""

    def _flavor_name(self, flavour: str) -> str:
        return flavour

    def _server_extra(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Additional ``create_server`` arguments for one server (bare metal: its reservation)."""
        return {}

    def _after_destroy(self) -> list[str]:
        """Called last by ``destroy``; returns what could not be released."""
        return []

    # -- steps of init -------------------------------------------------------------------------
    def _lookups(self) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        s, c = self.settings, self.client
        image = c.image(s["image"])
        if image is None:
            raise EnosProviderError(f"{self.name}: no image {s['image']!r} on this cloud (from $.image)")
        flavors: dict[str, dict[str, Any]] = {}
        for i, machine in enumerate(s["resources"]["machines"]):
            wanted = self._flavor_name(machine["flavour"])
            if wanted not in flavors:
                flavor = c.flavor(wanted)
                if flavor is None:
                    raise EnosProviderError(f"{self.name}: no flavor {wanted!r} on this cloud "
                                            f"(from $.resources.machines[{i}].flavour)")
                flavors[wanted] = flavor
        return image, flavors

    def _ensure(self, kind: str, find: Callable[[], dict[str, Any] | None],
                create: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """Find, else create (recorded at once); a transient failure of the creation is
        followed by a new look-up, so a resource the cloud made anyway is not made twice."""
        c = self.client
        delay = c.backoff
        for attempt in range(c.retries + 1):
            found = find()
            if found is not None:
                if found.get("description") == mark(self.prefix):
                    self._record(kind, found["id"])  # ours, from a previous run or a lost answer
                return found, False
            try:
                made = create()
            except Exception as exc:  # noqa: BLE001
                if attempt < c.retries and transient(exc):
                    self.sleep(delay)
                    delay = min(2 * delay, c.max_backoff)
                    continue
                raise EnosProviderError(f"{self.name}: creating the {kind.replace('_', ' ')} failed: "
                                        f"{describe_error(exc)}") from exc
            self._record(kind, made["id"])
            return made, True
        raise AssertionError("unreachable")

    def _keypair(self) -> None:
        name, c = self.settings["key_name"], self.client
        if c.keypair(name) is not None:
            return
        public_key = self._read_public_key()
        delay = c.backoff
        for attempt in range(c.retries + 1):
            try:
                c.create_keypair(name, public_key)
                break
            except Exception as exc:  # noqa: BLE001
                found = c.keypair(name) if transient(exc) or status_of(exc) == 409 else None
                if found is not None:
                    if found.get("public_key", "").strip() != public_key:
                        return  # made meanwhile by someone else: theirs
                    break  # ours: the answer was lost
                if attempt < c.retries and transient(exc):
                    self.sleep(delay)
                    delay = min(2 * delay, c.max_backoff)
                    continue
                raise EnosProviderError(f"{self.name}: creating keypair {name!r} failed: "
                                        f"{describe_error(exc)}") from exc
        self._record("keypair", name)
        self._keypair_made = True

    def _read_public_key(self) -> str:
        key = self.public_key
        if key and not key.lstrip().startswith(("ssh-", "ecdsa-")):
            key = Path(key).expanduser().read_text()
        if not key:
            for candidate in ("id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"):
                path = Path.home() / ".ssh" / candidate
                if path.is_file():
                    key = path.read_text()
                    break
        if not key:
            raise EnosProviderError(f"{self.name}: keypair {self.settings['key_name']!r} does not exist and no "
                                    "public key to create it from (give public_key=, or create ~/.ssh/id_ed25519)")
        return key.strip()

    def _network(self) -> None:
        s, c, prefix = self.settings, self.client, self.prefix
        desc = mark(prefix)
        net_name, sub = s["network"]["name"], s["subnet"]
        if not s["configure_network"]:
            net = c.network(net_name)
            if net is None:
                raise EnosProviderError(f"{self.name}: no network {net_name!r} (from $.network.name; "
                                        "set configure_network to create it)")
            subnet = c.subnet(sub["name"], net["id"]) or self._first_subnet(net)
            self.net, self.subnet, self.secgroup = net, subnet, None
            return
        net, _ = self._ensure("network", lambda: c.network(net_name),
                              lambda: c.create("network", name=net_name, description=desc))
        subnet_attrs: dict[str, Any] = {
            "name": sub["name"], "network_id": net["id"], "cidr": sub.get("cidr") or "10.87.23.0/24",
            "ip_version": 4, "dns_nameservers": s["dns_nameservers"], "description": desc}
        if s.get("allocation_pool"):
            subnet_attrs["allocation_pools"] = [s["allocation_pool"]]
        subnet, subnet_made = self._ensure("subnet", lambda: c.subnet(sub["name"], net["id"]),
                                           lambda: c.create("subnet", **subnet_attrs))
        external = c.external_network()
        if external is not None:
            router, router_made = self._ensure(
                "router", lambda: c.router(f"{prefix}-router"),
                lambda: c.create("router", name=f"{prefix}-router", description=desc,
                                 external_gateway_info={"network_id": external["id"]}))
            attached = {ip.get("subnet_id") for p in c.ports(device_id=router["id"])
                        for ip in p.get("fixed_ips") or []}
            if subnet["id"] not in attached and (router_made or subnet_made or
                                                 router.get("description") == desc):
                try:
                    c.add_router_interface(router["id"], subnet["id"])
                except Exception as exc:  # noqa: BLE001
                    if status_of(exc) not in (400, 409):  # already attached (a lost answer)
                        raise EnosProviderError(f"{self.name}: attaching the subnet to the router failed: "
                                                f"{describe_error(exc)}") from exc
        secgroup, sg_made = self._ensure(
            "security_group", lambda: c.security_group(f"{prefix}-secgroup"),
            lambda: c.create("security_group", name=f"{prefix}-secgroup", description=desc))
        if sg_made:
            for protocol in ("tcp", "udp", "icmp"):
                try:
                    c.call(c.create, "security_group_rule", security_group_id=secgroup["id"], direction="ingress",
                           ethertype="IPv4", protocol=protocol, remote_ip_prefix="0.0.0.0/0")
                except Exception as exc:  # noqa: BLE001
                    if status_of(exc) != 409:  # 409: already there (a lost answer)
                        raise
        self.net, self.subnet, self.secgroup = net, subnet, secgroup

    def _first_subnet(self, net: dict[str, Any]) -> dict[str, Any]:
        for subnet_id in net.get("subnet_ids") or net.get("subnets") or []:
            subnet = self.client.subnet(subnet_id)
            if subnet is not None and subnet.get("ip_version", 4) == 4:
                return subnet
        raise EnosProviderError(f"{self.name}: network {net.get('name')!r} has no IPv4 subnet")

    def _boot(self, image: dict[str, Any], flavors: dict[str, dict[str, Any]], force: bool) -> None:
        c, prefix = self.client, self.prefix
        self.specs = self.provider_conf.server_specs()
        wanted = {spec["name"] for spec in self.specs}
        existing = {s["name"]: s for s in c.servers(prefix)}
        for srv in existing.values():
            if _ours(srv, prefix):
                self._record("server", srv["id"])
                if srv.get("metadata", {}).get(KEYPAIR_KEY):
                    self._keypair_made = True
        for name, srv in existing.items():
            if name not in wanted and _ours(srv, prefix):  # the configuration shrank
                self._retry_busy(c.delete_server, srv["id"])
                self._forget("server", srv["id"])
        todo, pending = [], {}
        for spec in self.specs:
            srv = existing.get(spec["name"])
            if srv is not None and _ours(srv, prefix) and (force or srv.get("status") in ("ERROR", "DELETED")):
                self._retry_busy(c.delete_server, srv["id"])
                self._forget("server", srv["id"])
                srv = None
            if srv is None:
                todo.append(spec)
            else:
                pending[srv["id"]] = spec
        base = {"image_id": image["id"], "networks": [{"uuid": self.net["id"]}],
                "key_name": self.settings["key_name"],
                "metadata": {MARK_KEY: prefix, **({KEYPAIR_KEY: "1"} if self._keypair_made else {})}}
        if getattr(self, "secgroup", None):
            base["security_groups"] = [{"name": self.secgroup["name"]}]

        def boot(spec: dict[str, Any]) -> str:
            flavor = flavors[self._flavor_name(spec["flavour"])]
            return self._boot_one(spec, {**base, "name": spec["name"], "flavor_id": flavor["id"],
                                         **self._server_extra(spec)})

        def boot_all(specs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
            if not specs:
                return {}
            with ThreadPoolExecutor(max_workers=max(1, min(self.parallel_boots, len(specs)))) as pool:
                ids = list(pool.map(boot, specs))
            return dict(zip(ids, specs))

        pending.update(boot_all(todo))
        active = self._wait_active(pending, boot_all)
        self.servers = [active[spec["name"]] for spec in self.specs]

    def _boot_one(self, spec: dict[str, Any], attrs: dict[str, Any]) -> str:
        c = self.client
        delay = c.backoff
        for attempt in range(c.retries + 1):
            try:
                made = c.create_server(**attrs)
            except Exception as exc:  # noqa: BLE001
                if attempt < c.retries and transient(exc):
                    self.sleep(delay)
                    delay = min(2 * delay, c.max_backoff)
                    again = [s for s in c.servers(self.prefix) if s["name"] == spec["name"]]
                    if again:  # the cloud made it although the answer failed
                        self._record("server", again[0]["id"])
                        return again[0]["id"]
                    continue
                raise EnosProviderError(f"{self.name}: booting {spec['name']} failed: {describe_error(exc)}") from exc
            self._record("server", made["id"])
            return made["id"]
        raise AssertionError("unreachable")

    def _forget(self, kind: str, ident: str) -> None:
        with self._lock:
            if ident in self.created[kind]:
                self.created[kind].remove(ident)

    def _wait_active(self, pending: dict[str, dict[str, Any]],
                     boot_all: Callable[[list[dict[str, Any]]], dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
        c = self.client
        failures: dict[str, int] = {}
        active: dict[str, dict[str, Any]] = {}
        deadline = self.now() + self.boot_timeout
        total = len(pending) + len(active)
        with _Progress(f"{self.name}: servers ACTIVE", total) as bar:
            while pending:
                listing = {s["id"]: s for s in c.servers(self.prefix)}
                retry: list[dict[str, Any]] = []
                for sid, spec in list(pending.items()):
                    srv = listing.get(sid)
                    status = (srv or {}).get("status", "DELETED")
                    if status == "ACTIVE":
                        active[spec["name"]] = srv  # type: ignore[assignment]
                        del pending[sid]
                    elif status in ("ERROR", "DELETED", "SOFT_DELETED"):
                        del pending[sid]
                        fault = ((srv or {}).get("fault") or {}).get("message") or status
                        if srv is not None:
                            self._retry_busy(c.delete_server, sid)
                        self._forget("server", sid)
                        failures[spec["name"]] = failures.get(spec["name"], 0) + 1
                        if failures[spec["name"]] > self.boot_retries:
                            raise EnosProviderError(f"{self.name}: server {spec['name']} failed to boot "
                                                    f"{failures[spec['name']]} times (last: {fault})")
                        logger.info("%s: server %s went to %s (%s), booting it again", self.name,
                                    spec["name"], status, fault)
                        retry.append(spec)
                pending.update(boot_all(retry))
                bar.update(len(active))
                if pending:
                    if self.now() > deadline:
                        names = ", ".join(sorted(s["name"] for s in pending.values()))
                        raise EnosTimeoutError(f"{self.name}: servers not ACTIVE after "
                                               f"{self.boot_timeout:.0f}s: {names}")
                    self.sleep(self.poll_interval)
        return active

    def _gateway(self) -> None:
        s, c = self.settings, self.client
        self.gateway_ip = None
        if not s["gateway"] or not self.servers:
            return
        gw = self.servers[0]
        ports = c.ports(device_id=gw["id"])
        if not ports:
            raise EnosProviderError(f"{self.name}: gateway server {gw['name']} has no port")
        port = ports[0]
        external = c.external_network()
        if external is None:
            raise EnosProviderError(f"{self.name}: no external network for the gateway's floating IP "
                                    "(set gateway: false to reach the servers directly)")

        def find() -> dict[str, Any] | None:
            ips = c.floating_ips(port_id=port["id"])
            return ips[0] if ips else None

        fip, _ = self._ensure("floating_ip", find, lambda: c.create(
            "floating_ip", floating_network_id=external["id"], port_id=port["id"], description=mark(self.prefix)))
        self.gateway_ip = fip["floating_ip_address"]

    def _to_enoslib(self) -> tuple[Roles, Networks]:
        s = self.settings
        gateway_user = s.get("gateway_user") or s["user"]
        roles = Roles()
        for spec, srv in zip(self.specs, self.servers):
            extra: dict[str, Any] = {"ansible_host_key_checking": False}
            if self.gateway_ip:
                extra.update(gateway=self.gateway_ip, gateway_user=gateway_user)
            host = Host(fixed_ip(srv, self.net.get("name")), alias=srv["name"], user=s["user"], extra=extra)
            roles.add_one(host, spec["roles"])
        networks = Networks()
        if self.subnet:
            networks.add_one(self._network_object(), s["resources"]["networks"])
        return roles, networks

    def _network_object(self) -> DefaultNetwork:
        sub, s = self.subnet, self.settings
        cidr = ipaddress.ip_network(sub["cidr"], strict=False)
        start = end = None
        pools = sub.get("allocation_pools") or []
        if pools:  # addresses after DHCP's pool are free for the experiment
            last_pool = max(ipaddress.ip_address(p["end"]) for p in pools)
            first, last = last_pool + 1, cidr.broadcast_address - 1
            if first in cidr and first <= last:
                start, end = str(first), str(last)
        dns = (s.get("dns_nameservers") or sub.get("dns_nameservers") or [None])[0]
        return DefaultNetwork(str(cidr), gateway=sub.get("gateway_ip"), dns=dns, ip_start=start, ip_end=end,
                              name=self.net.get("name"))

    # -- release -------------------------------------------------------------------------------
    def destroy(self, wait: bool = False, **kwargs: Any) -> None:
        with sigint_deferred():
            left = self._destroy_servers_and_network()
            left += self._after_destroy()
        if left:
            raise EnosProviderError(f"{self.name}: could not release: {'; '.join(left)}")

    def _destroy_servers_and_network(self) -> list[str]:
        c, prefix = self.client, self.prefix
        left: list[str] = []

        def attempt(what: str, fn: Callable[..., Any], *args: Any) -> bool:
            try:
                fn(*args)
                return True
            except Exception as exc:  # noqa: BLE001 - keep releasing the rest
                left.append(f"{what} ({describe_error(exc)})")
                return False

        servers: dict[str, dict[str, Any]] = {sid: {"id": sid} for sid in self.created["server"]}
        try:
            for srv in c.servers(prefix):
                if _ours(srv, prefix):
                    servers[srv["id"]] = srv
                    if srv.get("metadata", {}).get(KEYPAIR_KEY):
                        self._keypair_made = True
        except Exception as exc:  # noqa: BLE001
            left.append(f"listing servers ({describe_error(exc)})")
        for sid in servers:
            if attempt(f"server {sid}", self._retry_busy, c.delete_server, sid):
                self._forget("server", sid)
        self._wait_gone(set(servers))
        for kind in ("floating_ip", "router", "subnet", "network", "security_group"):
            ids = list(self.created[kind])
            try:
                ids += [r["id"] for r in c.owned(kind, prefix) if r["id"] not in ids]
            except Exception as exc:  # noqa: BLE001
                left.append(f"listing {kind}s ({describe_error(exc)})")
            for ident in ids:
                if kind == "router":
                    attempt(f"router {ident} interfaces", self._detach_router, ident)
                if attempt(f"{kind} {ident}", self._retry_busy, c.delete, kind, ident):
                    self._forget(kind, ident)
        key = self.settings["key_name"]
        if self.created["keypair"] or self._keypair_made:
            if attempt(f"keypair {key}", c.delete_keypair, key):
                self.created["keypair"].clear()
                self._keypair_made = False
        self.servers, self.gateway_ip = [], None
        return left

    def _detach_router(self, router_id: str) -> None:
        c = self.client
        for port in c.ports(device_id=router_id):
            if str(port.get("device_owner", "")).startswith("network:router_interface"):
                for ip in port.get("fixed_ips") or []:
                    c.remove_router_interface(router_id, ip["subnet_id"])

    def _retry_busy(self, fn: Callable[..., Any], *args: Any) -> None:
        """``fn(*args)``, retried while the cloud says the resource is busy (409: a server still
        deleting, ports going away)."""
        delay = self.client.backoff
        for attempt in range(8):
            try:
                fn(*args)
                return
            except Exception as exc:  # noqa: BLE001
                if status_of(exc) != 409 or attempt == 7:
                    raise
                self.sleep(delay)
                delay = min(2 * delay, 8.0)

    def _wait_gone(self, ids: set[str], timeout: float = 600.0) -> None:
        deadline = self.now() + timeout
        while ids:
            try:
                present = {s["id"] for s in self.client.servers(self.prefix)}
            except Exception:  # noqa: BLE001
                return
            ids &= present
            if not ids or self.now() > deadline:
                return
            self.sleep(min(self.poll_interval, 2.0))

    def is_created(self) -> bool:
        return any(_ours(s, self.prefix) for s in self.client.servers(self.prefix))


def _ours(server: dict[str, Any], prefix: str) -> bool:
    return (server.get("metadata") or {}).get(MARK_KEY) == prefix


def fixed_ip(server: dict[str, Any], network_name: str | None = None) -> str:
    """The server's fixed IPv4 address (on ``network_name`` when given)."""
    addresses = server.get("addresses") or {}
    nets = [addresses[network_name]] if network_name in addresses else list(addresses.values())
    for entries in nets:
        for entry in entries:
            if entry.get("version", 4) == 4 and entry.get("OS-EXT-IPS:type", "fixed") == "fixed":
                return entry["addr"]
    raise EnosProviderError(f"server {server.get('name')} has no fixed IPv4 address")


class _Progress:
    """One rich live line while waiting (nothing when the display is off)."""

    def __init__(self, text: str, total: int) -> None:
        from enoslib.config import get_config

        self.text, self.total = text, total
        self.enabled = get_config().get("display") == "rich" and os.environ.get("TERM") != "dumb"
        self.progress: Any = None
        self.task: Any = None

    def __enter__(self) -> "_Progress":
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), transient=True)
            self.progress.start()
            self.task = self.progress.add_task(self.text, total=self.total)
        return self

    def update(self, done: int) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=done)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()
