"""A DHCP server (RFC 2131) for the emulator's networks: fixed leases only, as Grid'5000's.

Grid'5000 answers DHCP on the production network and in every KaVLAN with the address the
reference gives the NIC (``kavlan`` map of the node document): no pool, no lease to an
unknown MAC. :class:`DhcpServer` does the same on the emulator's bridges: one UDP socket
per network (port 67, bound to the bridge, or to an interface inside another network
namespace), one thread answering them all. Which address a MAC gets is asked of a
``lease(mac)`` callback at each request, so leases follow the emulator's state (a NIC moved
into a vlan is offered its kavlan address at once).

Answers: DISCOVER -> OFFER, REQUEST -> ACK (or NAK when the client asks for another
address), INFORM -> ACK; RELEASE and DECLINE need no answer. Options sent: subnet mask,
routers, DNS servers, domain name, broadcast address, lease time, server identifier.

>>> s = Scope("br0", "10.24.63.254", "10.24.0.0/18", routers=["10.24.63.254"],
...           dns=["172.16.111.118"], domain="rennes.grid5000.fr",
...           lease=lambda mac: "10.24.1.1" if mac == "02:00:00:00:00:01" else None)
>>> discover = build_request(1, "02:00:00:00:00:01", DISCOVER)
>>> offer = answer(s, discover)
>>> offer[1][53], offer[0].yiaddr
(b'\\x02', '10.24.1.1')
>>> answer(s, build_request(2, "02:00:00:00:00:02", DISCOVER)) is None   # unknown MAC
True
"""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import logging
import os
import selectors
import socket
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["DhcpServer", "Packet", "Scope", "answer", "build_request", "parse"]

logger = logging.getLogger(__name__)

SERVER_PORT, CLIENT_PORT = 67, 68
MAGIC = b"\x63\x82\x53\x63"
DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = range(1, 9)
LEASE_TIME = 86400
_HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")
_SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
_CLONE_NEWNET = 0x40000000


@dataclass
class Scope:
    """One network the server answers on.

    ``ifname``: the interface the requests arrive on (a bridge, or a NIC inside ``netns``,
    a path like ``/run/netns/<name>``); ``server``: the server's address there (the
    server identifier); ``lease(mac)``: the address of that MAC on this network, or None
    (no answer).
    """

    ifname: str
    server: str
    network: str
    lease: Callable[[str], str | None]
    routers: Sequence[str] = ()
    dns: Sequence[str] = ()
    domain: str | None = None
    netns: str | None = None
    lease_time: int = LEASE_TIME
    sock: socket.socket | None = field(default=None, repr=False)


@dataclass
class Packet:
    """The fields of a DHCP message the server uses."""

    op: int
    xid: int
    flags: int
    ciaddr: str
    yiaddr: str
    giaddr: str
    mac: str
    chaddr: bytes
    options: dict[int, bytes]

    @property
    def kind(self) -> int:
        value = self.options.get(53, b"")
        return value[0] if value else 0


def parse(data: bytes) -> Packet | None:
    """A BOOTP/DHCP packet, or None when it is not one."""
    if len(data) < _HEADER.size + 4 or data[_HEADER.size:_HEADER.size + 4] != MAGIC:
        return None
    op, htype, hlen, _hops, xid, _secs, flags, ci, yi, _si, gi, chaddr, _sn, _f = _HEADER.unpack_from(data)
    if htype != 1 or hlen != 6:
        return None
    options: dict[int, bytes] = {}
    i = _HEADER.size + 4
    while i < len(data):
        code = data[i]
        if code == 255:
            break
        if code == 0:
            i += 1
            continue
        if i + 1 >= len(data):
            break
        size = data[i + 1]
        options[code] = options.get(code, b"") + data[i + 2:i + 2 + size]  # RFC 3396 concat
        i += 2 + size
    return Packet(
        op, xid, flags, socket.inet_ntoa(ci), socket.inet_ntoa(yi), socket.inet_ntoa(gi),
        ":".join(f"{b:02x}" for b in chaddr[:6]), chaddr, options,
    )


def _encode(packet: Packet, siaddr: str, options: dict[int, bytes]) -> bytes:
    head = _HEADER.pack(
        2, 1, 6, 0, packet.xid, 0, packet.flags, socket.inet_aton(packet.ciaddr),
        socket.inet_aton(packet.yiaddr), socket.inet_aton(siaddr),
        socket.inet_aton(packet.giaddr), packet.chaddr, b"", b"",
    )
    body = bytearray(MAGIC)
    for code, value in options.items():
        for k in range(0, max(len(value), 1), 255):
            chunk = value[k:k + 255]
            body += bytes([code, len(chunk)]) + chunk
    body.append(255)
    out = head + bytes(body)
    return out + b"\0" * max(0, 300 - len(out))  # BOOTP minimum size


def _addresses(values: Sequence[str]) -> bytes:
    return b"".join(socket.inet_aton(v) for v in values)


