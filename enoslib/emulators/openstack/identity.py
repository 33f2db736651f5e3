"""Keystone v3: version discovery, tokens (password and application credential), catalog."""

from __future__ import annotations

import secrets
from typing import Any

from .app import KEYSTONE, Request, Response, Service, route
from .state import ApiError, iso, keystone_error, new_id

#: service type -> (name, path below the base URL) of the catalog
CATALOG = {
    "identity": ("keystone", "/identity"),
    "compute": ("nova", "/compute/v2.1"),
    "image": ("glance", "/image"),
    "network": ("neutron", "/network"),
    "reservation": ("blazar", "/reservation/v1"),
}
TOKEN_LIFETIME = 24 * 3600.0


def _version(base: str) -> dict[str, Any]:
    return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{base}/identity/v3/"}],
            "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]}


def _unauthorized(message: str = "The request you have made requires authentication.") -> ApiError:
    return ApiError(401, keystone_error(401, "Unauthorized", message))


class Identity(Service):
    """The Keystone v3 API (``/identity``)."""
    prefix = "/identity"
    needs_token = False
    error_body = KEYSTONE

    def __init__(self, cloud: Any, services: tuple[str, ...] = tuple(CATALOG)) -> None:
        super().__init__(cloud)
        self.catalog_services = services

    @route("GET", r"/")
    def versions(self, req: Request) -> Response:
        return Response(300, {"versions": {"values": [_version(req.base_url)]}})

    @route("GET", r"/v3")
    def version(self, req: Request) -> Response:
        return Response(200, {"version": _version(req.base_url)})

    @route("POST", r"/v3/auth/tokens")
    def issue(self, req: Request) -> Response:
        auth = (req.body or {}).get("auth") or {}
        identity = auth.get("identity") or {}
        methods = identity.get("methods") or []
        cloud = self.cloud
        if "password" in methods:
            u = (identity.get("password") or {}).get("user") or {}
            user = self._user(u)
            if user is None or not secrets.compare_digest(str(u.get("password", "")), user["password"]):
                raise _unauthorized("The request you have made requires authentication.")
            project = self._scope(auth.get("scope"), user)
        elif "application_credential" in methods:
            a = identity.get("application_credential") or {}
            cred = cloud.app_credentials.get(a.get("id", "")) or next(
                (c for c in cloud.app_credentials.values() if c["name"] == a.get("name")), None)
            if cred is None or not secrets.compare_digest(str(a.get("secret", "")), cred["secret"]):
                raise _unauthorized("Invalid application credential.")
            user = cloud.users[cred["user_id"]]
            project = cloud.projects[cred["project_id"]]
        elif "token" in methods:
            old = cloud.tokens.get(((identity.get("token") or {}).get("id")) or "")
            if old is None:
                raise _unauthorized()
            user, project = cloud.users[old["user_id"]], cloud.projects[old["project_id"]]
        else:
            raise ApiError(400, keystone_error(400, "Bad Request", f"unsupported auth methods {methods}"))
        token = secrets.token_hex(16)
        now = cloud.now()
        cloud.tokens[token] = {"user_id": user["id"], "project_id": project["id"], "expires": now + TOKEN_LIFETIME}
        domain = cloud.domains[user["domain_id"]]
        body = {"token": {
            "methods": methods[:1], "expires_at": iso(now + TOKEN_LIFETIME), "issued_at": iso(now),
            "user": {"id": user["id"], "name": user["name"], "domain": domain},
            "project": {"id": project["id"], "name": project["name"], "domain": cloud.domains[project["domain_id"]]},
            "roles": [{"id": "member", "name": "member"}, {"id": "reader", "name": "reader"}],
            "catalog": self._catalog(req.base_url),
        }}
        return Response(201, body, {"X-Subject-Token": token})

    @route("GET", r"/v3/auth/tokens")
    def validate(self, req: Request) -> Response:
        token = self.cloud.tokens.get(req.headers.get("x-subject-token", ""))
        if token is None:
            raise ApiError(404, keystone_error(404, "Not Found", "Could not find token."))
        return Response(200, {"token": {"expires_at": iso(token["expires"]), "user": {"id": token["user_id"]},
                                        "project": {"id": token["project_id"]}}})

    def _user(self, u: dict[str, Any]) -> dict[str, Any] | None:
        users = self.cloud.users
        if u.get("id"):
            return users.get(u["id"])
        domain = (u.get("domain") or {})
        domain_id = domain.get("id") or next((d["id"] for d in self.cloud.domains.values()
                                              if d["name"] == domain.get("name", "Default")), None)
        return next((x for x in users.values() if x["name"] == u.get("name") and x["domain_id"] == domain_id), None)

    def _scope(self, scope: dict[str, Any] | None, user: dict[str, Any]) -> dict[str, Any]:
        p = (scope or {}).get("project") or {}
        project = self.cloud.projects.get(p.get("id", "")) or next(
            (x for x in self.cloud.projects.values() if x["name"] == p.get("name")), None) if p else \
            self.cloud.projects[user["project_id"]]
        if project is None or project["id"] != user["project_id"]:
            raise _unauthorized("User has no access to project")
        return project

    def _catalog(self, base: str) -> list[dict[str, Any]]:
        out = []
        for kind in self.catalog_services:
            name, path = CATALOG[kind]
            out.append({"type": kind, "name": name, "id": new_id(), "endpoints": [
                {"id": new_id(), "interface": iface, "region": self.cloud.region, "region_id": self.cloud.region,
                 "url": base + path} for iface in ("public", "internal")]})
        return out
