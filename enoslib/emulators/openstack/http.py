"""HTTP transport of the emulator: stdlib ``ThreadingHTTPServer`` on 127.0.0.1, JSON in and out.

Kept to the bare transport (the emulated API lives in :mod:`.app` and the service modules),
so that it can be swapped for the shared emulator kit's server.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .app import App


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every request on a kept-alive connection
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        host, port = self.server.server_address[:2]
        response = self.server.app.handle(self.command, self.path, dict(self.headers.items()), body,
                                          f"http://{host}:{port}")
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        if response.status != 204:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload) if response.status != 204 else 0))
        self.end_headers()
        if response.status != 204:
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        return  # requests carry tokens: never logged


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: App) -> None:
        super().__init__(address, _Handler)
        self.app = app


class HttpServer:
    """Serve ``app`` on ``host:port`` (0: a free port) in a background thread."""

    def __init__(self, app: App, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), app)
        self._thread = threading.Thread(target=self._server.serve_forever, name="openstack-emulator",
                                        kwargs={"poll_interval": 0.2}, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> "HttpServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
