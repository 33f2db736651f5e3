"""Nova v2.1: flavors, keypairs, servers (BUILD -> ACTIVE | ERROR on the virtual clock),
server actions, server groups, limits; microversion headers echoed."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from .app import NOVA, Request, Response, Service, route
from .state import ApiError, iso, new_id, nova_error

MAX_MICROVERSION = "2.96"
NO_VALID_HOST = "No valid host was found. There are not enough hosts available."


def _not_found(what: str, ident: str) -> ApiError:
    return ApiError(404, nova_error(404, f"{what} {ident} could not be found."))


def _bad(message: str) -> ApiError:
    return ApiError(400, nova_error(400, message))


class Compute(Service):
    """The Nova API (``/compute/v2.1``)."""
    prefix = "/compute"
    error_body = NOVA

    def __init__(self, cloud: Any) -> None:
        super().__init__(cloud)
        cloud.on_tick(self._advance)

    def dispatch(self, req: Request) -> Response:
        if not req.path.startswith("/v2.1") and req.path != "/":
            raise ApiError(404, nova_error(404, "unknown API version"))
        req.path = req.path[len("/v2.1"):] or "/"
        response = super().dispatch(req)
        wanted = req.headers.get("openstack-api-version", "").replace("compute", "").strip()
        version = wanted or req.headers.get("x-openstack-nova-api-version") or "2.1"
        response.headers.setdefault("OpenStack-API-Version", f"compute {version}")
        response.headers.setdefault("X-OpenStack-Nova-API-Version", version)
        return response

    # -- discovery -----------------------------------------------------------------------------
    @route("GET", r"/")
    def version(self, req: Request) -> Response:
        return Response(200, {"version": {
            "id": "v2.1", "status": "CURRENT", "version": MAX_MICROVERSION, "min_version": "2.1",
            "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": f"{req.base_url}/compute/v2.1/"}]}})

    # -- flavors -------------------------------------------------------------------------------
    @route("GET", r"/flavors")
    @route("GET", r"/flavors/detail")
    def flavors(self, req: Request) -> Response:
        return Response(200, {"flavors": [self._flavor(f, req) for f in self.cloud.flavors.values()]})

    @route("GET", r"/flavors/(?P<fid>[^/]+)")
    def flavor(self, req: Request, fid: str) -> Response:
        f = self.cloud.flavors.get(fid)
        if f is None:
            raise _not_found("Flavor", fid)
        return Response(200, {"flavor": self._flavor(f, req)})

    def _flavor(self, f: dict[str, Any], req: Request) -> dict[str, Any]:
        return {"id": f["id"], "name": f["name"], "ram": f["ram"], "vcpus": f["vcpus"], "disk": f["disk"],
                "swap": 0, "OS-FLV-EXT-DATA:ephemeral": 0, "OS-FLV-DISABLED:disabled": False,
                "os-flavor-access:is_public": True, "rxtx_factor": 1.0, "description": None,
                "extra_specs": dict(f.get("extra_specs", {})),
                "links": [{"rel": "self", "href": f"{req.base_url}/compute/v2.1/flavors/{f['id']}"}]}

    # -- keypairs ------------------------------------------------------------------------------
    @route("GET", r"/os-keypairs")
    def keypairs(self, req: Request) -> Response:
        mine = [k for (user, _), k in self.cloud.keypairs.items() if user == req.user_id]
        return Response(200, {"keypairs": [{"keypair": _keypair(k)} for k in mine]})

    @route("GET", r"/os-keypairs/(?P<name>[^/]+)")
    def keypair(self, req: Request, name: str) -> Response:
        k = self.cloud.keypairs.get((req.user_id, name))
        if k is None:
            raise ApiError(404, nova_error(404, f"Keypair {name} not found for user {req.user_id}"))
        return Response(200, {"keypair": _keypair(k)})

    @route("POST", r"/os-keypairs")
    def create_keypair(self, req: Request) -> Response:
        body = (req.body or {}).get("keypair") or {}
        name, public_key = body.get("name"), body.get("public_key")
        if not name or not re.match(r"\A[A-Za-z0-9 _.@-]{1,255}\Z", name):
            raise _bad("Keypair data is invalid: Keypair name contains unsafe characters")
        if not public_key:
            raise _bad("generating keypairs is not supported by the emulator: give public_key")
        if (req.user_id, name) in self.cloud.keypairs:
            raise ApiError(409, nova_error(409, f"Key pair '{name}' already exists."))
        if sum(u == req.user_id for u, _ in self.cloud.keypairs) >= self.cloud.quotas.key_pairs:
            raise ApiError(403, nova_error(403, "Quota exceeded, too many key pairs."))
        digest = hashlib.md5(public_key.encode(), usedforsecurity=False).hexdigest()
        k = {"name": name, "public_key": public_key, "type": body.get("type", "ssh"), "user_id": req.user_id,
             "fingerprint": ":".join(digest[i:i + 2] for i in range(0, 32, 2)), "created_at": iso(self.cloud.now())}
        self.cloud.keypairs[(req.user_id, name)] = k
        return Response(201, {"keypair": _keypair(k)})

    @route("DELETE", r"/os-keypairs/(?P<name>[^/]+)")
    def delete_keypair(self, req: Request, name: str) -> Response:
        if self.cloud.keypairs.pop((req.user_id, name), None) is None:
            raise ApiError(404, nova_error(404, f"Keypair {name} not found for user {req.user_id}"))
        return Response(202)

    # -- servers -------------------------------------------------------------------------------
    @route("GET", r"/servers")
    @route("GET", r"/servers/detail")
    def servers(self, req: Request) -> Response:
        detail = req.path.rstrip("/").endswith("/detail")
        found = [s for s in self.cloud.servers.values() if s["tenant_id"] == req.project_id]
        name = req.q("name")
        if name:
            try:
                pattern = re.compile(name)
            except re.error:
                raise _bad(f"Invalid regular expression {name!r}") from None
            found = [s for s in found if pattern.search(s["name"])]
        status = req.q("status")
        if status:
            found = [s for s in found if s["status"] == status.upper()]
        if detail:
            return Response(200, {"servers": [self._server(s, req) for s in found]})
        return Response(200, {"servers": [{"id": s["id"], "name": s["name"], "links": _links(req, s)} for s in found]})

    @route("GET", r"/servers/(?P<sid>[^/]+)")
    def server(self, req: Request, sid: str) -> Response:
        return Response(200, {"server": self._server(self._own(req, sid), req)})

    @route("POST", r"/servers")
    def create_server(self, req: Request) -> Response:
        cloud = self.cloud
        body = (req.body or {}).get("server") or {}
        hints = (req.body or {}).get("OS-SCH-HNT:scheduler_hints") or {}
        name = body.get("name")
        if not name:
            raise _bad("Invalid input for field/attribute server. Value: name is a required property")
        flavor = cloud.flavors.get(str(body.get("flavorRef", "")).rsplit("/", 1)[-1])
        if flavor is None:
            raise _bad(f"Flavor {body.get('flavorRef')} could not be found.")
        image_id = str(body.get("imageRef", "")).rsplit("/", 1)[-1]
        if image_id not in cloud.images:
            raise _bad(f"Image {body.get('imageRef')} could not be found.")
        key_name = body.get("key_name")
        if key_name and (req.user_id, key_name) not in cloud.keypairs:
            raise _bad("Invalid key_name provided.")
        requested = body.get("networks") or []
        if requested in ("auto", "none"):
            requested = []
        nets = []
        for item in requested:
            net = cloud.networks.get(item.get("uuid", ""))
            if net is None or not (net["shared"] or net["project_id"] == req.project_id):
                raise _bad(f"Network {item.get('uuid')} could not be found.")
            nets.append((net, item.get("fixed_ip")))
        if not nets:
            shared = [n for n in cloud.networks.values()
                      if n["project_id"] == req.project_id and not n["router:external"]]
            if len(shared) != 1:
                raise ApiError(409, nova_error(409, "Multiple possible networks found, use a Network ID to be "
                                                    "more specific." if shared else "No networks available"))
            nets = [(shared[0], None)]
        groups = []
        for g in body.get("security_groups") or [{"name": "default"}]:
            sg = next((x for x in cloud.security_groups.values() if x["name"] == g.get("name")
                       and x["project_id"] == req.project_id), None)
            if sg is None and g.get("name") != "default":
                raise _bad(f"Security group {g.get('name')} not found for project {req.project_id}.")
            if sg is not None:
                groups.append(sg["id"])
        group_hint = hints.get("group")
        if group_hint and group_hint not in cloud.server_groups:
            raise _bad(f"Invalid server group {group_hint}")
        cloud.check_quota(req.project_id, "instances")
        cloud.check_quota(req.project_id, "cores", flavor["vcpus"])
        cloud.check_quota(req.project_id, "ram", flavor["ram"])
        now = cloud.now()
        server = {
            "id": new_id(), "name": name, "status": "BUILD", "tenant_id": req.project_id, "user_id": req.user_id,
            "flavor_id": flavor["id"], "image_id": image_id, "key_name": key_name,
            "metadata": {str(k): str(v) for k, v in (body.get("metadata") or {}).items()},
            "created": now, "updated": now, "ready_at": now + cloud.faults.boot_time,
            "hints": dict(hints), "fault": None, "security_groups": groups, "host": None,
            "fail": cloud.faults.boot_error(), "node": None,
        }
        network = self._network_service()
        for net, fixed in nets:
            network.make_port(net, req.project_id, device_id=server["id"], device_owner="compute:nova",
                              fixed_ip=fixed, security_groups=groups)
        cloud.servers[server["id"]] = server
        if group_hint:
            cloud.server_groups[group_hint]["members"].append(server["id"])
        return Response(202, {"server": {"id": server["id"], "links": _links(req, server),
                                         "OS-DCF:diskConfig": "MANUAL", "adminPass": new_id()[:12],
                                         "security_groups": [{"name": cloud.security_groups[g]["name"]} for g in groups]}})

    @route("DELETE", r"/servers/(?P<sid>[^/]+)")
    def delete_server(self, req: Request, sid: str) -> Response:
        server = self._own(req, sid)
        if self.cloud.faults.conflict():
            raise ApiError(409, nova_error(409, f"Cannot 'delete' instance {sid} while it is in task_state "
                                                "deleting"))
        self.remove(server)
        return Response(204)

    @route("POST", r"/servers/(?P<sid>[^/]+)/action")
    def action(self, req: Request, sid: str) -> Response:
        server = self._own(req, sid)
        body = req.body or {}
        if "os-stop" in body:
            self._require(server, "ACTIVE", "stop")
            server["status"] = "SHUTOFF"
        elif "os-start" in body:
            self._require(server, "SHUTOFF", "start")
            server["status"] = "ACTIVE"
        elif "reboot" in body:
            self._require(server, "ACTIVE", "reboot")
        elif "rebuild" in body:
            server["status"], server["ready_at"] = "REBUILD", self.cloud.now() + self.cloud.faults.boot_time
        else:
            raise _bad(f"unsupported action {sorted(body)}")
        server["updated"] = self.cloud.now()
        return Response(202)

    def _require(self, server: dict[str, Any], status: str, action: str) -> None:
        if server["status"] != status:
            raise ApiError(409, nova_error(409, f"Cannot '{action}' instance {server['id']} while it is in "
                                                f"vm_state {server['status'].lower()}"))

    # -- server groups and limits ----------------------------------------------------------------
    @route("GET", r"/os-server-groups")
    def server_groups(self, req: Request) -> Response:
        return Response(200, {"server_groups": [g for g in self.cloud.server_groups.values()
                                                if g["project_id"] == req.project_id]})

    @route("POST", r"/os-server-groups")
    def create_server_group(self, req: Request) -> Response:
        body = (req.body or {}).get("server_group") or {}
        policy = body.get("policy") or (body.get("policies") or ["anti-affinity"])[0]
        if policy not in ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"):
            raise _bad(f"Invalid policy {policy}")
        g = {"id": new_id(), "name": body.get("name", ""), "policy": policy, "policies": [policy],
             "members": [], "metadata": {}, "project_id": req.project_id, "user_id": req.user_id, "rules": {}}
        self.cloud.server_groups[g["id"]] = g
        return Response(200, {"server_group": g})

    @route("GET", r"/os-server-groups/(?P<gid>[^/]+)")
    def server_group(self, req: Request, gid: str) -> Response:
        g = self.cloud.server_groups.get(gid)
        if g is None or g["project_id"] != req.project_id:
            raise _not_found("Server group", gid)
        return Response(200, {"server_group": g})

    @route("DELETE", r"/os-server-groups/(?P<gid>[^/]+)")
    def delete_server_group(self, req: Request, gid: str) -> Response:
        if self.cloud.server_groups.pop(gid, None) is None:
            raise _not_found("Server group", gid)
        return Response(204)

    @route("GET", r"/limits")
    def limits(self, req: Request) -> Response:
        q, used = self.cloud.quotas, self.cloud.usage(req.project_id)
        return Response(200, {"limits": {"rate": [], "absolute": {
            "maxTotalInstances": q.instances, "maxTotalCores": q.cores, "maxTotalRAMSize": q.ram,
            "maxTotalKeypairs": q.key_pairs, "totalInstancesUsed": used["instances"],
            "totalCoresUsed": used["cores"], "totalRAMUsed": used["ram"]}}})

    # -- state ---------------------------------------------------------------------------------
    def _own(self, req: Request, sid: str) -> dict[str, Any]:
        server = self.cloud.servers.get(sid)
        if server is None or server["tenant_id"] != req.project_id:
            raise _not_found("Instance", sid)
        return server

    def _network_service(self) -> Any:
        return self.cloud.services["network"]

    def remove(self, server: dict[str, Any]) -> None:
        """Delete a server now: its node, its ports (floating IPs stay, disassociated)."""
        cloud = self.cloud
        cloud.servers.pop(server["id"], None)
        if server.get("node") and cloud.backend is not None:
            cloud.backend.down(server)
        self._network_service().drop_ports(device_id=server["id"])
        for g in cloud.server_groups.values():
            if server["id"] in g["members"]:
                g["members"].remove(server["id"])

    def _advance(self) -> None:
        """BUILD -> ACTIVE (or ERROR) for every server whose boot time has come."""
        cloud = self.cloud
        now = cloud.now()
        for server in list(cloud.servers.values()):
            if server["status"] not in ("BUILD", "REBUILD") or server["ready_at"] > now:
                continue
            server["updated"] = now
            reason = NO_VALID_HOST if server["fail"] else cloud.services["reservation"].place(server) \
                if "reservation" in cloud.services else None
            if reason is None and cloud.flavors[server["flavor_id"]].get("baremetal") \
                    and "reservation" not in cloud.services:
                reason = NO_VALID_HOST
            if reason is None and cloud.backend is not None:
                reason = cloud.backend.up(server, self._network_service().addresses_of(server["id"]))
            if reason:
                server["status"], server["fault"] = "ERROR", {"code": 500, "message": reason, "created": iso(now)}
            else:
                server["status"] = "ACTIVE"

    def _server(self, s: dict[str, Any], req: Request) -> dict[str, Any]:
        cloud = self.cloud
        flavor = cloud.flavors.get(s["flavor_id"], {})
        status = s["status"]
        out = {
            "id": s["id"], "name": s["name"], "status": status, "tenant_id": s["tenant_id"],
            "user_id": s["user_id"], "metadata": dict(s["metadata"]), "key_name": s["key_name"],
            "created": iso(s["created"]), "updated": iso(s["updated"]), "hostId": "",
            "addresses": self._network_service().addresses_of(s["id"]),
            "image": {"id": s["image_id"]},
            "flavor": {"original_name": flavor.get("name"), "vcpus": flavor.get("vcpus"), "ram": flavor.get("ram"),
                       "disk": flavor.get("disk"), "ephemeral": 0, "swap": 0, "extra_specs": {}},
            "OS-EXT-STS:vm_state": {"BUILD": "building", "REBUILD": "active", "SHUTOFF": "stopped"}.get(
                status, status.lower()),
            "OS-EXT-STS:task_state": "spawning" if status == "BUILD" else None,
            "OS-EXT-STS:power_state": 1 if status == "ACTIVE" else 0,
            "OS-EXT-AZ:availability_zone": "nova", "config_drive": "", "progress": 0,
            "security_groups": [{"name": cloud.security_groups[g]["name"]} for g in s["security_groups"]
                                if g in cloud.security_groups],
            "locked": False, "tags": [], "description": None, "host_status": None,
            "links": _links(req, s),
        }
        if s.get("fault"):
            out["fault"] = s["fault"]
        return out


def _keypair(k: dict[str, Any]) -> dict[str, Any]:
    return {key: k[key] for key in ("name", "public_key", "fingerprint", "type", "user_id", "created_at")}


def _links(req: Request, s: dict[str, Any]) -> list[dict[str, str]]:
    return [{"rel": "self", "href": f"{req.base_url}/compute/v2.1/servers/{s['id']}"}]
