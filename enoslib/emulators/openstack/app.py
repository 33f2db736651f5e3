"""Requests to the emulated services: routing, token check, faults, call counting.

A :class:`Request` goes to the service owning its first path segment (``/identity``,
``/compute``, ``/network``, ``/image``, ``/reservation``); each service declares its routes
with :func:`route`. The transport (an HTTP server) only turns HTTP into :class:`Request` and
:class:`Response` back (see :mod:`.http`).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qs

from .state import ApiError, Cloud, blazar_error, keystone_error, neutron_error, nova_error

_ID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")


@dataclass
class Request:
    """One API request, as the services see it."""

    method: str
    path: str                      # below the service prefix, e.g. "/servers/detail"
    query: dict[str, list[str]]
    headers: dict[str, str]        # lower-case names
    body: Any
    base_url: str                  # "http://127.0.0.1:PORT"
    auth: dict[str, Any] = field(default_factory=dict)   # the token's user and project

    def q(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    @property
    def project_id(self) -> str:
        return self.auth.get("project_id", "")

    @property
    def user_id(self) -> str:
        return self.auth.get("user_id", "")


@dataclass
class Response:
    """An answer: status, JSON-able body, extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[..., Response]


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Declare a handler for ``method`` on ``pattern`` (a regex with named groups, matched
    against the whole path below the service prefix)."""
    def deco(fn: Handler) -> Handler:
        fn.__dict__.setdefault("_routes", []).append((method, re.compile(pattern + r"/?\Z")))
        return fn
    return deco


class Service:
    """One API of the cloud; subclasses set ``prefix`` and declare routes."""

    prefix = ""
    needs_token = True
    error_body: Callable[[int, str], dict[str, Any]] = staticmethod(lambda s, m: nova_error(s, m))

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        for name in dir(type(self)):
            fn = getattr(self, name)
            for method, pattern in getattr(fn, "_routes", ()):
                self.routes.append((method, pattern, fn))
        # literal paths win over patterns ("/flavors/detail" before "/flavors/{id}")
        self.routes.sort(key=lambda r: r[1].pattern.count("(?P<"))

    def dispatch(self, req: Request) -> Response:
        allowed = False
        for method, pattern, fn in self.routes:
            m = pattern.match(req.path)
            if m:
                allowed = True
                if method == req.method:
                    return fn(req, **m.groupdict())
        if allowed:
            raise ApiError(405, self.error_body(405, f"method {req.method} not allowed"))
        raise ApiError(404, self.error_body(404, f"no resource at {req.path}"))


class App:
    """The whole cloud behind one base URL."""

    def __init__(self, cloud: Cloud, services: list[Service]) -> None:
        self.cloud = cloud
        self.services = {s.prefix: s for s in services}

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes, base_url: str) -> Response:
        path, _, qs = raw_path.partition("?")
        first = "/" + path.strip("/").split("/", 1)[0]
        service = self.services.get(first)
        if service is None:
            return Response(404, {"error": {"code": 404, "message": f"no service at {first}"}})
        rest = path[len(first):] or "/"
        lower = {k.lower(): v for k, v in headers.items()}
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            return Response(400, service.error_body(400, "malformed JSON request body"))
        req = Request(method, rest if rest == "/" else rest.rstrip("/") or "/", parse_qs(qs, keep_blank_values=True),
                      lower, payload, base_url)
        cloud = self.cloud
        faults = cloud.faults
        with cloud.lock:
            cloud.calls[f"{method} {first}{_ID.sub('{id}', rest)}"] += 1
        if faults.latency:
            time.sleep(faults.latency)
        try:
            if service.needs_token and not (first == "/identity" and method == "GET"):
                token = cloud.tokens.get(lower.get("x-auth-token", ""))
                if token is None or token["expires"] < cloud.now():
                    raise ApiError(401, keystone_error(401, "Unauthorized", "The request you have made requires "
                                                       "authentication."))
                req.auth = token
            if first != "/identity" and faults.hit(faults.error_rate):
                status = faults.rng.choice((500, 503))
                raise ApiError(status, service.error_body(status, "injected fault: service unavailable"))
            cloud.tick()
            with cloud.lock:
                response = service.dispatch(req)
            if method == "POST" and first != "/identity" and faults.hit(faults.lost_answer_rate):
                raise ApiError(502, service.error_body(502, "injected fault: the answer was lost"))
            return response
        except ApiError as err:
            return Response(err.status, err.body, err.headers)


# error shapes per service (used by the service classes)
NOVA = staticmethod(lambda s, m: nova_error(s, m))
NEUTRON = staticmethod(lambda s, m: neutron_error({404: "HTTPNotFound", 409: "Conflict"}.get(s, "HTTPError"), m))
KEYSTONE = staticmethod(lambda s, m: keystone_error(s, "Error", m))
BLAZAR = staticmethod(lambda s, m: blazar_error(s, m))
