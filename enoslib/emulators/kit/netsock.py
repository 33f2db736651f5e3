"""Sockets inside the network namespace of an emulated host, and a TCP relay out of it.

* :func:`listen_in_netns` -- listening sockets bound inside a namespace (a short-lived thread
  enters it; the sockets stay there).
* :class:`TcpRelay` -- accepts on such sockets and forwards every connection to an address of
  this machine (e.g. an emulator's loopback port): a service "running on" the emulated host.
"""

from __future__ import annotations

import ctypes
import os
import selectors
import socket
import threading

__all__ = ["CLONE_NEWNET", "TcpRelay", "listen_in_netns"]

CLONE_NEWNET = 0x40000000


def listen_in_netns(netns: str | None, addresses: list[tuple[str, int]]) -> list[socket.socket]:
    """Listening sockets bound inside network namespace ``netns``: a name (``/run/netns/<name>``),
    an absolute path (``/proc/<pid>/ns/net``), or None (this one). Non-blocking sockets."""
    out: list[socket.socket] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            if netns is not None:
                libc = ctypes.CDLL(None, use_errno=True)
                fd = os.open(netns if netns.startswith("/") else f"/run/netns/{netns}", os.O_RDONLY)
                try:
                    if libc.setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), f"setns into {netns} failed")
                finally:
                    os.close(fd)
            for host, port in addresses:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((host, port))
                s.listen(64)
                s.setblocking(False)
                out.append(s)
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            errors.append(exc)
            for s in out:
                s.close()

    thread = threading.Thread(target=work, name=f"netns-{netns}")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return out


class TcpRelay:
    """Forward every connection accepted on ``listeners`` to ``target`` (host, port) of this
    machine, until :meth:`close`. One thread accepts; two small threads pump each connection."""

    def __init__(self, listeners: list[socket.socket], target: tuple[str, int], name: str = "relay") -> None:
        self.listeners, self.target, self.name = listeners, target, name
        self._sel = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> TcpRelay:
        for s in self.listeners:
            self._sel.register(s, selectors.EVENT_READ)
        self._sel.register(self._wake_r, selectors.EVENT_READ)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._sel.select(timeout=1.0):
                if key.fileobj is self._wake_r:
                    return
                try:
                    client, _ = key.fileobj.accept()  # type: ignore[union-attr]
                except OSError:
                    continue
                client.setblocking(True)
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                    upstream.settimeout(None)
                except OSError:
                    client.close()
                    continue
                with self._lock:
                    self._conns |= {client, upstream}
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            with self._lock:
                for s in (src, dst):
                    if s in self._conns:
                        self._conns.discard(s)
                        s.close()

    def close(self) -> None:
        """Stop accepting, cut the connections, close the listening sockets (idempotent)."""
        if self._stop.is_set():
            return
        self._stop.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for s in [*conns, *self.listeners, self._wake_r, self._wake_w]:
            try:
                s.close()
            except OSError:
                pass
        self._sel.close()
