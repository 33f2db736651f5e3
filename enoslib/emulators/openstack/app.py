"""Requests to the emulated services: routing to the service, token check, own faults, call counting.

Served by the shared emulator kit's :class:`~enoslib.emulators.kit.EmulatorServer` (HTTP,
``X-Auth-Token`` lookup, the generic faults and the ``/_emulator`` admin endpoints): a request
goes to the service owning its first path segment (``/identity``, ``/compute``, ``/network``,
``/image``, ``/reservation``), whose routes are declared with :func:`route` and matched by a
kit :class:`~enoslib.emulators.kit.Router`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from enoslib.emulators.kit import Request as KitRequest
from enoslib.emulators.kit import Response, Router

from .faults import OpenstackFaults
from .state import ApiError, Cloud, blazar_error, keystone_error, neutron_error, nova_error

__all__ = ["App", "Request", "Response", "Service", "route"]

_ID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")


@dataclass
class Request(KitRequest):
    """A kit request as the services see it: path below the service prefix, plus the
    server's base URL (for links and the catalog) and the token's user and project."""

    base_url: str = ""
    auth: dict[str, Any] = field(default_factory=dict)

    def q(self, name: str, default: str | None = None) -> str | None:
        return self.query.get(name, default)

    @property
    def project_id(self) -> str:
        return self.auth.get("project_id", "")

    @property
    def user_id(self) -> str:
        return self.auth.get("user_id", "")


Handler = Callable[..., Response]


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Declare a handler for ``method`` on ``pattern`` (a kit :class:`Router` pattern,
    matched against the whole path below the service prefix)."""
    def deco(fn: Handler) -> Handler:
        fn.__dict__.setdefault("_routes", []).append((method, pattern))
        return fn
    return deco


class Service:
    """One API of the cloud; subclasses set ``prefix`` and declare routes."""

    prefix = ""
    needs_token = True
    error_body: Callable[[int, str], dict[str, Any]] = staticmethod(lambda s, m: nova_error(s, m))

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        routes = [(method, pattern, getattr(self, name)) for name in dir(type(self))
                  for method, pattern in getattr(getattr(self, name), "_routes", ())]
        # literal paths win over patterns ("/flavors/detail" before "/flavors/{id}")
        routes.sort(key=lambda r: r[1].count("(?P<"))
        self.router = Router(error=lambda status, message: Response(status, self.error_body(status, message)))
        for method, pattern, fn in routes:
            self.router.add(method, pattern, fn)

    def dispatch(self, req: Request) -> Response:
        return self.router.dispatch(req)


class App:
    """The whole cloud behind one base URL: the handler of the kit's server."""

    def __init__(self, cloud: Cloud, services: list[Service], faults: OpenstackFaults) -> None:
        self.cloud = cloud
        self.faults = faults
        self.services = {s.prefix: s for s in services}
        self.base_url = ""   # set once the server listens

    def handle(self, kit_req: KitRequest) -> Response:
        path = kit_req.path
        first = "/" + path.strip("/").split("/", 1)[0]
        service = self.services.get(first)
        if service is None:
            return Response(404, keystone_error(404, "Not Found", f"no service at {first}"))
        rest = path[len(first):].rstrip("/") or "/"
        req = Request(**{f.name: getattr(kit_req, f.name) for f in dataclasses.fields(KitRequest)},
                      base_url=self.base_url)
        req.path = rest
        cloud = self.cloud
        with cloud.lock:
            cloud.calls[f"{req.method} {first}{_ID.sub('{id}', rest)}"] += 1
        try:
            if service.needs_token:
                token = cloud.tokens.get(req.user or "")
                if token is None:
                    raise ApiError(401, keystone_error(401, "Unauthorized", "The request you have made requires "
                                                       "authentication."))
                req.auth = token
            cloud.tick()
            with cloud.lock:
                response = service.dispatch(req)
            if req.method == "POST" and first != "/identity" and self.faults.take("lost_answer_next",
                                                                                  "lost_answer_rate"):
                raise ApiError(502, service.error_body(502, "injected fault: the answer was lost"))
            return response
        except ApiError as err:
            return Response(err.status, err.body, err.headers)

    def token_user(self, token: str) -> str | None:
        """The kit's ``TokenAuth`` lookup: the token itself while it is valid."""
        found = self.cloud.tokens.get(token)
        return token if found is not None and found["expires"] >= self.cloud.now() else None

    @staticmethod
    def error(status: int, message: str) -> Response:
        """Errors the kit answers itself (bad token, injected faults, API down): Keystone's shape."""
        from http import HTTPStatus

        return Response(status, keystone_error(status, HTTPStatus(status).phrase, message))


# error shapes per service (used by the service classes)
NOVA = staticmethod(lambda s, m: nova_error(s, m))
NEUTRON = staticmethod(lambda s, m: neutron_error({404: "HTTPNotFound", 409: "Conflict"}.get(s, "HTTPError"), m))
KEYSTONE = staticmethod(lambda s, m: keystone_error(s, "Error", m))
BLAZAR = staticmethod(lambda s, m: blazar_error(s, m))