def answer(scope: Scope, packet: Packet | bytes) -> tuple[Packet, dict[int, bytes]] | None:
    """The reply to ``packet`` (header fields, options), or None for no reply."""
    if isinstance(packet, bytes):
        parsed = parse(packet)
        if parsed is None:
            return None
        packet = parsed
    if packet.op != 1 or packet.kind not in (DISCOVER, REQUEST, INFORM):
        return None
    server_id = packet.options.get(54)
    if server_id is not None and server_id != socket.inet_aton(scope.server):
        return None  # the client chose another server
    address = scope.lease(packet.mac)
    if address is None:
        return None  # fixed leases only: unknown clients get nothing
    net = ipaddress.ip_network(scope.network)
    options: dict[int, bytes] = {54: socket.inet_aton(scope.server)}
    kind = {DISCOVER: OFFER, REQUEST: ACK, INFORM: ACK}[packet.kind]
    if packet.kind == REQUEST:
        wanted = packet.options.get(50)
        asked = socket.inet_ntoa(wanted) if wanted and len(wanted) == 4 else packet.ciaddr
        if asked != address:
            reply = Packet(2, packet.xid, packet.flags, "0.0.0.0", "0.0.0.0", packet.giaddr,
                           packet.mac, packet.chaddr, {})
            options[53] = bytes([NAK])
            options[56] = f"address {asked} is not yours".encode()
            return reply, options
    yiaddr = "0.0.0.0" if packet.kind == INFORM else address
    reply = Packet(2, packet.xid, packet.flags, packet.ciaddr if packet.kind != DISCOVER else "0.0.0.0",
                   yiaddr, packet.giaddr, packet.mac, packet.chaddr, {})
    options[53] = bytes([kind])
    if packet.kind != INFORM:
        options[51] = struct.pack("!I", scope.lease_time)
        options[58] = struct.pack("!I", scope.lease_time // 2)
        options[59] = struct.pack("!I", scope.lease_time * 7 // 8)
    options[1] = net.netmask.packed
    options[28] = net.broadcast_address.packed
    if scope.routers:
        options[3] = _addresses(scope.routers)
    if scope.dns:
        options[6] = _addresses(scope.dns)
    if scope.domain:
        options[15] = scope.domain.encode()
    return reply, options


def build_request(xid: int, mac: str, kind: int, requested: str | None = None,
                  server: str | None = None) -> bytes:
    """A client's DHCP message (what tests and the doctest send)."""
    chaddr = bytes.fromhex(mac.replace(":", "")).ljust(16, b"\0")
    head = _HEADER.pack(1, 1, 6, 0, xid, 0, 0x8000, b"\0" * 4, b"\0" * 4, b"\0" * 4, b"\0" * 4,
                        chaddr, b"", b"")
    opts = bytearray(MAGIC) + bytes([53, 1, kind])
    if requested:
        opts += bytes([50, 4]) + socket.inet_aton(requested)
    if server:
        opts += bytes([54, 4]) + socket.inet_aton(server)
    return head + bytes(opts) + b"\xff"


def _open_socket(ifname: str, netns: str | None) -> socket.socket:
    """UDP port 67 bound to ``ifname`` (created inside ``netns`` when given)."""
    if netns is None:
        return _bound_socket(ifname)
    result: list[socket.socket | BaseException] = []

    def inside() -> None:  # setns changes this thread only; it ends right after
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(netns, os.O_RDONLY)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns {netns}: {os.strerror(err)}")
            finally:
                os.close(fd)
            result.append(_bound_socket(ifname))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            result.append(exc)

    t = threading.Thread(target=inside, name="dhcp-setns", daemon=True)
    t.start()
    t.join()
    got = result[0]
    if isinstance(got, BaseException):
        raise got
    return got


def _bound_socket(ifname: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setsockopt(socket.SOL_SOCKET, _SO_BINDTODEVICE, ifname.encode() + b"\0")
        sock.bind(("0.0.0.0", SERVER_PORT))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class DhcpServer:
    """Answers DHCP on every :class:`Scope` added, from one daemon thread (needs root)."""

    def __init__(self) -> None:
        self.scopes: dict[str, Scope] = {}
        self._lock = threading.RLock()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.answered = 0

    def add(self, key: str, scope: Scope) -> None:
        """Answer on ``scope`` from now on (replaces a scope of the same key)."""
        sock = _open_socket(scope.ifname, scope.netns)
        with self._lock:
            self.remove(key)
            scope.sock = sock
            self.scopes[key] = scope
            self._selector.register(sock, selectors.EVENT_READ, key)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="g5k-dhcp", daemon=True)
                self._thread.start()
        self._wake_w.send(b"x")

    def remove(self, key: str) -> None:
        """Stop answering on the scope ``key`` (unknown keys are ignored)."""
        with self._lock:
            scope = self.scopes.pop(key, None)
            if scope is not None and scope.sock is not None:
                try:
                    self._selector.unregister(scope.sock)
                except (KeyError, ValueError):
                    pass
                scope.sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=1.0):
                if key.data is None:
                    try:
                        self._wake_r.recv(64)
                    except BlockingIOError:
                        pass
                    continue
                with self._lock:
                    scope = self.scopes.get(key.data)
                if scope is not None:
                    self._serve(scope)

    def _serve(self, scope: Scope) -> None:
        sock = scope.sock
        while sock is not None:
            try:
                data, _ = sock.recvfrom(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # closed under us
            try:
                got = answer(scope, data)
                if got is None:
                    continue
                reply, options = got
                to = reply.ciaddr if reply.ciaddr != "0.0.0.0" and options[53] != bytes([NAK]) else "255.255.255.255"
                sock.sendto(_encode(reply, scope.server, options), (to, CLIENT_PORT))
                self.answered += 1
            except OSError as exc:
                if exc.errno not in (errno.ENETUNREACH, errno.EHOSTUNREACH):
                    logger.warning("DHCP on %s: %s", scope.ifname, exc)
            except Exception:  # noqa: BLE001 - one bad packet must not stop the server
                logger.exception("DHCP on %s: bad request", scope.ifname)

    def close(self) -> None:
        """Stop the thread and close every socket."""
        self._stop.set()
        self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        for key in list(self.scopes):
            self.remove(key)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()
