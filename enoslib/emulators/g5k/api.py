"""Grid'5000 REST API handlers: (method, path, query, body, user) -> (status, JSON).

Pure logic over the emulator state; the socket side lives in :mod:`.server`.
Shapes follow the real API as python-grid5000 and EnOSlib consume them:
collections are ``{"total", "offset", "items", "links", "version"}``, errors
are ``{"code", "message", "title"}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..kit.http import MethodNotAllowed, Request, Response, Router, json_error
from .jobs import JobError
from .kadeploy import ENVIRONMENTS
from .network import routes as network_routes
from .reference import REF_VERSION
from .resources import ResourceError, format_walltime, parse_walltime
from .status import site_status

if TYPE_CHECKING:
    from .emulator import G5kEmulator

__all__ = ["Api", "ApiRequest", "ApiResponse"]

API_RELEASE = "3.11.13"


ApiRequest = Request
ApiResponse = Response


def error(status: int, message: str) -> ApiResponse:
    """Grid'5000's error body: ``{"code", "message", "title"}``."""
    return json_error(status, message)


class Api:
    """Routes requests to handlers; every handler runs under the emulator lock."""

    def __init__(self, emu: G5kEmulator) -> None:
        self.emu = emu
        s, n = r"(?P<site>[^/]+)", r"(?P<{}>[^/]+)"
        table: list[tuple[str, str, Callable[..., ApiResponse]]] = [
            ("GET", r"/?", self.root),
            ("GET", r"/versions", self.versions),
            ("GET", r"/versions/(?P<vid>[^/]+)", self.version),
            ("GET", rf"/sites/{s}/versions", self.versions),
            ("GET", r"/sites", self.sites),
            ("GET", rf"/sites/{s}", self.site),
            ("GET", rf"/sites/{s}/clusters", self.clusters),
            ("GET", rf"/sites/{s}/clusters/{n.format('cluster')}", self.cluster),
            ("GET", rf"/sites/{s}/clusters/{n.format('cluster')}/nodes", self.nodes),
            (
                "GET",
                rf"/sites/{s}/clusters/{n.format('cluster')}/nodes/{n.format('node')}",
                self.node,
            ),
            ("GET", rf"/sites/{s}/clusters/{n.format('cluster')}/status", self.status),
            ("GET", rf"/sites/{s}/status", self.status),
            ("GET", rf"/sites/{s}/servers", self.servers),
            ("GET", rf"/sites/{s}/servers/{n.format('server')}", self.server),
            ("GET", rf"/sites/{s}/environments", self.environments),
            ("GET", rf"/sites/{s}/environments/{n.format('env')}", self.environment),
            ("GET", rf"/sites/{s}/jobs", self.jobs),
            ("POST", rf"/sites/{s}/jobs", self.submit),
            ("GET", rf"/sites/{s}/jobs/(?P<job>\d+)", self.job),
            ("DELETE", rf"/sites/{s}/jobs/(?P<job>\d+)", self.delete_job),
            ("GET", rf"/sites/{s}/jobs/(?P<job>\d+)/walltime", self.walltime),
            ("POST", rf"/sites/{s}/jobs/(?P<job>\d+)/walltime", self.change_walltime),
            ("GET", rf"/sites/{s}/deployments", self.deployments),
            ("POST", rf"/sites/{s}/deployments", self.deploy),
            ("GET", rf"/sites/{s}/deployments/{n.format('dep')}", self.deployment),
            ("DELETE", rf"/sites/{s}/deployments/{n.format('dep')}", self.cancel_deployment),
            ("GET", rf"/sites/{s}/vlans", self.vlans),
            ("GET", rf"/sites/{s}/vlans/nodes", self.vlans_nodes),
            ("POST", rf"/sites/{s}/vlans/nodes", self.vlans_nodes_lookup),
            ("GET", rf"/sites/{s}/vlans/nodes/{n.format('name')}", self.vlans_node),
            ("GET", rf"/sites/{s}/vlans/users", self.vlans_users),
            ("GET", rf"/sites/{s}/vlans/users/{n.format('login')}", self.vlans_user),
            ("GET", rf"/sites/{s}/vlans/(?P<vlan>\d+)", self.vlan),
            ("GET", rf"/sites/{s}/vlans/(?P<vlan>\d+|DEFAULT)/nodes", self.vlan_nodes),
            ("POST", rf"/sites/{s}/vlans/(?P<vlan>\d+|DEFAULT)/nodes", self.vlan_set_nodes),
            # older clients PUT the same array; same semantics
            ("PUT", rf"/sites/{s}/vlans/(?P<vlan>\d+|DEFAULT)/nodes", self.vlan_set_nodes),
            ("GET", rf"/sites/{s}/vlans/(?P<vlan>\d+)/users", self.vlan_users),
            ("GET", rf"/sites/{s}/vlans/(?P<vlan>\d+)/users/{n.format('login')}", self.vlan_user),
            (
                "PUT",
                rf"/sites/{s}/vlans/(?P<vlan>\d+)/users/{n.format('login')}",
                self.vlan_user_add,
            ),
            (
                "DELETE",
                rf"/sites/{s}/vlans/(?P<vlan>\d+)/users/{n.format('login')}",
                self.vlan_user_del,
            ),
            ("PUT", rf"/sites/{s}/vlans/(?P<vlan>\d+)/dhcpd", self.dhcpd),
            (
                "GET",
                rf"/sites/{s}/storage/(?P<server>[^/]+)/(?P<name>[^/]+)/access",
                self.storage_list,
            ),
            (
                "POST",
                rf"/sites/{s}/storage/(?P<server>[^/]+)/(?P<name>[^/]+)/access",
                self.storage_create,
            ),
            (
                "DELETE",
                rf"/sites/{s}/storage/(?P<server>[^/]+)/(?P<name>[^/]+)/access/(?P<rule>[^/]+)",
                self.storage_delete,
            ),
            ("GET", rf"/sites/{s}/firewall/(?P<job>[^/]+)", self.firewall_list),
            ("POST", rf"/sites/{s}/firewall/(?P<job>[^/]+)", self.firewall_create),
            ("DELETE", rf"/sites/{s}/firewall/(?P<job>[^/]+)", self.firewall_delete),
            *network_routes(self),
        ]
        self.router = Router(error)
        for method, pattern, handler in table:
            self.router.add(method, pattern, handler)

    # ------------------------------------------------------------------ plumbing
    def handle(self, req: ApiRequest) -> ApiResponse:
        try:
            found = self.router.match(req.method, req.path)
        except MethodNotAllowed as exc:
            return error(
                405,
                f"Method {req.method} not allowed on {req.path} "
                f"(allowed: {', '.join(exc.allowed)})",
            )
        if found is None:
            return error(404, f"Cannot find resource {req.path}")
        handler, params = found
        if req.method != "GET" and req.user is None:
            return error(403, "Anonymous users cannot change anything: authenticate")
        if "site" in params and params["site"] not in self.emu.ref.sites:
            return error(404, f"Cannot find site {params['site']}")
        with self.emu.lock:
            self.emu._tick_locked()
            try:
                return handler(req, **params)
            except JobError as exc:
                return error(exc.status, exc.message)

    @property
    def prefix(self) -> str:
        return self.emu.prefix

    def link(self, path: str, rel: str = "self", kind: str = "item") -> dict[str, str]:
        return {
            "rel": rel,
            "href": f"{self.prefix}{path}",
            "type": f"application/vnd.grid5000.{kind}+json",
        }

    def collection(
        self,
        path: str,
        items: list[Any],
        req: ApiRequest | None = None,
        paginate: bool = False,
        default_limit: int = 50,
    ) -> ApiResponse:
        total, offset = len(items), 0
        if paginate and req is not None:
            try:
                offset = max(0, int(req.query.get("offset", 0)))
                limit = min(500, max(0, int(req.query.get("limit", default_limit))))
            except ValueError:
                raise JobError(400, "offset and limit must be integers") from None
            items = items[offset : offset + limit]
        return ApiResponse(
            200,
            {
                "total": total,
                "offset": offset,
                "items": items,
                "links": [self.link(path, kind="collection")],
                "version": REF_VERSION,
            },
        )

    def user(self, req: ApiRequest) -> str:
        return req.user or "anonymous"

    def now(self) -> float:
        return self.emu.clock.now()

    # ------------------------------------------------------------------ reference
    def root(self, req: ApiRequest) -> ApiResponse:
        if req.query.get("deep") in ("1", "true", "yes"):
            return ApiResponse(200, self.emu.ref.to_snapshot())
        return ApiResponse(
            200,
            {
                "uid": "grid5000",
                "type": "grid",
                "version": REF_VERSION,
                "release": API_RELEASE,
                "timestamp": int(self.now()),
                "links": [
                    self.link(""),
                    self.link("/sites", "sites", "collection"),
                    self.link("/versions", "versions", "collection"),
                ],
            },
        )

    def _version(self) -> dict[str, Any]:
        return {
            "uid": REF_VERSION,
            "type": "version",
            "date": "Mon, 01 Jan 2024 00:00:00 GMT",
            "message": "Reference data of the Grid'5000 emulator",
            "author": "g5k-emulator",
            "links": [self.link(f"/versions/{REF_VERSION}")],
        }

    def versions(self, req: ApiRequest, site: str | None = None) -> ApiResponse:
        return self.collection("/versions", [self._version()])

    def version(self, req: ApiRequest, vid: str) -> ApiResponse:
        if vid not in (REF_VERSION, "latest"):
            return error(404, f"Cannot find version {vid}")
        return ApiResponse(200, self._version())

    def sites(self, req: ApiRequest) -> ApiResponse:
        return self.collection("/sites", list(self.emu.ref.sites.values()))

    def site(self, req: ApiRequest, site: str) -> ApiResponse:
        return ApiResponse(200, self.emu.ref.sites[site])

    def clusters(self, req: ApiRequest, site: str) -> ApiResponse:
        # Like the real API: clusters outside admin/default (production ones) only
        # show up with ?queues=all or when their queue is named.
        wanted = req.query.get("queues", "admin,default")
        queues = None if wanted == "all" else set(wanted.split(","))
        items = [
            c
            for c in self.emu.ref.clusters[site].values()
            if queues is None or queues.intersection(c.get("queues", []))
        ]
        return self.collection(f"/sites/{site}/clusters", items)

    def _cluster(self, site: str, cluster: str) -> dict[str, Any]:
        found = self.emu.ref.clusters[site].get(cluster)
        if found is None:
            raise JobError(404, f"Cannot find cluster {cluster} on site {site}")
        return found

    def cluster(self, req: ApiRequest, site: str, cluster: str) -> ApiResponse:
        return ApiResponse(200, self._cluster(site, cluster))

    def nodes(self, req: ApiRequest, site: str, cluster: str) -> ApiResponse:
        self._cluster(site, cluster)
        return self.collection(
            f"/sites/{site}/clusters/{cluster}/nodes",
            list(self.emu.ref.nodes[site][cluster].values()),
        )

    def node(self, req: ApiRequest, site: str, cluster: str, node: str) -> ApiResponse:
        self._cluster(site, cluster)
        found = self.emu.ref.nodes[site][cluster].get(node)
        if found is None:
            return error(404, f"Cannot find node {node} in cluster {cluster}")
        return ApiResponse(200, found)

    def servers(self, req: ApiRequest, site: str) -> ApiResponse:
        return self.collection(f"/sites/{site}/servers", list(self.emu.ref.servers[site].values()))

    def server(self, req: ApiRequest, site: str, server: str) -> ApiResponse:
        found = self.emu.ref.servers[site].get(server)
        return ApiResponse(200, found) if found else error(404, f"Cannot find server {server}")

    def _env(self, site: str, name: str) -> dict[str, Any]:
        return {
            "uid": f"{name}_x86_64",
            "name": name,
            "alias": name,
            "arch": "x86_64",
            "version": 2024010100,
            "user": "deploy",
            "visibility": "public",
            "os": name.split("-")[0],
            "type": "environment",
            "links": [self.link(f"/sites/{site}/environments/{name}_x86_64")],
        }

    def environments(self, req: ApiRequest, site: str) -> ApiResponse:
        return self.collection(
            f"/sites/{site}/environments", [self._env(site, e) for e in ENVIRONMENTS]
        )

    def environment(self, req: ApiRequest, site: str, env: str) -> ApiResponse:
        name = env.removesuffix("_x86_64")
        return (
            ApiResponse(200, self._env(site, name))
            if name in ENVIRONMENTS
            else error(404, f"Cannot find environment {env}")
        )

    # ------------------------------------------------------------------ status
    def status(self, req: ApiRequest, site: str, cluster: str | None = None) -> ApiResponse:
        if cluster is not None:
            self._cluster(site, cluster)
        body = site_status(self.emu.ref, self.emu.scheduler, site, cluster, req.query, self.now())
        path = f"/sites/{site}" + (f"/clusters/{cluster}" if cluster else "") + "/status"
        body["links"] = [self.link(path)]
        return ApiResponse(200, body)

    # ------------------------------------------------------------------ jobs
    def _job(self, site: str, job: str):
        found = self.emu.scheduler.jobs.get(int(job))
        if found is None or found.site != site:
            raise JobError(404, f"Couldn't find job with id {job} on site {site}")
        return found

    def jobs(self, req: ApiRequest, site: str) -> ApiResponse:
        q = req.query
        states = q["state"].split(",") if q.get("state") else None
        found = self.emu.scheduler.list_jobs(
            site,
            user=q.get("user"),
            name=q.get("name"),
            project=q.get("project"),
            queue=q.get("queue"),
            states=states,
        )
        details = q.get("resources", "no") == "yes"
        return self.collection(
            f"/sites/{site}/jobs",
            [j.to_json(self.prefix, details) for j in found],
            req,
            paginate=True,
        )

    def job(self, req: ApiRequest, site: str, job: str) -> ApiResponse:
        return ApiResponse(200, self._job(site, job).to_json(self.prefix))

    def submit(self, req: ApiRequest, site: str) -> ApiResponse:
        if not isinstance(req.body, dict):
            return error(
                400, "The job you are trying to submit is not valid: a JSON object is expected"
            )
        job = self.emu.scheduler.submit(site, self.user(req), req.body, self.now())
        return ApiResponse(
            201,
            job.to_json(self.prefix),
            {"Location": f"{self.prefix}/sites/{site}/jobs/{job.uid}"},
        )

    def delete_job(self, req: ApiRequest, site: str, job: str) -> ApiResponse:
        found = self._job(site, job)
        self.emu.scheduler.delete(found, self.user(req), self.now())
        self.emu._tick_locked()
        return ApiResponse(
            202,
            None,
            {
                "Location": f"{self.prefix}/sites/{site}/jobs/{found.uid}",
                "X-Oar-Info": f"Deleting the job = {found.uid} ...REGISTERED.",
            },
        )

    def walltime(self, req: ApiRequest, site: str, job: str) -> ApiResponse:
        found = self._job(site, job)
        granted = found.walltime_granted
        return ApiResponse(
            200,
            {
                "uid": found.uid,
                "walltime": format_walltime(found.walltime),
                "possible": "UNLIMITED",
                "pending": "0:00:00",
                "granted": ("-" if granted < 0 else "+") + format_walltime(abs(granted)),
                "granted_with_force": "0:00:00",
                "granted_with_delay_next_jobs": "0:00:00",
                "granted_with_whole": "0:00:00",
                "force": "NO",
                "delay_next_jobs": "NO",
                "whole": "NO",
                "timeout": 0,
                "links": [self.link(f"/sites/{site}/jobs/{found.uid}/walltime")],
            },
        )

    def change_walltime(self, req: ApiRequest, site: str, job: str) -> ApiResponse:
        found = self._job(site, job)
        if found.user != self.user(req):
            return error(403, f"You are not the owner of job {found.uid}")
        if found.state not in ("running", "launching"):
            return error(400, f"Walltime change not possible: job {found.uid} is {found.state}")
        text = str((req.body or {}).get("walltime", "")) if isinstance(req.body, dict) else ""
        m = re.fullmatch(r"\s*([+-]?)(.*)", text)
        try:
            delta = parse_walltime(m.group(2)) if m else 0
        except ResourceError as exc:
            return error(400, str(exc))
        sign = m.group(1) if m else ""
        new = (
            found.walltime + delta
            if sign == "+"
            else found.walltime - delta
            if sign == "-"
            else delta
        )
        if not self.emu.scheduler.change_walltime(found, new, self.now()):
            return error(400, "Walltime change refused: the nodes are reserved afterwards")
        return ApiResponse(
            202,
            {
                "status": "Accepted",
                "message": f"walltime change to {text} granted",
                "uid": found.uid,
            },
        )

    # ------------------------------------------------------------------ deployments
    def deployments(self, req: ApiRequest, site: str) -> ApiResponse:
        q = req.query
        deps = self.emu.kadeploy.list(
            site,
            status=q.get("status"),
            user=q.get("user"),
            reverse=q.get("reverse") in ("true", "1", "yes"),
        )
        return self.collection(
            f"/sites/{site}/deployments", [d.to_json(self.prefix) for d in deps], req, paginate=True
        )

    def deploy(self, req: ApiRequest, site: str) -> ApiResponse:
        dep = self.emu.kadeploy.create(site, self.user(req), req.body, self.now())
        return ApiResponse(
            201,
            dep.to_json(self.prefix),
            {"Location": f"{self.prefix}/sites/{site}/deployments/{dep.uid}"},
        )

    def deployment(self, req: ApiRequest, site: str, dep: str) -> ApiResponse:
        return ApiResponse(200, self.emu.kadeploy.get(site, dep).to_json(self.prefix))

    def cancel_deployment(self, req: ApiRequest, site: str, dep: str) -> ApiResponse:
        found = self.emu.kadeploy.get(site, dep)
        self.emu.kadeploy.cancel(found, self.user(req), self.now())
        return ApiResponse(202, None, {"Location": f"{self.prefix}/sites/{site}/deployments/{dep}"})

    # ------------------------------------------------------------------ kavlan
    def vlans(self, req: ApiRequest, site: str) -> ApiResponse:
        kv = self.emu.kavlan
        return self.collection(
            f"/sites/{site}/vlans",
            [kv.vlan_json(site, v, self.prefix) for v in self.emu.scheduler.vlan_pool(site)],
        )

    def vlan(self, req: ApiRequest, site: str, vlan: str) -> ApiResponse:
        return ApiResponse(
            200,
            self.emu.kavlan.vlan_json(site, self.emu.kavlan.check_vlan(site, vlan), self.prefix),
        )

    def vlan_nodes(self, req: ApiRequest, site: str, vlan: str) -> ApiResponse:
        if vlan != "DEFAULT":
            self.emu.kavlan.check_vlan(site, vlan)
        return self.collection(
            f"/sites/{site}/vlans/{vlan}/nodes", self.emu.kavlan.nodes_in(site, vlan)
        )

    def _names(self, req: ApiRequest) -> list[Any]:
        if req.content_type.split(";")[0].strip().lower() != "application/json":
            raise JobError(415, "Content-Type must be application/json")
        if not isinstance(req.body, list) or not req.body:
            raise JobError(422, "Expected a non-empty JSON array of node names")
        return req.body

    def vlan_set_nodes(self, req: ApiRequest, site: str, vlan: str) -> ApiResponse:
        return ApiResponse(
            200, self.emu.kavlan.set_nodes(site, vlan, self.user(req), self._names(req))
        )

    def vlans_nodes(self, req: ApiRequest, site: str) -> ApiResponse:
        names = [r.fqdn for r in self.emu.ref.node_refs(site)]
        return self.collection(f"/sites/{site}/vlans/nodes", self.emu.kavlan.lookup(site, names))

    def vlans_nodes_lookup(self, req: ApiRequest, site: str) -> ApiResponse:
        return self.collection(
            f"/sites/{site}/vlans/nodes", self.emu.kavlan.lookup(site, self._names(req))
        )

    def vlans_node(self, req: ApiRequest, site: str, name: str) -> ApiResponse:
        found = self.emu.kavlan.lookup(site, [name.replace("%2F", "/")])
        return ApiResponse(200, found[0]) if found else error(404, f"Node {name} does not exist")

    def vlans_users(self, req: ApiRequest, site: str) -> ApiResponse:
        return self.collection(f"/sites/{site}/vlans/users", self.emu.kavlan.users(site))

    def vlans_user(self, req: ApiRequest, site: str, login: str) -> ApiResponse:
        found = [u for u in self.emu.kavlan.users(site) if u["uid"] == login]
        return ApiResponse(200, found[0] if found else {"uid": login, "vlans": []})

    def vlan_users(self, req: ApiRequest, site: str, vlan: str) -> ApiResponse:
        self.emu.kavlan.check_vlan(site, vlan)
        return self.collection(
            f"/sites/{site}/vlans/{vlan}/users",
            [{"uid": u} for u in sorted(self.emu.kavlan.owners(site, vlan))],
        )

    def vlan_user(self, req: ApiRequest, site: str, vlan: str, login: str) -> ApiResponse:
        self.emu.kavlan.check_vlan(site, vlan)
        ok = login in self.emu.kavlan.owners(site, vlan)
        return ApiResponse(200, {"uid": login, "status": "authorized" if ok else "unauthorized"})

    def vlan_user_add(self, req: ApiRequest, site: str, vlan: str, login: str) -> ApiResponse:
        self.emu.kavlan.set_user(site, vlan, self.user(req), login, True)
        return ApiResponse(204)

    def vlan_user_del(self, req: ApiRequest, site: str, vlan: str, login: str) -> ApiResponse:
        self.emu.kavlan.set_user(site, vlan, self.user(req), login, False)
        return ApiResponse(204)

    def dhcpd(self, req: ApiRequest, site: str, vlan: str) -> ApiResponse:
        if req.content_type.split(";")[0].strip().lower() != "application/json":
            return error(415, "Content-Type must be application/json")
        action = req.body.get("action") if isinstance(req.body, dict) else None
        self.emu.kavlan.set_dhcpd(site, vlan, self.user(req), action)
        return ApiResponse(204)

    # ------------------------------------------------------------------ firewall
    def firewall_list(self, req: ApiRequest, site: str, job: str) -> ApiResponse:
        return ApiResponse(200, self.emu.firewall.list(site, job, self.user(req)))

    def firewall_create(self, req: ApiRequest, site: str, job: str) -> ApiResponse:
        return ApiResponse(201, self.emu.firewall.create(site, job, self.user(req), req.body))

    def firewall_delete(self, req: ApiRequest, site: str, job: str) -> ApiResponse:
        self.emu.firewall.delete(site, job, self.user(req))
        return ApiResponse(204)

    # ------------------------------------------------------------------ storage
    def storage_list(self, req: ApiRequest, site: str, server: str, name: str) -> ApiResponse:
        return ApiResponse(200, self.emu.storage.list(site, server, name, self.now()))

    def storage_create(self, req: ApiRequest, site: str, server: str, name: str) -> ApiResponse:
        return ApiResponse(
            201, self.emu.storage.create(site, server, name, self.user(req), req.body)
        )

    def storage_delete(
        self, req: ApiRequest, site: str, server: str, name: str, rule: str
    ) -> ApiResponse:
        self.emu.storage.delete(site, server, name, self.user(req), rule)
        return ApiResponse(204)
