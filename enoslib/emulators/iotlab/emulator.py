"""The :class:`IotlabEmulator`: IoT-LAB's REST API, scheduler, boards and frontends, locally.

Typical test use (frozen clock, real SSH hosts when root)::

    with IotlabEmulator(speed=0) as emu:
        emu.env()             # {"IOTLAB_API_URL": ..., "IOTLAB_PASSWORD_FILE": ...} for iotlabcli
        emu.ssh_config(path)  # frontends and A8 nodes by their IoT-LAB names
        ...                   # submit with iotlabcli; emu.advance(60) moves the clock
        emu.faults.update(flash_failure_rate=0.3)

From a shell: ``enos emulate iotlab`` (``python -m enoslib.emulators.iotlab``).

Sites: each has a frontend (``<site>.iot-lab.info``) and its A8 nodes
(``node-a8-N.<site>.iot-lab.info``) as SSH hosts on one bridge per site (network namespaces,
root only; otherwise address-only hosts and no board endpoints). The frontend carries the
boards' serial and sniffer endpoints (:mod:`.boards`) and the aggregation tools (:mod:`.tools`,
in its ``/usr/local/bin``); monitoring profiles write OML files into ``~/.iot-lab/<exp_id>/``
there while experiments run.
"""

from __future__ import annotations

import base64
import getpass
import os
import secrets
import shlex
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..kit import BasicAuth, EmulatorServer, FaultInjector, FaultSettings, Request, Ticker, VirtualClock, make_hosts
from .api import build_router, error
from .boards import BoardServers
from .experiments import Experiment, Hooks, Scheduler
from .testbed import HARDWARE_STATES, Node, Testbed

__all__ = ["IotlabEmulator", "IotlabFaults", "IotlabFaultSettings"]


@dataclass
class IotlabFaultSettings(FaultSettings):
    """The HTTP knobs plus IoT-LAB's own: firmware flashes that fail (at start and on
    ``flash``), experiments that go to Error when launching, node commands that fail."""

    flash_failure_rate: float = 0.0
    flash_fail_next: int = 0
    experiment_error_rate: float = 0.0
    experiment_error_next: int = 0
    command_failure_rate: float = 0.0
    command_fail_next: int = 0


class IotlabFaults(FaultInjector):
    """The kit's fault injection with IoT-LAB's own knobs (:class:`IotlabFaultSettings`)."""

    settings_class = IotlabFaultSettings


