"""HTTP side: a ``ThreadingHTTPServer`` on 127.0.0.1 serving the API under a prefix.

Per request: read the body, check HTTP Basic credentials (401 otherwise),
apply fault injection (latency, TCP resets, 5xx, API down), route to
:class:`~.api.Api`, answer JSON with ``Content-Type: application/json``.

Admin endpoints (outside the prefix, never faulted) accept only the control
credentials (:attr:`G5kEmulator.admin_auth`), never an API user's:

* ``GET|PUT /_emulator/faults`` -- read / change fault knobs (JSON object);
  ``DELETE`` clears them all
* ``GET|POST /_emulator/clock`` -- ``{"now", "speed"}``; POST
  ``{"advance": seconds}`` and/or ``{"speed": x}``
* ``PUT /_emulator/nodes/<fqdn>`` -- ``{"hard": "dead"|"alive"|..., "comment": ""}``
* ``POST /_emulator/jobs/<uid>/error`` -- send that job to ``error`` now
* ``GET /_emulator/ssh_config`` -- ssh_config text for the running nodes
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from .api import Api, ApiRequest, ApiResponse, error

if TYPE_CHECKING:
    from .emulator import G5kEmulator

__all__ = ["ApiServer"]

ADMIN = "/_emulator"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as requests' sessions expect
    # headers and body go out in two writes: without TCP_NODELAY, Nagle plus the
    # client's delayed ACK add ~40 ms to every answer on a kept-alive connection
    disable_nagle_algorithm = True
    server_version = "g5k-emulator/1.0"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    # one entry point for every method
    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        emu = self.server.emu
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if path == ADMIN or path.startswith(ADMIN + "/"):
            if not self._is_admin():
                self._send(error(401, "The control endpoints need the control credentials"))
                return
            self._send(self.server.admin(method, path[len(ADMIN) :], raw))
            return
        prefix = emu.prefix
        if not (path == prefix or path.startswith(prefix + "/")):
            self._send(error(404, f"Cannot find resource {path} (the API lives under {prefix})"))
            return
        api_path = path[len(prefix) :] or "/"
        latency = emu.faults.latency
        if latency > 0:
            time.sleep(latency)
        fault = emu.faults.http(method, api_path)
        if fault is not None and fault.kind == "reset":
            self._reset()
            return
        if fault is not None:
            text = (
                "The Grid'5000 API is down for maintenance (emulated)"
                if fault.kind == "down"
                else f"Injected fault: HTTP {fault.code}"
            )
            self._send(error(fault.code, text))
            return
        user, auth_error = self._authenticate()
        if auth_error:
            self._send(auth_error)
            return
        if user is None and not emu.allow_anonymous:
            self._send(error(401, "Authentication required"))
            return
        content_type = self.headers.get("Content-Type", "")
        try:
            body = self._parse_body(raw, content_type)
        except ValueError as exc:
            self._send(error(400, f"Malformed request body: {exc}"))
            return
        request = ApiRequest(method, api_path, query, body, user, content_type)
        try:
            response = self.server.api.handle(request)
        except Exception as exc:  # noqa: BLE001 - a bug of ours must still answer, as JSON
            self.server.errors.append(exc)
            response = error(500, f"Emulator internal error: {type(exc).__name__}: {exc}")
        self._send(response)

    def _basic_credentials(self) -> tuple[str, str | None] | None:
        """``(login, password)`` of the Basic header; None without one; password None if bad."""
        header = self.headers.get("Authorization")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            return "", None
        try:
            login, _, password = base64.b64decode(token.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return "", None
        return login, password

    def _authenticate(self) -> tuple[str | None, ApiResponse | None]:
        given = self._basic_credentials()
        if given is None:
            return None, None
        login, password = given
        expected = self.server.emu.users.get(login)
        if (
            password is None
            or expected is None
            or not hmac.compare_digest(expected.encode(), password.encode())
        ):
            return None, error(401, "Invalid credentials")
        return login, None

    def _is_admin(self) -> bool:
        given = self._basic_credentials()
        login, secret = self.server.emu.admin_auth
        return (
            given is not None
            and given[0] == login
            and given[1] is not None
            and hmac.compare_digest(given[1].encode(), secret.encode())
        )

    @staticmethod
    def _parse_body(raw: bytes, content_type: str) -> Any:
        if not raw.strip():
            return None
        if "application/x-www-form-urlencoded" in content_type:
            form = parse_qs(raw.decode(), keep_blank_values=True)
            return {k: (v if k == "types" or len(v) > 1 else v[0]) for k, v in form.items()}
        return json.loads(raw)

    def _send(self, response: ApiResponse) -> None:
        payload = b""
        if response.body is not None:
            payload = json.dumps(response.body).encode()
        self.send_response(response.status)
        if response.body is not None:
            self.send_header("Content-Type", "application/json")
        if response.status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="Grid5000 API (emulated)"')
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _reset(self) -> None:
        # SO_LINGER(on, 0) makes close() send a RST: the client sees "connection reset"
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, emu: G5kEmulator, address: tuple[str, int], verbose: bool) -> None:
        self.emu = emu
        self.api = Api(emu)
        self.verbose = verbose
        self.errors: list[Exception] = []
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.verbose:
            super().handle_error(request, client_address)

    def admin(self, method: str, path: str, raw: bytes) -> ApiResponse:
        emu = self.emu
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            return error(400, f"Malformed JSON: {exc}")
        try:
            if path in ("/faults", "/faults/"):
                if method == "GET":
                    return ApiResponse(200, emu.faults.as_dict())
                if method in ("PUT", "POST"):
                    emu.faults.update(**body)
                    return ApiResponse(200, emu.faults.as_dict())
                if method == "DELETE":
                    emu.faults.reset()
                    return ApiResponse(200, emu.faults.as_dict())
            elif path in ("/clock", "/clock/"):
                if method in ("PUT", "POST"):
                    if "speed" in body:
                        emu.clock.speed = float(body["speed"])
                    if "advance" in body:
                        emu.advance(float(body["advance"]))
                if method in ("GET", "PUT", "POST"):
                    return ApiResponse(200, {"now": emu.clock.now(), "speed": emu.clock.speed})
            elif path.startswith("/nodes/") and method == "PUT":
                emu.set_node_state(
                    path[len("/nodes/") :], body.get("hard", "alive"), body.get("comment", "")
                )
                return ApiResponse(200, {"node": path[len("/nodes/") :], **body})
            elif path.startswith("/jobs/") and path.endswith("/error") and method == "POST":
                uid = path[len("/jobs/") : -len("/error")]
                emu.fail_job(int(uid), body.get("message", "Job sent to error by the emulator"))
                return ApiResponse(200, {"uid": int(uid), "state": "error"})
            elif path in ("/ssh_config", "/ssh_config/") and method == "GET":
                return ApiResponse(200, {"ssh_config": emu.ssh_config()})
            else:
                return error(404, f"Unknown admin resource {path}")
        except (ValueError, TypeError, KeyError) as exc:
            return error(400, str(exc))
        return error(405, f"Method {method} not allowed on {ADMIN}{path}")


class ApiServer:
    """Owns the listening socket and the serving thread."""

    def __init__(
        self, emu: G5kEmulator, host: str = "127.0.0.1", port: int = 0, verbose: bool = False
    ) -> None:
        self._server = _Server(emu, (host, port), verbose)
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            name="g5k-emulator-http",
            kwargs={"poll_interval": 0.1},
            daemon=True,
        )

    @property
    def errors(self) -> list[Exception]:
        """Unexpected exceptions raised by handlers (each was answered with a 500)."""
        return self._server.errors

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
