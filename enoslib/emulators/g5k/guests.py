"""Guests of emulated nodes (VMs, containers) and the command channel that creates them.

Two parts, both generic (libvirt lives in :mod:`.libvirt`; other tools register the same way):

* :class:`GuestHosts` -- SSH hosts (network namespace + sshd, like the nodes) with a given name,
  MAC and IP on a given network (a site's g5k subnet bridge, routed to its production network by
  the machine, or a KaVLAN bridge), each *hosted* by a node: accounted against the node's cores
  and memory (reference API), removed when the node's job ends or the node is redeployed, listed
  for leak checks. With the address-only backend, guests are bookkeeping only.
* :class:`CommandChannel` -- commands a node runs (``virsh``, ``qemu-img``...) are small shims
  in the node's ``/usr/local/bin`` (per-node file overlays) that send their argv to the
  emulator over a Unix socket with the node's own token (``/etc/enoslib-emulator/node.json`` in
  that node only; the admin secret is never involved) and print the answer. The emulator checks
  that the caller really runs inside that node's network namespace, runs the registered tool
  handler with the node as context, and the handler reads/writes the node's files through
  ``/proc/<caller>/root`` (the node's own /tmp, overlays...), so a node can only act on its own
  guests and files.

Usage (the emulator wires both at start: ``emu.guests``, ``emu.channel``)::

    def hello(call):                      # call.node, call.argv, call.path(), call.guests
        return 0, f"hi from {call.node.fqdn}\\n", ""
    emu.channel.register("hello", hello)  # nodes started from now on have /usr/local/bin/hello

    g = emu.guests.create("vm-1", "paravance-1.rennes.grid5000.fr", ip="10.158.0.2",
                          mac="00:16:3e:9e:00:02", memory_mb=1024, vcpus=1)
    emu.guests.list()                     # [Guest(name='vm-1', host=..., ...)]
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shlex
import socket
import socketserver
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .backend import DEFAULT, INSTANCE_LOCK_DIR, NamespaceBackend, shift_address
from .reference import NodeRef

if TYPE_CHECKING:
    from .emulator import G5kEmulator

__all__ = [
    "CHANNEL_FILE",
    "CommandChannel",
    "Guest",
    "GuestError",
    "GuestHosts",
    "ToolCall",
    "shim_script",
]

CHANNEL_FILE = "/etc/enoslib-emulator/node.json"  # per node: socket path + the node's token
GUEST_IFNAME = "enp1s0"  # a virtio NIC of a q35 guest, as Debian cloud images name it
MAX_REPLY = 4 * 1024 * 1024


class GuestError(Exception):
    """A guest cannot be created (resources, address, name); the message says why."""


@dataclass
class Guest:
    """One guest: ``name`` (its hostname), ``host`` (the node's fqdn), where it is plugged."""

    name: str
    host: str
    network: str | None  # our network key (None: no network, e.g. no DHCP lease)
    ip: str | None
    mac: str | None
    memory_mb: int = 0
    vcpus: int = 0
    kind: str = "vm"
    data: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------- guests
class GuestHosts:
    """The guests of an emulator's nodes (thread-safe; callers hold the emulator lock first)."""

    def __init__(self, emu: G5kEmulator) -> None:
        self.emu = emu
        self.backend = emu.backend
        self._lock = threading.RLock()
        self.guests: dict[str, Guest] = {}
        # told (event, nodes, names of the guests removed) when nodes stop or are redeployed:
        # tools keep their own state (e.g. libvirt domains) in step
        self.listeners: list[Callable[[str, Sequence[NodeRef], list[str]], None]] = []
        if isinstance(self.backend, NamespaceBackend):
            self.hosts = self.backend.hosts  # same lab: same bridges, ssh key, /etc/hosts
            self.real = True
        else:
            from ..kit.nodes import Hosts

            self.hosts = Hosts()
            self.real = False
        self.backend.node_listeners.append(self._on_nodes)
        self.backend.entry_hooks.append(self.entries)

    # -- capacity -----------------------------------------------------------------------
    def _node(self, host: str | NodeRef) -> NodeRef:
        if isinstance(host, NodeRef):
            return host
        found = self.emu.ref.resolve(host)
        if found is None:
            raise GuestError(f"unknown node {host}")
        return found[0]

    def capacity(self, host: str | NodeRef) -> dict[str, int]:
        """``{"cores", "threads", "memory_mb"}`` of a node, from the reference API."""
        node = self._node(host)
        doc = self.emu.ref.node(node)
        arch = doc.get("architecture", {})
        cores = int(arch.get("nb_cores") or 1)
        return {
            "cores": cores,
            "threads": int(arch.get("nb_threads") or cores),
            "memory_mb": int(doc.get("main_memory", {}).get("ram_size") or 0) // (1024 * 1024),
        }

    def used(self, host: str | NodeRef) -> dict[str, int]:
        """``{"vcpus", "memory_mb", "guests"}`` taken on a node by its guests."""
        fqdn = self._node(host).fqdn
        with self._lock:
            mine = [g for g in self.guests.values() if g.host == fqdn]
            return {
                "vcpus": sum(g.vcpus for g in mine),
                "memory_mb": sum(g.memory_mb for g in mine),
                "guests": len(mine),
            }

    # -- networks -------------------------------------------------------------------------
    def network(self, site: str, vlan: str | None = None) -> str:
        """Our network key for a site's g5k subnets (``vlan`` None) or a KaVLAN, created on use.

        The subnets network is the site's whole ``g5ksubnet`` range with its gateway (as on the
        testbed: VMs on any reserved /22 or /16 of the site route through that gateway).
        """
        if vlan is not None and vlan != DEFAULT:
            if not isinstance(self.backend, NamespaceBackend):
                key = f"kavlan-{vlan}-{site}"
                kav = self.emu.ref.sites[site]["kavlans"][vlan]
                self.hosts.add_network(key, kav["network"], kav.get("gateway"))
                return key
            return self.backend._network(site, vlan)
        sub = self.emu.ref.sites.get(site, {}).get("g5ksubnet") or {}
        if not sub.get("network"):
            raise GuestError(f"site {site} has no g5k subnets")
        key = f"subnet-{site}"
        if key not in self.hosts.networks:
            instance = getattr(self.backend, "instance", 0)
            try:
                cidr = shift_address(sub["network"], instance)
                gateway = shift_address(sub["gateway"], instance) if sub.get("gateway") else None
            except ValueError as exc:
                raise GuestError(f"no room for the g5k subnets of {site} in this instance: {exc}") from exc
            self.hosts.add_network(key, cidr, gateway)
        return key

    def subnet_of(self, site: str, ip: str) -> bool:
        """Is ``ip`` in the site's g5k subnets (what its DHCP serves)?"""
        sub = self.emu.ref.sites.get(site, {}).get("g5ksubnet") or {}
        try:
            return bool(sub.get("network")) and ipaddress.ip_address(ip) in ipaddress.ip_network(
                sub["network"])
        except ValueError:
            return False

    # -- life cycle -------------------------------------------------------------------------
    def create(
        self,
        name: str,
        host: str | NodeRef,
        *,
        ip: str | None,
        mac: str | None = None,
        network: str | None = None,
        memory_mb: int = 0,
        vcpus: int = 0,
        kind: str = "vm",
        keys: Iterable[str] = (),
        files: Mapping[str, str] | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Guest:
        """Create a guest hosted by node ``host`` (which must be up).

        ``ip`` (shown on the testbed, i.e. unshifted) on ``network`` (default: the node's site's
        g5k subnets; ``None`` ip: a guest without network). ``keys``: public keys accepted for
        root (besides the lab's). ``files``: what the guest shows at those paths (its image).
        Raises :class:`GuestError` (memory, name, address) before creating anything.
        """
        node = self._node(host)
        with self._lock:
            if node.fqdn not in self.backend.up:
                raise GuestError(f"node {node.fqdn} is not up")
            if name in self.guests or name in self.hosts:
                raise GuestError(f"a guest named {name!r} already exists")
            cap, used = self.capacity(node), self.used(node)
            if memory_mb and used["memory_mb"] + memory_mb > cap["memory_mb"]:
                raise GuestError(
                    f"Cannot allocate memory: {memory_mb} MiB asked, "
                    f"{cap['memory_mb'] - used['memory_mb']} MiB free on {node.fqdn}"
                )
            net = None
            actual = None
            if ip is not None:
                net = network or self.network(node.site)
                actual = shift_address(ip, getattr(self.backend, "instance", 0))
                for other in self.guests.values():
                    if other.network == net and other.ip == ip:
                        raise GuestError(f"address {ip} is already used by guest {other.name}")
            guest = Guest(name, node.fqdn, net, ip, mac, int(memory_mb), int(vcpus), kind,
                          dict(data or {}))
            if net is not None:
                self.hosts.add_hosts(
                    [name], [net], {name: {net: actual}},
                    {name: dict(files)} if files and self.real else None,
                    {name: [GUEST_IFNAME]} if self.real else None,
                )
                try:
                    self._configure(name, mac, keys)
                except BaseException:
                    self.hosts.remove_hosts([name])
                    raise
            self.guests[name] = guest
            self._refresh()
            return guest

    def _configure(self, name: str, mac: str | None, keys: Iterable[str]) -> None:
        if not self.real:
            return
        steps = []
        if mac:
            steps.append(f"ip link set dev {GUEST_IFNAME} address {shlex.quote(mac)}")
        wanted = [k.strip() for k in keys if k and k.strip()]
        if wanted:
            steps.append("mkdir -p /root/.ssh && cat >> /root/.ssh/authorized_keys")
        if steps:
            self.hosts.exec(name, ["sh", "-c", " && ".join(steps)],
                            input="".join(k + "\n" for k in wanted), check=True)

    def remove(self, names: Iterable[str]) -> None:
        """Destroy these guests (unknown names ignored)."""
        with self._lock:
            names = [n for n in names if n in self.guests]
            try:
                self.hosts.remove_hosts([n for n in names if self.guests[n].network is not None])
            finally:
                for n in names:
                    self.guests.pop(n, None)
                self._refresh()

    def remove_on(self, hosts: Iterable[str], kind: str | None = None) -> list[str]:
        """Destroy the guests of these nodes (of one ``kind``); returns their names."""
        fqdns = set(hosts)
        with self._lock:
            gone = [g.name for g in self.guests.values()
                    if g.host in fqdns and (kind is None or g.kind == kind)]
            self.remove(gone)
            return gone

    def list(self, host: str | None = None, kind: str | None = None) -> list[Guest]:
        """The guests (of one node, of one kind), in creation order: what leak checks read."""
        with self._lock:
            return [g for g in self.guests.values()
                    if (host is None or g.host == self._node(host).fqdn)
                    and (kind is None or g.kind == kind)]

    def address(self, name: str) -> str | None:
        """Where the machine reaches the guest (its shifted address; None if unplugged)."""
        with self._lock:
            g = self.guests.get(name)
            if g is None or g.network is None:
                return None
            return self.hosts.address(name, g.network)

    def exec(self, name: str, argv: Sequence[str], **kwargs: Any) -> Any:
        """Run ``argv`` inside a guest without ssh (netns backend only)."""
        return self.hosts.exec(name, argv, **kwargs)

    def entries(self) -> list[tuple[list[str], str | None]]:
        """``(names, address)`` of every plugged guest: name and testbed IP, for ssh_config."""
        with self._lock:
            found = []
            for g in self.guests.values():
                if g.network is not None:
                    found.append(([g.name, *([g.ip] if g.ip else [])], self.address(g.name)))
            return found

    def _refresh(self) -> None:
        refresh = getattr(self.backend, "_refresh_gateway_hosts", None)
        if refresh is not None:
            refresh()

    def _on_nodes(self, event: str, nodes: Sequence[NodeRef]) -> None:
        # the job ended or the node was redeployed: its guests died with it
        gone = self.remove_on([n.fqdn for n in nodes])
        for listener in list(self.listeners):
            listener(event, nodes, gone)

    def close(self) -> None:
        """Destroy every guest (the emulator stops)."""
        with self._lock:
            self.remove(list(self.guests))



# ---------------------------------------------------------------------------- channel
@dataclass
class ToolCall:
    """One command run by a node: what a tool handler gets."""

    emu: Any
    node: NodeRef
    tool: str
    argv: list[str]
    cwd: str
    pid: int | None

    @property
    def guests(self) -> GuestHosts:
        return self.emu.guests

    def path(self, path: str) -> str:
        """Where the machine sees the node's ``path`` (relative to the caller's cwd)."""
        full = os.path.normpath(os.path.join(self.cwd or "/", path))
        if self.pid is None:
            return full
        return f"/proc/{self.pid}/root{full}"

    def absolute(self, path: str) -> str:
        """``path`` as the node names it (absolute)."""
        return os.path.normpath(os.path.join(self.cwd or "/", path))


Handler = Callable[[ToolCall], "tuple[int, str, str]"]


SHIM = r'''#!/usr/bin/python3
# {tool} (emulated by the Grid'5000 emulator): forwards its arguments to the emulator
# over the node's command channel and prints the answer, with the tool's exit status.
import json, os, socket, sys
try:
    with open({conf!r}) as f:
        conf = json.load(f)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(conf["socket"])
except (OSError, ValueError) as exc:
    sys.stderr.write("{tool}: the emulator's command channel is unavailable: %s\n" % exc)
    sys.exit(127)
req = {{"token": conf["token"], "tool": {tool!r}, "argv": sys.argv[1:], "cwd": os.getcwd()}}
s.sendall(json.dumps(req).encode() + b"\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
try:
    answer = json.loads(data)
except ValueError:
    sys.stderr.write("{tool}: no answer from the emulator\n")
    sys.exit(1)
sys.stdout.write(answer.get("stdout", ""))
sys.stderr.write(answer.get("stderr", ""))
sys.exit(int(answer.get("rc", 1)))
'''


def shim_script(tool: str, conf: str = CHANNEL_FILE) -> str:
    """The text of the shim installed as ``/usr/local/bin/<tool>`` on nodes."""
    return SHIM.format(tool=tool, conf=conf)


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class CommandChannel:
    """The nodes' command channel: a Unix socket, per-node tokens, registered tools.

    ``register(tool, handler, available=None)``: nodes started (or redeployed) from then on have
    ``/usr/local/bin/<tool>``; ``available(environment)`` (None = standard environment) says
    whether the tool is part of that environment (default: always).
    """

    def __init__(self, emu: G5kEmulator) -> None:
        self.emu = emu
        self.backend = emu.backend
        self.tools: dict[str, tuple[Handler, Callable[[str | None], bool] | None, str]] = {}
        self.tokens: dict[str, str] = {}  # token -> fqdn
        self.calls = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self.socket_path: str | None = None
        self._server: _UnixServer | None = None
        self._thread: threading.Thread | None = None
        if isinstance(self.backend, NamespaceBackend):
            os.makedirs(INSTANCE_LOCK_DIR, exist_ok=True)
            self.socket_path = os.path.join(
                INSTANCE_LOCK_DIR, f"channel-{self.backend.lab.name}-{secrets.token_hex(4)}.sock")
            handler = self._handler_class()
            self._server = _UnixServer(self.socket_path, handler)
            os.chmod(self.socket_path, 0o600)
            self._thread = threading.Thread(target=self._server.serve_forever,
                                             kwargs={"poll_interval": 0.2},
                                             name="g5k-emulator-channel", daemon=True)
            self._thread.start()
            self.backend.file_hooks.append(self.node_files)
            self.backend.node_listeners.append(self._on_nodes)

    def register(self, tool: str, handler: Handler,
                 available: Callable[[str | None], bool] | None = None,
                 path: str = "/usr/local/bin") -> None:
        """Answer ``tool`` run on nodes with ``handler(call) -> (rc, stdout, stderr)``."""
        self.tools[tool] = (handler, available, path)

    # -- per-node files ---------------------------------------------------------------------
    def node_files(self, node: NodeRef, environment: str | None) -> dict[str, str]:
        """The channel file and the shims of the tools ``environment`` carries."""
        with self._lock:
            token = next((t for t, f in self.tokens.items() if f == node.fqdn), None)
            if token is None:
                token = secrets.token_urlsafe(24)
                self.tokens[token] = node.fqdn
        files = {CHANNEL_FILE: json.dumps({"socket": self.socket_path, "token": token}) + "\n"}
        for tool, (_, available, where) in self.tools.items():
            if available is None or available(environment):
                files[f"{where}/{tool}"] = shim_script(tool)
        return files

    def _on_nodes(self, event: str, nodes: Sequence[NodeRef]) -> None:
        if event == "stop":
            with self._lock:
                gone = {n.fqdn for n in nodes}
                for t in [t for t, f in self.tokens.items() if f in gone]:
                    del self.tokens[t]

    # -- serving -----------------------------------------------------------------------------
    def _handler_class(self) -> type[socketserver.StreamRequestHandler]:
        channel = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                try:
                    line = self.rfile.readline(MAX_REPLY)
                    request = json.loads(line)
                except ValueError:
                    answer = {"rc": 2, "stdout": "", "stderr": "malformed request\n"}
                else:
                    pid = _peer_pid(self.connection)
                    answer = channel.call(request, pid)
                self.wfile.write(json.dumps(answer).encode())

        return Handler

    def call(self, request: Mapping[str, Any], pid: int | None) -> dict[str, Any]:
        """Authenticate a request and run its tool (what the socket server does)."""
        tool = str(request.get("tool", ""))
        with self._lock:
            fqdn = self.tokens.get(str(request.get("token", "")))
        if fqdn is None:
            return {"rc": 126, "stdout": "", "stderr": f"{tool}: permission denied (bad node token)\n"}
        node = self._node(fqdn)
        if pid is not None and not self._inside(node, pid):
            return {"rc": 126, "stdout": "",
                    "stderr": f"{tool}: permission denied (not run on {fqdn})\n"}
        entry = self.tools.get(tool)
        if entry is None:
            return {"rc": 127, "stdout": "", "stderr": f"{tool}: command not found\n"}
        argv = [str(a) for a in request.get("argv") or []]
        call = ToolCall(self.emu, node, tool, argv, str(request.get("cwd") or "/"), pid)
        self.calls += 1
        try:
            with self.emu.lock:
                rc, out, err = entry[0](call)
        except Exception as exc:  # noqa: BLE001 - a bug of ours still answers
            self.errors.append(f"{tool} {argv}: {type(exc).__name__}: {exc}")
            return {"rc": 1, "stdout": "", "stderr": f"{tool}: internal error: {exc}\n"}
        return {"rc": int(rc), "stdout": out, "stderr": err}

    def _node(self, fqdn: str) -> NodeRef:
        found = self.emu.ref.resolve(fqdn)
        assert found is not None
        return found[0]

    def _inside(self, node: NodeRef, pid: int) -> bool:
        """Does process ``pid`` run in ``node``'s network namespace?"""
        info = self.backend.lab.nodes.get(node.fqdn)
        if info is None or info.pid is None:
            return False
        try:
            return os.readlink(f"/proc/{pid}/ns/net") == os.readlink(f"/proc/{info.pid}/ns/net")
        except OSError:
            return False

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            if self._thread is not None:
                self._thread.join(timeout=5)
        if self.socket_path and os.path.exists(self.socket_path):
            os.unlink(self.socket_path)


def _peer_pid(conn: socket.socket) -> int | None:
    import struct

    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    pid, _, _ = struct.unpack("3i", creds)
    return pid or None
