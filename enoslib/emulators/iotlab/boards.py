"""Emulated boards: each board's serial port and radio sniffer are real TCP endpoints on its
site's frontend, behaving like a firmware.

Inside the frontend's network namespace, board number ``i`` of the site listens on
``127.1.x.y`` (its name resolves there through the frontend's ``/etc/hosts``): port 20000 is
the serial port, port 30000 the sniffer stream (4-byte big-endian length + an 802.15.4 frame,
while the board's profile has radio ``mode: sniffer``).

The emulated firmware, once flashed and powered: prints ``<alias>: <firmware> booted`` at every
(re)start, then a sensor line every ``period`` real seconds, and answers lines it reads:
``help``, ``echo <text>``, ``sensors``, ``info``; anything else gets ``unknown command: ...``.
The idle firmware (nothing flashed) and a stopped board say nothing.
"""

from __future__ import annotations

import logging
import math
import queue
import selectors
import socket
import struct
import threading
import time
from typing import Any

from ..kit.netsock import listen_in_netns
from .testbed import Node

logger = logging.getLogger(__name__)

SERIAL_PORT = 20000
SNIFFER_PORT = 30000


def board_address(index: int) -> str:
    """The loopback address board number ``index`` listens on (serial, sniffer) on its frontend."""
    return f"127.1.{index // 250}.{index % 250 + 1}"


class _Client:
    def __init__(self, sock: socket.socket, node: Node, kind: str) -> None:
        self.sock, self.node, self.kind, self.buffer = sock, node, kind, b""


class BoardServers:
    """Serial and sniffer endpoints of one site's boards, served by one thread."""

    def __init__(self, site: str, boards: list[Node], netns: str | None, *, period: float = 1.0) -> None:
        self.site, self.boards, self.netns, self.period = site, list(boards), netns, period
        self.addresses = {n.network_address: board_address(i) for i, n in enumerate(self.boards)}
        self._sel = selectors.DefaultSelector()
        self._events: queue.Queue[Node] = queue.Queue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._clients: list[_Client] = []
        self._seq = 0

    def hosts_lines(self) -> list[str]:
        return [f"{addr}\t{name} {name.split('.')[0]}" for name, addr in self.addresses.items()]

    def start(self) -> BoardServers:
        wanted = [(self.addresses[n.network_address], port) for n in self.boards
                  for port in (SERIAL_PORT, SNIFFER_PORT)]
        socks = listen_in_netns(self.netns, wanted)
        for i, sock in enumerate(socks):
            node = self.boards[i // 2]
            self._sel.register(sock, selectors.EVENT_READ, ("listen", node, "serial" if i % 2 == 0 else "sniffer"))
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, ("wake", None, None))
        self._thread = threading.Thread(target=self._loop, name=f"iotlab-boards-{self.site}", daemon=True)
        self._thread.start()
        return self

    def notify(self, node: Node) -> None:
        """The node booted, changed firmware, profile or power: tell its clients."""
        if node.network_address in self.addresses:
            self._events.put(node)
            try:
                self._wake_w.send(b"x")
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(5)
        for key in list(self._sel.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self._sel.close()
        self._wake_w.close()

    # -- the firmware ----------------------------------------------------------------------
    @staticmethod
    def _running(node: Node) -> bool:
        return node.powered and node.firmware is not None and node.state == "Alive"

    def _sensor_line(self, node: Node) -> str:
        t = time.time()
        phase = node.number + t / 30.0
        return (f"{node.alias}: sensors temperature={21 + 2 * math.sin(phase):.2f} "
                f"light={300 + 50 * math.cos(phase):.1f} pressure={1013 + math.sin(phase / 3):.2f}\n")

    def _answer(self, node: Node, line: str) -> str:
        cmd, _, rest = line.strip().partition(" ")
        if not cmd:
            return ""
        if cmd == "help":
            return "commands: help, echo <text>, sensors, info\n"
        if cmd == "echo":
            return rest + "\n"
        if cmd == "sensors":
            return self._sensor_line(node)
        if cmd == "info":
            return f"{node.alias}: firmware={node.firmware} boots={node.boots} profile=" \
                   f"{(node.profile or {}).get('profilename')}\n"
        return f"unknown command: {line.strip()}\n"

    def _send(self, client: _Client, data: bytes) -> None:
        try:
            client.sock.sendall(data)
        except OSError:
            self._drop(client)

    def _drop(self, client: _Client) -> None:
        if client in self._clients:
            self._clients.remove(client)
            try:
                self._sel.unregister(client.sock)
            except (KeyError, ValueError):
                pass
            client.sock.close()

    def _serial(self, node: Node, text: str) -> None:
        for c in [c for c in self._clients if c.node is node and c.kind == "serial"]:
            self._send(c, text.encode())

    def _sniff(self) -> None:
        for c in [c for c in self._clients if c.kind == "sniffer"]:
            radio = (c.node.profile or {}).get("radio") or {}
            if not (c.node.powered and radio.get("mode") == "sniffer"):
                continue
            self._seq = (self._seq + 1) % 256
            channel = (radio.get("channels") or [11])[0]
            payload = f"{c.node.alias} ch{channel} #{self._seq}".encode()
            frame = struct.pack("<HBHH", 0x8841, self._seq, 0xABCD, 0xFFFF) + payload + b"\x00\x00"
            self._send(c, struct.pack(">I", len(frame)) + frame)

    def _loop(self) -> None:
        next_tick = time.monotonic() + self.period
        while not self._stop.is_set():
            timeout = max(0.0, next_tick - time.monotonic())
            for key, _ in self._sel.select(timeout):
                kind, node, what = key.data
                if kind == "wake":
                    try:
                        self._wake_r.recv(4096)
                    except OSError:
                        pass
                elif kind == "listen":
                    try:
                        sock, _ = key.fileobj.accept()  # type: ignore[union-attr]
                    except OSError:
                        continue
                    sock.setblocking(True)
                    sock.settimeout(2)
                    client = _Client(sock, node, what)
                    self._clients.append(client)
                    self._sel.register(sock, selectors.EVENT_READ, ("client", client, None))
                else:
                    self._read(node)
            while not self._events.empty():
                n = self._events.get()
                if self._running(n):
                    self._serial(n, f"{n.alias}: {n.firmware} booted\n")
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self.period
                for n in self.boards:
                    if self._running(n):
                        self._serial(n, self._sensor_line(n))
                self._sniff()

    def _read(self, client: Any) -> None:
        try:
            data = client.sock.recv(4096)
        except OSError:
            data = b""
        if not data:
            self._drop(client)
            return
        if client.kind != "serial":
            return
        client.buffer += data
        *lines, client.buffer = client.buffer.split(b"\n")
        for line in lines:
            if self._running(client.node):
                answer = self._answer(client.node, line.decode(errors="replace"))
                if answer:
                    self._send(client, answer.encode())
