"""The :class:`G5kEmulator`: reference data + OAR + kadeploy + KaVLAN + firewall on HTTP.

Typical test use (stepped clock, address-only nodes)::

    with G5kEmulator(speed=0, backend="address") as emu:
        gk = emu.client()                       # a real python-grid5000 client
        job = gk.sites["rennes"].jobs.create({"resources": "nodes=2", "command": "sleep 3600"})
        emu.advance(5)                          # launching -> running, no sleep
        job.refresh(); assert job.state == "running"

Dry runs of a real script: ``python -m enoslib.emulators.g5k --speed 10``
prints the URI, credentials and a python-grid5000 YAML to use.
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import secrets
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..kit.clock import Ticker, VirtualClock
from ..kit.http import ADMIN_LOGIN, EmulatorServer, call_admin
from .backend import NodeBackend, make_backend
from .faults import FaultInjector, FaultSettings
from .firewall import Firewall
from .jobs import HOLDING, Job
from .kadeploy import Deployment, Kadeploy
from .kavlan import Kavlan
from .oar import Scheduler
from .realdata import real_cluster_names, real_dataset
from .reference import NodeRef, ReferenceData, make_dataset
from .server import make_server
from .storage import Storage

__all__ = ["G5kEmulator"]

def _generated_users() -> dict[str, str]:
    """One user with a fresh random password: every run has its own secret."""
    return {f"user-{secrets.token_hex(3)}": secrets.token_urlsafe(16)}


def _is_real_layout(layout: Mapping[str, Any]) -> bool:
    """Does this ``{site: clusters}`` name only real sites and clusters?"""
    known = real_cluster_names()
    for site, clusters in layout.items():
        if site not in known:
            return False
        names = clusters if not isinstance(clusters, Mapping) else list(clusters)
        if not isinstance(names, (list, tuple)) or any(c not in known[site] for c in names):
            return False
    return True


def _dataset(sites: Any, prefix: str, nodes_per_cluster: int | None) -> ReferenceData:
    if isinstance(sites, ReferenceData):
        return sites
    if sites is None:
        return real_dataset(nodes_per_cluster=nodes_per_cluster, prefix=prefix)
    if isinstance(sites, (str, os.PathLike)) and Path(sites).exists():
        return ReferenceData.from_snapshot(sites)
    if isinstance(sites, str):
        sites = [sites]
    if isinstance(sites, Mapping) and "items" in sites:
        return ReferenceData.from_snapshot(sites)
    if isinstance(sites, (list, tuple)):
        return real_dataset(sites, nodes_per_cluster=nodes_per_cluster, prefix=prefix)
    if _is_real_layout(sites):
        return real_dataset(sites, nodes_per_cluster=nodes_per_cluster, prefix=prefix)
    # made-up clusters: the synthetic generator (known shapes, or a generic one)
    return make_dataset(sites, nodes_per_cluster=nodes_per_cluster, prefix=prefix)


class G5kEmulator:
    """A local Grid'5000 REST API on 127.0.0.1 for the real python-grid5000 client.

    Args:
        sites: the reference data: ``None`` (the real Grid'5000: every current
            site, cluster and node, see :mod:`.realdata`), a list of site names
            of it, a ``{site: [cluster, ...] | {cluster: n_nodes}}`` mapping (real
            clusters: their real documents; made-up names: generated ones, see
            :func:`make_dataset`), a :class:`ReferenceData`, or a JSON snapshot
            (path or dict).
        users: ``{login: password}`` accepted by HTTP Basic auth on the API
            (default: one user with a login and a password generated for this
            run); the first one is :attr:`username`. With the netns backend each login
            but ``root`` is also a Unix account on the gateways and nodes, as on the testbed
            (see :mod:`.users`); an API login ``root`` keeps the gateways' root login.
        ssh_keys: ``{login: [public key, ...]}`` registered for the accounts (what a user
            uploads to Grid'5000's account manager); see also :meth:`add_ssh_key`.
        admin_password: the secret of the control endpoints (``/_emulator``:
            faults, clock, node states), distinct from every API user's so a
            script holding API credentials cannot steer the emulator (default:
            generated for this run). The login is :attr:`admin_username`;
            :meth:`control` uses both.
        backend: ``"address"`` (nothing created), ``"netns"`` (real SSH hosts,
            root only) or ``"auto"`` (netns when possible).
        speed: virtual seconds per real second; ``0`` freezes the clock so only
            :meth:`advance` moves it (what tests want).
        start_time: initial virtual Unix time (default: now).
        faults: initial fault knobs (see :mod:`.faults`), a dict or FaultSettings.
        seed: seeds every random draw (faults, deployment ids).
        quotas / default_quota: max nodes a user may hold at once.
        schedule_delay: virtual seconds before a new job can start (OAR's
            scheduling cycle): a submission always answers ``waiting``.
        launch_delay: virtual seconds a job stays ``launching``.
        kill_delay: virtual seconds a deleted running job stays ``finishing``.
        deploy_duration: virtual seconds a deployment stays ``processing``.
        nodes_per_cluster: keep at most that many nodes per cluster (the first ones).
        prefix: URL prefix of the API (``/stable`` like the real one).
        allow_anonymous: answer GETs without credentials (writes get 403).
        lab: an existing :class:`enoslib.nodes.NamespaceLab` to create nodes in.
        instance: netns backend only: which address ranges to use, so that up to
            three emulators run side by side (0 = the real ones; others are shifted,
            see :func:`.backend.shift_address`); None: the first free one.
        host / port: where to listen; loopback addresses only (port 0: any free).
        verbose: log every HTTP request to stderr.
    """

    def __init__(
        self,
        sites: Any = None,
        *,
        users: Mapping[str, str] | None = None,
        ssh_keys: Mapping[str, Any] | None = None,
        admin_password: str | None = None,
        backend: str | NodeBackend = "auto",
        speed: float = 1.0,
        start_time: float | None = None,
        faults: FaultSettings | dict | None = None,
        seed: int = 0,
        quotas: Mapping[str, int] | None = None,
        default_quota: int | None = None,
        schedule_delay: float = 1.0,
        launch_delay: float = 3.0,
        kill_delay: float = 1.0,
        deploy_duration: float = 20.0,
        nodes_per_cluster: int | None = None,
        prefix: str = "/stable",
        host: str = "127.0.0.1",
        port: int = 0,
        allow_anonymous: bool = False,
        lab: Any = None,
        instance: int | None = None,
        verbose: bool = False,
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the emulator only listens on loopback addresses, not {host}")
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.ref = _dataset(sites, self.prefix, nodes_per_cluster)
        self.users = dict(users) if users is not None else _generated_users()
        if not self.users:
            raise ValueError("at least one user is needed")
        self.ssh_keys = {k: list(v) for k, v in (ssh_keys or {}).items()}
        unknown = set(self.ssh_keys) - set(self.users)
        if unknown:
            raise ValueError(f"ssh_keys: {', '.join(sorted(unknown))} is not in users")
        if ADMIN_LOGIN in self.users:
            raise ValueError(f"{ADMIN_LOGIN!r} is reserved for the control endpoints")
        self.admin_password = admin_password or secrets.token_urlsafe(16)
        if self.admin_password in self.users.values():
            raise ValueError("admin_password must differ from every user's password")
        self.allow_anonymous = allow_anonymous
        self.clock = VirtualClock(start_time, speed)
        self.lock = threading.RLock()
        knobs = dict(faults) if isinstance(faults, Mapping) else faults
        self.faults = FaultInjector(knobs, clock=self.clock.now)
        if not isinstance(knobs, FaultSettings) and "seed" not in (knobs or {}):
            self.faults.update(seed=seed)
        self.scheduler = Scheduler(
            self.ref,
            schedule_delay=schedule_delay,
            launch_delay=launch_delay,
            kill_delay=kill_delay,
            quotas=dict(quotas or {}),
            default_quota=default_quota,
            fault_hooks=self.faults,
        )
        self.kadeploy = Kadeploy(
            self.ref, self.scheduler, self.faults, deploy_duration, self.prefix, seed
        )
        self.kavlan = Kavlan(self.ref, self.scheduler)
        self.firewall = Firewall(self.ref, self.scheduler)
        self.storage = Storage(self.scheduler)
        self._backend_spec, self._lab, self._instance = backend, lab, instance
        self.backend: NodeBackend | None = None
        self.kavlan.listeners.append(self._on_vlan_move)
        self.kadeploy.listeners.append(self._on_deployed)
        self._host, self._port, self._verbose = host, port, verbose
        self._server: EmulatorServer | None = None
        self._ticker: Ticker | None = None
        self._last = self.clock.now()
        self.backend_errors: list[str] = []
        self.guests: Any = None  # GuestHosts, CommandChannel, Libvirt: made by start()
        self.channel: Any = None
        self.libvirt: Any = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> G5kEmulator:
        """Start serving (idempotent). Also done by ``with G5kEmulator(...) as emu``."""
        if self._server is not None:
            return self
        self.backend = (
            self._backend_spec
            if isinstance(self._backend_spec, NodeBackend)
            else make_backend(self._backend_spec, self.ref, self._lab, self._instance)
        )
        self.backend.dhcp_running = self.kavlan.dhcp_running  # PUT /vlans/{id}/dhcpd
        try:
            self.backend.set_accounts(list(self.users), self.ssh_keys)
            self._start_guests()
            self._server = make_server(self, self._host, self._port, self._verbose).start()
        except BaseException:
            self._stop_guests()
            self.backend.close()
            raise
        atexit.register(self.stop)  # namespaces must not outlive a forgetful script
        self._ticker = Ticker(
            self.clock,
            self.tick,
            name="g5k-emulator-clock",
            on_error=lambda exc: self.backend_errors.append(f"tick: {exc}"),
        ).start()
        return self

    def stop(self) -> None:
        """Stop the server and the clock thread, destroy every node (idempotent)."""
        atexit.unregister(self.stop)
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        with self.lock:
            if self.backend is not None:
                try:
                    self._stop_guests()
                    self.backend.close()
                finally:
                    self.backend = None

    def _start_guests(self) -> None:
        """Guests of the nodes and the nodes' command channel (see :mod:`.guests`), libvirt on it."""
        from .guests import CommandChannel, GuestHosts
        from .libvirt import Libvirt

        self.guests = GuestHosts(self)
        self.channel = CommandChannel(self)
        self.libvirt = Libvirt(self)

    def _stop_guests(self) -> None:
        try:
            if self.channel is not None:
                self.channel.close()  # no node command in flight past this point
        finally:
            try:
                if self.guests is not None:
                    self.guests.close()
            finally:
                self.channel = self.guests = self.libvirt = None

    close = stop

    def __enter__(self) -> G5kEmulator:  # noqa: PYI034 - py3.10 has no typing.Self
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ connection info
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return int(self._server.port)

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def uri(self) -> str:
        """What to pass as python-grid5000's ``uri`` (no trailing slash)."""
        return self.base_url + self.prefix

    @property
    def admin_url(self) -> str:
        return self.base_url + "/_emulator"

    @property
    def username(self) -> str:
        return next(iter(self.users))

    @property
    def password(self) -> str:
        return self.users[self.username]

    @property
    def admin_username(self) -> str:
        """Login of the control endpoints (``/_emulator``); no API user has it."""
        return ADMIN_LOGIN

    @property
    def admin_auth(self) -> tuple[str, str]:
        """``(login, password)`` of the control endpoints, e.g. for ``requests``' ``auth=``."""
        return ADMIN_LOGIN, self.admin_password

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """Call a control endpoint over HTTP with the control credentials.

        ``emu.control("POST", "/clock", {"advance": 60})`` is what another process
        does with ``curl -u`` (see :attr:`admin_auth`); returns the decoded JSON
        answer and raises :class:`urllib.error.HTTPError` on an error status.
        """
        return call_admin(self.admin_url, self.admin_auth, method, path, body)

    def client(self, username: str | None = None, password: str | None = None) -> Any:
        """A python-grid5000 ``Grid5000`` client pointed at this emulator."""
        from grid5000 import Grid5000

        login = username or self.username
        return Grid5000(
            uri=self.uri,
            username=login,
            password=password if password is not None else self.users.get(login),
        )

    def client_config(self, username: str | None = None) -> dict[str, Any]:
        login = username or self.username
        return {"uri": self.uri, "username": login, "password": self.users[login]}

    def write_client_config(self, path: str | os.PathLike, username: str | None = None) -> Path:
        """Write a python-grid5000 YAML (``Grid5000.from_yaml(path)``) pointing here.

        Remember that ``from_yaml`` silently falls back to the real API on any
        error: check ``client._uri`` after loading it.
        """
        import yaml

        target = Path(path).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(self.client_config(username), sort_keys=False))
        target.chmod(0o600)
        return target

    # ------------------------------------------------------------------ nodes
    def node_address(self, fqdn: str) -> str | None:
        """Where ``paravance-1.rennes.grid5000.fr`` (or ``...-eth1``, ``...-kavlan-4``) answers now."""
        found = self.ref.resolve(fqdn)
        if found is None:
            raise KeyError(f"unknown node {fqdn}")
        ref, nic, _ = found
        with self.lock:
            self._tick_locked()
            backend = self.backend
            if backend is None:
                return None
            if ref.fqdn in backend.up:
                return backend.address(ref, nic)
            return backend.reported_address(ref, nic)

    def ssh_config(self, path: str | os.PathLike | None = None) -> str:
        """ssh_config stanzas mapping running nodes' names to their addresses.

        Use with ``ssh -F <file> paravance-1.rennes.grid5000.fr`` (or
        ``Include <file>`` from ``~/.ssh/config``). Written to ``path`` if given.
        """
        with self.lock:
            self._tick_locked()
            text = self.backend.ssh_config() if self.backend else ""
        if path is not None:
            Path(path).write_text(text)
        return text

    def add_ssh_key(self, key: str, login: str | None = None) -> None:
        """Register a public key (``ssh-ed25519 AAAA...``) for ``login``'s account (default
        :attr:`username`): it opens the gateways and the nodes' user sessions from now on."""
        login = login or self.username
        if login not in self.users:
            raise KeyError(f"unknown user {login!r}")
        with self.lock:
            accounts = getattr(self.backend, "accounts", None)
            if accounts is not None:
                accounts.add_key(login, key)
            self.ssh_keys.setdefault(login, []).append(key.strip())

    def set_node_state(self, fqdn: str, hard: str = "alive", comment: str = "") -> None:
        """Set a node's OAR hard state (alive, absent, suspected, dead, standby)."""
        if hard not in ("alive", "absent", "suspected", "dead", "standby"):
            raise ValueError(f"bad hard state {hard!r}")
        found = self.ref.resolve(fqdn)
        if found is None:
            raise KeyError(f"unknown node {fqdn}")
        with self.lock:
            self.scheduler.set_hard_state(found[0].fqdn, hard, comment)
            self._tick_locked()

    def fail_job(self, uid: int, message: str = "Job sent to error by the emulator") -> None:
        """Send a job to ``error`` now, whatever its state (a node crash, an admin kill)."""
        with self.lock:
            self._tick_locked()
            job = self.scheduler.jobs.get(int(uid))
            if job is None:
                raise KeyError(f"unknown job {uid}")
            self.scheduler.fail(job, self.clock.now(), message)
            self._tick_locked()

    def jobs(self) -> list[Job]:
        """Every job known (all sites, all states), oldest first."""
        with self.lock:
            return sorted(self.scheduler.jobs.values(), key=lambda j: j.uid)

    # ------------------------------------------------------------------ time
    def advance(self, seconds: float) -> float:
        """Move the virtual clock forward and apply every transition due; returns the new time."""
        self.clock.advance(seconds)
        self.tick()
        return self.clock.now()

    def tick(self) -> None:
        """Apply what the current virtual time implies (done before every request)."""
        with self.lock:
            self._tick_locked()

    def _tick_locked(self) -> None:
        now = self.clock.now()
        t = min(self._last, now)
        # Replay every event between the last tick and now in order, so that a big
        # advance() behaves exactly like many small ones.
        while True:
            self.scheduler.step(t)
            self.kadeploy.step(t)
            nxt = [
                x
                for x in (self.scheduler.next_event(t), self.kadeploy.next_event(t))
                if x is not None
            ]
            if not nxt or min(nxt) > now:
                break
            t = min(nxt)
        self.scheduler.step(now)
        self.kadeploy.step(now)
        self._last = now
        self._reconcile()

    # ------------------------------------------------------------------ backend wiring
    def _reconcile(self) -> None:
        """Make the backend's live nodes match the nodes of holding jobs."""
        backend = self.backend
        if backend is None:
            return
        wanted: dict[str, tuple[NodeRef, Job]] = {}
        for job in self.scheduler.jobs.values():
            if job.state in HOLDING:
                for n in job.nodes:
                    wanted[n.fqdn] = (n, job)
        gone = [n for f, n in backend.up.items() if f not in wanted]
        if gone:
            try:
                backend.stop(gone)
            except Exception as exc:  # noqa: BLE001 - reported, never fatal
                self.backend_errors.append(f"stop: {exc}")
        new: dict[int, list[NodeRef]] = {}
        for fqdn, (node, job) in wanted.items():
            if fqdn not in backend.up:
                new.setdefault(job.uid, []).append(node)
        for uid, nodes in new.items():
            try:
                backend.start(nodes, owner=self.scheduler.jobs[uid].user)
            except Exception as exc:  # noqa: BLE001 - reported, never fatal
                job = self.scheduler.jobs[uid]
                self.backend_errors.append(f"start {uid}: {exc}")
                job.message = f"Nodes could not be started: {exc}"
                job.event(self.clock.now(), "PROLOGUE_ERROR", job.message)
                self.scheduler._finish(job, "error", self.clock.now())
                self._reconcile()
                return

    def _on_vlan_move(self, node: NodeRef, nic: str, before: str, after: str) -> None:
        if self.backend is None:
            return
        try:
            self.backend.plug(node, nic, after)
        except Exception as exc:  # noqa: BLE001 - reported, never fatal
            self.backend_errors.append(f"vlan move {node.fqdn}/{nic}: {exc}")

    def _on_deployed(self, dep: Deployment, ok: list[NodeRef]) -> None:
        for node in ok:
            if self.backend is not None and node.fqdn in self.backend.up:
                try:
                    self.backend.reset(node, dep.environment, dep.version, dep.key_text)
                except Exception as exc:  # noqa: BLE001 - reported, never fatal
                    self.backend_errors.append(f"reset {node.fqdn}: {exc}")
            if dep.vlan:
                self.kavlan.move_primary(node, dep.vlan)
