"""The HTTP side every emulator shares: a threaded server on 127.0.0.1, routing, auth, admin.

Pieces, each usable alone:

* :class:`Request` / :class:`Response` -- what handlers take and return;
  a response body is JSON-able (sent as ``application/json``), ``bytes`` or ``str``.
* :class:`Router` -- ``(method, pattern) -> handler``; patterns are regexes
  with ``{name}`` shorthands for one path segment (``/sites/{site}/jobs/(?P<job>\\d+)``),
  handlers are called as ``handler(request, **path_params)``.
* Authentication -- :class:`BasicAuth` (HTTP Basic against ``{login: password}``
  or a callable), :class:`TokenAuth` (a header such as Keystone's
  ``X-Auth-Token`` looked up by a callable), :class:`NoAuth`; or any object
  with ``authenticate(headers) -> user | None`` (raising :class:`AuthError`)
  and ``challenge() -> headers``.
* :class:`EmulatorServer` -- the ``ThreadingHTTPServer`` (keep-alive,
  ``TCP_NODELAY``) serving an API under a prefix with fault injection
  (:mod:`.faults`), plus the ``/_emulator`` admin endpoints, protected by their
  own secret (HTTP Basic, never an API user's) and never faulted:

  * ``GET|PUT|POST /_emulator/faults`` -- read / change fault knobs; ``DELETE`` clears them
  * ``GET|PUT|POST /_emulator/clock`` -- ``{"now", "speed"}``; a body
    ``{"advance": seconds}`` and/or ``{"speed": x}`` changes it
  * whatever the emulator adds with ``server.admin.add(method, pattern, handler)``;
    admin handlers get a :class:`Request` whose ``body`` is the decoded JSON
    (``{}`` when empty); ``ValueError``/``KeyError``/``TypeError`` answer 400.

Sketch::

    router = Router()
    router.add("GET", "/things/{name}", lambda req, name: Response(200, {"name": name}))
    server = EmulatorServer(router.dispatch, auth=BasicAuth({"alice": "pw"}),
                            clock=VirtualClock(speed=0), admin_password="s3cret").start()
    ...  # http://127.0.0.1:{server.port}/things/x
    server.stop()
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import secrets
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from .clock import VirtualClock
from .faults import FaultInjector

__all__ = [
    "ADMIN",
    "ADMIN_LOGIN",
    "AuthError",
    "Authenticator",
    "BasicAuth",
    "EmulatorServer",
    "MethodNotAllowed",
    "NoAuth",
    "Request",
    "Response",
    "Router",
    "TokenAuth",
    "basic_credentials",
    "call_admin",
    "json_error",
]

ADMIN = "/_emulator"
ADMIN_LOGIN = "emulator-admin"


@dataclass
class Request:
    """One API request as handlers see it."""

    method: str
    path: str  # after the API prefix, e.g. /sites/rennes
    query: dict[str, str]
    body: Any = None  # parsed JSON (or form dict), None when empty
    user: str | None = None  # who authenticated (None: anonymous)
    content_type: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    raw: bytes = b""
    # every value of repeated query parameters (``query`` keeps the last one)
    query_lists: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Response:
    """Status, body (JSON-able, ``bytes``, ``str`` or None) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def json_error(status: int, message: str) -> Response:
    """The default error body: ``{"code", "message", "title"}`` (Grid'5000's shape)."""
    return Response(status, {"code": status, "message": message, "title": HTTPStatus(status).phrase})


ErrorFactory = Callable[[int, str], Response]


# ---------------------------------------------------------------------- routing
_SHORTHAND = re.compile(r"\{([A-Za-z_]\w*)\}")


class MethodNotAllowed(Exception):
    """The path exists but not for that method; ``allowed`` lists the methods that do."""

    def __init__(self, allowed: list[str]) -> None:
        super().__init__(", ".join(allowed))
        self.allowed = allowed