class IotlabEmulator(Hooks):
    """IoT-LAB on 127.0.0.1 for the real ``iotlabcli`` client.

    Args:
        layout: ``{site: {kind: count}}`` (kinds: m3, a8, nrf52dk, ...); default
            :data:`~.testbed.DEFAULT_LAYOUT`.
        users: ``{login: password}``; default: the local user (the frontends' SSH login) with a
            password generated for this run.
        speed: virtual seconds per real second (0: time moves only with :meth:`advance`).
        backend: ``auto`` (SSH hosts in namespaces when root), ``netns`` or ``address``.
        faults: initial fault knobs (:class:`IotlabFaultSettings`).
        launch_seconds: virtual time an experiment spends Launching.
        serial_period: real seconds between two sensor lines of a running firmware.
    """

    def __init__(self, layout: Mapping[str, Mapping[str, int]] | None = None, *, users: Mapping[str, str] | None = None,
                 speed: float = 1.0, backend: str = "auto", faults: Mapping[str, Any] | None = None,
                 port: int = 0, launch_seconds: float = 20.0, serial_period: float = 1.0,
                 admin_password: str | None = None, verbose: bool = False) -> None:
        self.users = dict(users) if users else {getpass.getuser(): secrets.token_urlsafe(12)}
        self.username = next(iter(self.users))
        self.clock = VirtualClock(speed=speed)
        self.faults = IotlabFaults(dict(faults or {}), clock=self.clock.now)
        self.testbed = Testbed(layout)
        self.scheduler = Scheduler(self.testbed, self.clock.now, self.faults, self, launch_seconds=launch_seconds)
        self.ssh_keys: dict[str, list[str]] = {}
        self.backend_kind = backend
        self.serial_period = serial_period
        self.hosts: Any = None
        self.boards: dict[str, BoardServers] = {}
        # not under /tmp or /root: the hosts' own are private, and the frontends see this one
        self._workdir = Path(tempfile.mkdtemp(prefix="iotlab-emu-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None))
        self._oml: dict[tuple[int, str], float] = {}  # (experiment, node) -> virtual time written up to
        self._last_flush = 0.0
        self._tick_lock = threading.Lock()
        self.server = EmulatorServer(self._dispatch, prefix="/api", auth=BasicAuth(self.users), allow_anonymous=True,
                                     faults=self.faults, clock=self.clock, advance=self.advance,
                                     admin_password=admin_password, error=error, json_bodies=False, port=port,
                                     server_version="iotlab-emulator/1.0", verbose=verbose)
        self._router = build_router(self)
        self._add_admin_routes()
        self._ticker = Ticker(self.clock, self.tick, interval=0.2)
        self._started = False

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> IotlabEmulator:
        if self._started:
            return self
        self._started = True
        try:
            self._make_hosts()
            self.server.start()
            self._ticker.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop serving and remove every host, bridge and board endpoint (idempotent)."""
        self._ticker.stop()
        self.server.stop()
        for servers in self.boards.values():
            servers.close()
        self.boards.clear()
        if self.hosts is not None:
            self.hosts.close()
            self.hosts = None
        import shutil

        shutil.rmtree(self._workdir, ignore_errors=True)

    close = stop

    def __enter__(self) -> IotlabEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- where clients go --------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The API base URL, with the trailing slash iotlabcli needs."""
        return self.server.url + "/"

    @property
    def password(self) -> str:
        return self.users[self.username]

    def write_rc(self, path: str | os.PathLike[str] | None = None) -> Path:
        """An ``~/.iotlabrc``-style file (``login:base64(password)``) for the first user."""
        target = Path(path) if path else self._workdir / "iotlabrc"
        target.write_text(f"{self.username}:{base64.b64encode(self.password.encode()).decode()}\n")
        target.chmod(0o600)
        return target

    def env(self) -> dict[str, str]:
        """Environment variables pointing ``iotlabcli`` (and enoslib) at this emulator."""
        return {"IOTLAB_API_URL": self.url, "IOTLAB_PASSWORD_FILE": str(self.write_rc())}

    def ssh_config(self, path: str | os.PathLike[str] | None = None) -> str:
        """ssh_config stanzas for the frontends and A8 nodes (written to ``path`` if given)."""
        entries = []
        if self.hosts is not None:
            for site in self.testbed.sites:
                front = self.testbed.frontend(site)
                entries.append(([front], self.hosts.address(front)))
                for node in self.testbed.sites[site]:
                    if node.linux:
                        entries.append(([node.ssh_name], self.hosts.address(node.ssh_name)))
            text = self.hosts.ssh_config(entries, header=f"# IoT-LAB emulator {self.url}")
        else:
            text = "# IoT-LAB emulator: no SSH hosts\n"
        if path is not None:
            Path(path).write_text(text)
        return text

    # -- time ------------------------------------------------------------------------------------
    def advance(self, seconds: float) -> float:
        """Move the virtual clock and apply what became due; the new time."""
        now = self.clock.advance(seconds)
        self.tick()
        return now

    def tick(self) -> None:
        self.scheduler.tick()
        if time.monotonic() - self._last_flush >= 1.0 and self._tick_lock.acquire(blocking=False):
            try:  # one writer at a time (the clock thread and requests both tick)
                self._last_flush = time.monotonic()
                self._write_monitoring()
            finally:
                self._tick_lock.release()

    # -- HTTP ------------------------------------------------------------------------------------
    def _dispatch(self, req: Request) -> Any:
        if req.user is None and req.path.rstrip("/") not in ("/sites", "/sites/details"):
            return error(401, "Unauthorized: credentials required")
        return self._router.dispatch(req)

    def _add_admin_routes(self) -> None:
        admin = self.server.admin

        def node_state(req: Request, address: str) -> Any:
            node = self.testbed.node(address)
            if node is None:
                raise KeyError(f"no node {address}")
            state = req.body.get("state") if req.method != "GET" else None
            if state is not None:
                if state not in HARDWARE_STATES:
                    raise ValueError(f"state must be one of {', '.join(HARDWARE_STATES)}")
                with self.scheduler.lock:
                    node.state = state
                    self.booted(node)
            return node.to_api(address in self.scheduler.busy_nodes())

        def experiments(req: Request) -> Any:
            return {"items": [e.summary() for e in self.scheduler.list(None, None)]}

        for method in ("GET", "POST", "PUT"):
            admin.add(method, "/nodes/{address}", node_state)
        admin.add("GET", "/experiments", experiments)

    def set_node_state(self, address: str, state: str) -> None:
        """Mark a node Alive, Absent, Suspected or Dead (as the admin endpoint does)."""
        if state not in HARDWARE_STATES:
            raise ValueError(f"state must be one of {', '.join(HARDWARE_STATES)}")
        with self.scheduler.lock:
            node = self.testbed.by_address[address]
            node.state = state
            self.booted(node)

    def running_experiments(self) -> list[Experiment]:
        """Experiments not ended yet, every user's."""
        return self.scheduler.list(None, ["Waiting", "toLaunch", "Launching", "Running", "Finishing"])

    # -- SSH hosts: frontends and A8 nodes ---------------------------------------------------------
    def _make_hosts(self) -> None:
        self.hosts = make_hosts(self.backend_kind, tag="iot")
        netns = self.hosts.kind == "netns"
        for i, (site, nodes) in enumerate(self.testbed.sites.items()):
            # 10.190/16: clear of the test labs and of the Grid'5000 emulator's ranges
            self.hosts.add_network(site, f"10.190.{i}.0/24")
            names = [self.testbed.frontend(site)] + [n.ssh_name for n in nodes if n.linux]
            self.hosts.add_hosts(names, [site])
        if not netns:
            return
        tools = self._workdir / "bin"
        tools.mkdir()
        source = (Path(__file__).parent / "tools.py").read_text()
        import sys

        for name in ("serial_aggregator", "sniffer_aggregator"):
            script = tools / name
            # a system interpreter: the frontend's /usr/local/bin is replaced by these tools
            python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
            script.write_text(f"#!{python}\n" + source)
            script.chmod(0o755)
        for site in self.testbed.sites:
            front = self.testbed.frontend(site)
            servers = BoardServers(site, self.testbed.boards(site), self.hosts.lab.nodes[front].netns,
                                   period=self.serial_period)
            hosts_file = self._workdir / f"hosts-{site}"
            lines = ["127.0.0.1\tlocalhost", f"{self.hosts.address(front)}\t{front}"]
            lines += [f"{self.hosts.address(n.ssh_name)}\t{n.ssh_name}" for n in self.testbed.sites[site] if n.linux]
            hosts_file.write_text("\n".join(lines + servers.hosts_lines()) + "\n")
            for src, dst in ((hosts_file, "/etc/hosts"), (tools, "/usr/local/bin")):
                self.hosts.exec(front, ["mount", "--bind", str(src), dst], check=True)
            self.boards[site] = servers.start()

    # -- scheduler hooks -------------------------------------------------------------------------
    def booted(self, node: Node) -> None:
        servers = self.boards.get(node.site)
        if servers is not None:
            servers.notify(node)

    def launching(self, exp: Experiment, nodes: list[Node]) -> None:
        if self.hosts is None or self.hosts.kind != "netns":
            return
        for node in nodes:  # a fresh system for every experiment
            if node.linux:
                self.hosts.reset(node.ssh_name)

    def ended(self, exp: Experiment, nodes: list[Node]) -> None:
        self._write_monitoring(final=exp)

    # -- monitoring: OML files on the frontends ---------------------------------------------------
    def _write_monitoring(self, final: Experiment | None = None) -> None:
        if self.hosts is None or self.hosts.kind != "netns":
            return
        with self.scheduler.lock:  # segments computed once, whoever writes (clock thread, ended hook)
            scripts = self._monitoring_scripts(final)
        for site, lines in scripts.items():
            try:
                # the script on stdin: one argument may not exceed 128 KiB
                self.hosts.exec(self.testbed.frontend(site), ["sh"], input="\n".join(lines) + "\n", timeout=30)
            except Exception:  # noqa: BLE001 - a frontend gone at shutdown
                pass

    def _monitoring_scripts(self, final: Experiment | None) -> dict[str, list[str]]:
        exps = [final] if final is not None else self.scheduler.list(None, ["Running"])
        now = self.clock.now()
        scripts: dict[str, list[str]] = {}
        for exp in exps:
            end = min(now, exp.stopped or now)
            for node in self.scheduler._nodes(exp):
                profile = node.profile
                if not profile:
                    continue
                key = (exp.id, node.network_address)
                since = self._oml.get(key, exp.started or now)
                if end <= since:
                    continue
                self._oml[key] = end
                for kind, body in _oml_lines(node, profile, since, end).items():
                    path = f".iot-lab/{exp.id}/{kind}/{node.alias}.oml"
                    scripts.setdefault(node.site, []).append(
                        f"mkdir -p {shlex.quote(os.path.dirname(path))}; "
                        f"[ -s {shlex.quote(path)} ] || printf '%s\\n' {shlex.quote(_oml_header(kind, node))} > {shlex.quote(path)}; "
                        f"printf '%s' {shlex.quote(body)} >> {shlex.quote(path)}")
        return scripts


def _oml_header(kind: str, node: Node) -> str:
    fields = "timestamp_s:uint32 timestamp_us:uint32 power:double voltage:double current:double" \
        if kind == "consumption" else "timestamp_s:uint32 timestamp_us:uint32 channel:uint32 rssi:int32"
    return (f"protocol: 5\ndomain: {node.alias}\nstart-time: 0\nsender-id: {node.alias}\n"
            f"app-name: control_node_measures\nschema: 0 _experiment_metadata subject:string key:string value:string\n"
            f"schema: 1 control_node_measures_{kind} {fields}\ncontent: text\n")


def _oml_lines(node: Node, profile: dict[str, Any], since: float, end: float) -> dict[str, str]:
    """Measures between ``since`` and ``end`` (virtual seconds), at most ten per second."""
    import math

    out: dict[str, str] = {}
    consumption = profile.get("consumption")
    if consumption:
        step = max(0.1, consumption.get("period", 1100) * consumption.get("average", 64) / 1e6)
        rows, t = [], since
        while t < end and len(rows) < 5000:
            v = 3.3 + 0.01 * math.sin(t)
            c = 0.02 + 0.005 * math.sin(t / 7 + node.number)
            rows.append(f"{t:.6f}\t1\t{len(rows)}\t{int(t)}\t{int(t % 1 * 1e6)}\t{v * c:.6f}\t{v:.6f}\t{c:.6f}\n")
            t += step
        out["consumption"] = "".join(rows)
    radio = profile.get("radio")
    if radio and radio.get("mode") == "rssi":
        step = max(0.1, (radio.get("period") or 1000) / 1000.0)
        rows, t, channels = [], since, radio.get("channels") or [11]
        while t < end and len(rows) < 5000:
            ch = channels[len(rows) % len(channels)]
            rows.append(f"{t:.6f}\t1\t{len(rows)}\t{int(t)}\t{int(t % 1 * 1e6)}\t{ch}\t{-91 + (len(rows) % 7)}\n")
            t += step
        out["radio"] = "".join(rows)
    return out