class Router:
    """Routes ``(method, path)`` to handlers, first match wins; a trailing ``/`` is optional.

    Args:
        error: builds error responses (404/405) for :meth:`dispatch`.
    """

    def __init__(self, error: ErrorFactory = json_error) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., Any]]] = []
        self.error = error

    def add(self, method: str, pattern: str, handler: Callable[..., Any]) -> None:
        """Route ``method`` on paths fully matching ``pattern`` (``{name}``: one segment)."""
        regex = _SHORTHAND.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", pattern)
        self.routes.append((method.upper(), re.compile(regex + r"/?"), handler))

    def route(self, method: str, pattern: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :meth:`add`."""

        def deco(handler: Callable[..., Any]) -> Callable[..., Any]:
            self.add(method, pattern, handler)
            return handler

        return deco

    def match(self, method: str, path: str) -> tuple[Callable[..., Any], dict[str, str]] | None:
        """``(handler, params)``, None when no pattern matches; :class:`MethodNotAllowed`
        when patterns match for other methods only."""
        allowed = []
        for meth, pattern, handler in self.routes:
            m = pattern.fullmatch(path)
            if not m:
                continue
            if meth != method.upper():
                allowed.append(meth)
                continue
            return handler, m.groupdict()
        if allowed:
            raise MethodNotAllowed(sorted(set(allowed)))
        return None

    def dispatch(self, req: Request) -> Response:
        """Call the matching handler (a 404/405 error otherwise); usable as the server's handler."""
        try:
            found = self.match(req.method, req.path)
        except MethodNotAllowed as exc:
            return self.error(
                405,
                f"Method {req.method} not allowed on {req.path} (allowed: {', '.join(exc.allowed)})",
            )
        if found is None:
            return self.error(404, f"Cannot find resource {req.path}")
        handler, params = found
        out = handler(req, **params)
        return out if isinstance(out, Response) else Response(200, out)


# ---------------------------------------------------------------------- authentication
class AuthError(Exception):
    """Credentials were given but are wrong (answered 401 with the message)."""


class Authenticator(Protocol):
    """What :class:`EmulatorServer` needs to authenticate a request."""

    def authenticate(self, headers: Mapping[str, str]) -> str | None:
        """The user, None when the request carries no credentials; :class:`AuthError` if bad."""

    def challenge(self) -> dict[str, str]:
        """Headers added to every 401 answer (e.g. ``WWW-Authenticate``)."""


def basic_credentials(headers: Mapping[str, str]) -> tuple[str, str | None] | None:
    """``(login, password)`` of an HTTP Basic header; None without one; password None if bad."""
    header = headers.get("Authorization")
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


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class BasicAuth:
    """HTTP Basic against ``{login: password}`` (constant-time compare) or ``check(login, pw)``.

    The mapping is read at each request, so adding users later works.
    """

    def __init__(
        self,
        users: Mapping[str, str] | Callable[[str, str], bool],
        realm: str = "Emulated API",
    ) -> None:
        self.users = users
        self.realm = realm

    def authenticate(self, headers: Mapping[str, str]) -> str | None:
        given = basic_credentials(headers)
        if given is None:
            return None
        login, password = given
        if password is not None:
            if callable(self.users):
                if self.users(login, password):
                    return login
            else:
                expected = self.users.get(login)
                if expected is not None and _same(expected, password):
                    return login
        raise AuthError("Invalid credentials")

    def challenge(self) -> dict[str, str]:
        return {"WWW-Authenticate": f'Basic realm="{self.realm}"'}


class TokenAuth:
    """A token header (Keystone's ``X-Auth-Token``, a ``Bearer``...) mapped to a user.

    Args:
        lookup: ``token -> user`` (None: the token is unknown or expired).
        header: the header carrying the token.
        scheme: a prefix to strip (``"Bearer"`` for ``Authorization: Bearer ...``).
    """

    def __init__(
        self,
        lookup: Callable[[str], str | None],
        header: str = "X-Auth-Token",
        scheme: str | None = None,
    ) -> None:
        self.lookup = lookup
        self.header = header
        self.scheme = scheme

    def authenticate(self, headers: Mapping[str, str]) -> str | None:
        value = headers.get(self.header)
        if not value:
            return None
        if self.scheme:
            scheme, _, value = value.partition(" ")
            if scheme.lower() != self.scheme.lower():
                raise AuthError(f"{self.header} must use the {self.scheme} scheme")
        user = self.lookup(value.strip())
        if user is None:
            raise AuthError("The request you have made requires authentication.")
        return user

    def challenge(self) -> dict[str, str]:
        return {}


class NoAuth:
    """Everyone is anonymous (combine with ``allow_anonymous=True``)."""

    def authenticate(self, headers: Mapping[str, str]) -> str | None:
        return None

    def challenge(self) -> dict[str, str]:
        return {}


# ---------------------------------------------------------------------- the server
def _parse_body(raw: bytes, content_type: str, form_lists: frozenset[str], strict: bool) -> Any:
    if not raw.strip():
        return None
    if "application/x-www-form-urlencoded" in content_type:
        form = parse_qs(raw.decode(), keep_blank_values=True)
        return {k: (v if k in form_lists or len(v) > 1 else v[0]) for k, v in form.items()}
    if strict or "json" in content_type or not content_type:
        return json.loads(raw)
    return None  # another content type: the handler reads ``request.raw``


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as requests' sessions expect
    # headers and body go out in two writes: without TCP_NODELAY, Nagle plus the
    # client's delayed ACK add ~40 ms to every answer on a kept-alive connection
    disable_nagle_algorithm = True
    server: _Server

    @property
    def server_version(self) -> str:  # type: ignore[override]
        return self.server.owner.server_version

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.owner.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def _serve(self, method: str) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query_lists = parse_qs(parts.query, keep_blank_values=True)
        query = {k: v[-1] for k, v in query_lists.items()}
        if path == ADMIN or path.startswith(ADMIN + "/"):
            if not owner.is_admin(self.headers):
                self._send(owner.error(401, "The control endpoints need the control credentials"))
                return
            self._send(owner.admin_call(method, path[len(ADMIN) :], query, raw, self.headers))
            return
        prefix = owner.prefix
        if not (path == prefix or path.startswith(prefix + "/") or not prefix):
            self._send(
                owner.error(404, f"Cannot find resource {path} (the API lives under {prefix})")
            )
            return
        api_path = path[len(prefix) :] or "/"
        if owner.faults is not None:
            latency = owner.faults.latency_for(method, api_path)
            if latency > 0:
                time.sleep(latency)
            fault = owner.faults.http(method, api_path)
            if fault is not None and fault.kind == "reset":
                self._reset()
                return
            if fault is not None:
                text = (
                    owner.down_message if fault.kind == "down" else f"Injected fault: HTTP {fault.code}"
                )
                self._send(owner.error(fault.code, text))
                return
        try:
            user = owner.auth.authenticate(self.headers)
        except AuthError as exc:
            self._send(owner.error(401, str(exc)))
            return
        if user is None and not owner.allow_anonymous:
            self._send(owner.error(401, "Authentication required"))
            return
        content_type = self.headers.get("Content-Type", "")
        try:
            body = _parse_body(raw, content_type, owner.form_lists, owner.json_bodies)
        except ValueError as exc:
            self._send(owner.error(400, f"Malformed request body: {exc}"))
            return
        request = Request(
            method, api_path, query, body, user, content_type, self.headers, raw, query_lists
        )
        try:
            response = owner.handler(request)
        except Exception as exc:  # noqa: BLE001 - a bug of ours must still answer
            owner.errors.append(exc)
            response = owner.error(500, f"Emulator internal error: {type(exc).__name__}: {exc}")
        self._send(response)

    def _send(self, response: Response) -> None:
        body = response.body
        content_type = None
        if body is None:
            payload = b""
        elif isinstance(body, bytes):
            payload, content_type = body, "application/octet-stream"
        elif isinstance(body, str):
            payload, content_type = body.encode(), "text/plain; charset=utf-8"
        else:
            payload, content_type = json.dumps(body).encode(), "application/json"
        headers = dict(response.headers)
        if response.status == 401:
            for key, value in self.server.owner.auth.challenge().items():
                headers.setdefault(key, value)
        self.send_response(response.status)
        if content_type and not any(k.lower() == "content-type" for k in headers):
            self.send_header("Content-Type", content_type)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
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

    def __init__(self, owner: EmulatorServer, address: tuple[str, int]) -> None:
        self.owner = owner
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.owner.verbose:
            super().handle_error(request, client_address)


class EmulatorServer:
    """A testbed API on 127.0.0.1: prefix, auth, faults, admin endpoints, a serving thread.

    Args:
        handler: ``Request -> Response`` for every API request (e.g. ``Router.dispatch``).
        prefix: URL prefix of the API (``"/stable"``; ``""`` for none). Paths outside
            it answer 404; handlers see paths relative to it.
        auth: an authenticator (:class:`BasicAuth`, :class:`TokenAuth`, ...).
        allow_anonymous: pass requests without credentials to the handler (``user=None``).
        faults: a :class:`~.faults.FaultInjector` applied to API requests (None: never).
        clock: the :class:`~.clock.VirtualClock` shown by ``/_emulator/clock``.
        advance: called with seconds for ``{"advance": s}`` (default ``clock.advance``;
            an emulator passes its own to apply due transitions at once).
        admin_password / admin_login: the control secret (generated when omitted).
        error: builds error responses (the testbed's error body shape).
        form_lists: form fields always decoded as lists (others: a value, a list if repeated).
        json_bodies: decode every non-form body as JSON (bad JSON: 400); False decodes
            only JSON content types and leaves others to the handler (``request.raw``).
        down_message: the text of the 503 answered while the API is ``down``.
        host / port: loopback address to listen on; port 0 picks a free one.
        server_version: the ``Server`` header.
        verbose: log every request to stderr.
    """

    def __init__(
        self,
        handler: Callable[[Request], Response],
        *,
        prefix: str = "",
        auth: Authenticator | None = None,
        allow_anonymous: bool = False,
        faults: FaultInjector | None = None,
        clock: VirtualClock | None = None,
        advance: Callable[[float], Any] | None = None,
        admin_password: str | None = None,
        admin_login: str = ADMIN_LOGIN,
        error: ErrorFactory = json_error,
        form_lists: frozenset[str] | set[str] = frozenset(),
        json_bodies: bool = True,
        down_message: str = "The API is down for maintenance (emulated)",
        host: str = "127.0.0.1",
        port: int = 0,
        server_version: str = "emulator/1.0",
        verbose: bool = False,
    ) -> None:
        import ipaddress

        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"emulators only listen on loopback addresses, not {host}")
        self.handler = handler
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.auth: Authenticator = auth if auth is not None else NoAuth()
        self.allow_anonymous = allow_anonymous
        self.faults = faults
        self.clock = clock
        self._advance = advance
        self.admin_login = admin_login
        self.admin_password = admin_password or secrets.token_urlsafe(16)
        self.error = error
        self.form_lists = frozenset(form_lists)
        self.json_bodies = json_bodies
        self.down_message = down_message
        self.server_version = server_version
        self.verbose = verbose
        self.errors: list[Exception] = []  # unexpected handler exceptions (each answered 500)
        self.admin = Router(error)
        self._add_builtin_admin_routes()
        self._server = _Server(self, (host, port))
        self.host, self.port = self._server.server_address[:2]
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ urls
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """Base URL of the API, prefix included (no trailing slash)."""
        return self.base_url + self.prefix

    @property
    def admin_url(self) -> str:
        return self.base_url + ADMIN

    @property
    def admin_auth(self) -> tuple[str, str]:
        """``(login, password)`` of the control endpoints (``requests``' ``auth=``)."""
        return self.admin_login, self.admin_password

    # ------------------------------------------------------------------ life cycle
    def start(self) -> EmulatorServer:
        """Serve in a daemon thread (idempotent); returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                name="emulator-http",
                kwargs={"poll_interval": 0.1},
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    # ------------------------------------------------------------------ admin
    def is_admin(self, headers: Mapping[str, str]) -> bool:
        """Do these headers carry the control credentials?"""
        given = basic_credentials(headers)
        return (
            given is not None
            and given[0] == self.admin_login
            and given[1] is not None
            and _same(given[1], self.admin_password)
        )

    def admin_call(
        self, method: str, path: str, query: dict[str, str], raw: bytes, headers: Any = None
    ) -> Response:
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            return self.error(400, f"Malformed JSON: {exc}")
        req = Request(method, path, query, body, self.admin_login, "application/json", headers or {}, raw)
        try:
            found = self.admin.match(method, path)
        except MethodNotAllowed:
            return self.error(405, f"Method {method} not allowed on {ADMIN}{path}")
        if found is None:
            return self.error(404, f"Unknown admin resource {path}")
        handler, params = found
        try:
            out = handler(req, **params)
        except (ValueError, TypeError, KeyError) as exc:
            return self.error(400, str(exc))
        return out if isinstance(out, Response) else Response(200, out)

    def _add_builtin_admin_routes(self) -> None:
        def faults(req: Request) -> Any:
            if self.faults is None:
                raise ValueError("this emulator has no fault injection")
            if req.method in ("PUT", "POST"):
                if not isinstance(req.body, dict):
                    raise ValueError("fault knobs must be a JSON object")
                self.faults.update(**req.body)
            elif req.method == "DELETE":
                self.faults.reset()
            return self.faults.as_dict()

        def clock(req: Request) -> Any:
            if self.clock is None:
                raise ValueError("this emulator has no virtual clock")
            if req.method in ("PUT", "POST"):
                if "speed" in req.body:
                    self.clock.speed = float(req.body["speed"])
                if "advance" in req.body:
                    (self._advance or self.clock.advance)(float(req.body["advance"]))
            return {"now": self.clock.now(), "speed": self.clock.speed}

        for method in ("GET", "PUT", "POST", "DELETE"):
            self.admin.add(method, "/faults", faults)
        for method in ("GET", "PUT", "POST"):
            self.admin.add(method, "/clock", clock)


def call_admin(
    admin_url: str, auth: tuple[str, str], method: str, path: str, body: Any = None
) -> Any:
    """Call a control endpoint over HTTP as another process would (``curl -u``).

    Returns the decoded JSON answer; raises :class:`urllib.error.HTTPError` on an error status.
    """
    import urllib.request

    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    request = urllib.request.Request(
        admin_url.rstrip("/") + "/" + path.lstrip("/"),
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": "Basic " + token, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback only
        return json.loads(answer.read() or b"null")
