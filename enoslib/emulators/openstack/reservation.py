"""Blazar v1: leases of bare-metal hosts (``physical:host``), scheduled on the virtual clock.

A lease asks, per reservation, ``min``..``max`` hosts matching ``resource_properties`` (e.g.
``["=", "$node_type", "compute_haswell"]``) from ``start_date`` ("now" or
``YYYY-MM-DD HH:MM``) to ``end_date``. Creating it allocates free hosts at once, or refuses
(409, not enough hosts). Its status follows the clock: PENDING before the start, ACTIVE
(or ERROR, fault injection) during, TERMINATED after, when the servers booted on it go away.
Nova places a server with the scheduler hint ``reservation`` on a host of that reservation
(NoValidHost when the lease is not ACTIVE or its hosts are all taken).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from .app import BLAZAR, Request, Response, Service, route
from .state import ApiError, blazar_error, iso, new_id

DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")


def parse_date(text: str) -> float:
    """A Blazar date (``YYYY-MM-DD HH:MM`` and ISO forms, UTC) as epoch seconds."""
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            continue
    raise ApiError(400, blazar_error(400, f"Invalid date {text!r}: expected YYYY-MM-DD HH:MM"))


def _bad(message: str) -> ApiError:
    return ApiError(400, blazar_error(400, message))


def host_filter(properties: str) -> Any:
    """A predicate on host dicts from Blazar's JSON filter (``["=", "$node_type", "x"]``,
    ``["and", f1, f2]``; empty: every host)."""
    if not properties:
        return lambda host: True
    try:
        expr = json.loads(properties)
    except ValueError:
        raise _bad(f"Invalid resource_properties {properties!r}") from None

    def build(e: Any) -> Any:
        if not isinstance(e, list) or not e:
            raise _bad(f"Invalid resource_properties {properties!r}")
        op = e[0]
        if op in ("and", "or"):
            parts = [build(x) for x in e[1:]]
            return (lambda h: all(p(h) for p in parts)) if op == "and" else (lambda h: any(p(h) for p in parts))
        if op in ("=", "==", "!=") and len(e) == 3 and isinstance(e[1], str) and e[1].startswith("$"):
            key, value = e[1][1:], e[2]
            return (lambda h: str(h.get(key)) == str(value)) if op != "!=" else (lambda h: str(h.get(key)) != str(value))
        raise _bad(f"Unsupported resource_properties operator {op!r}")
    return build(expr)


class Reservation(Service):
    """The Blazar v1 API (``/reservation/v1``)."""
    prefix = "/reservation"
    error_body = BLAZAR

    def __init__(self, cloud: Any) -> None:
        super().__init__(cloud)
        cloud.on_tick(self._advance)

    def dispatch(self, req: Request) -> Response:
        if not req.path.startswith("/v1"):
            raise ApiError(404, blazar_error(404, "unknown API version"))
        req.path = req.path[len("/v1"):] or "/"
        return super().dispatch(req)

    # -- hosts ---------------------------------------------------------------------------------
    @route("GET", r"/os-hosts")
    def hosts(self, req: Request) -> Response:
        return Response(200, {"hosts": [dict(h) for h in self.cloud.hosts.values()]})

    @route("GET", r"/os-hosts/allocations")
    def allocations(self, req: Request) -> Response:
        return Response(200, {"allocations": [self._allocation(h) for h in self.cloud.hosts.values()]})

    @route("GET", r"/os-hosts/(?P<hid>[^/]+)/allocation")
    def allocation(self, req: Request, hid: str) -> Response:
        host = self.cloud.hosts.get(hid)
        if host is None:
            raise ApiError(404, blazar_error(404, f"Object with {{'host_id': '{hid}'}} not found"))
        return Response(200, {"allocation": self._allocation(host)})

    @route("GET", r"/os-hosts/(?P<hid>[^/]+)")
    def host(self, req: Request, hid: str) -> Response:
        host = self.cloud.hosts.get(hid)
        if host is None:
            raise ApiError(404, blazar_error(404, f"Object with {{'host_id': '{hid}'}} not found"))
        return Response(200, {"host": dict(host)})

    def _allocation(self, host: dict[str, Any]) -> dict[str, Any]:
        out = []
        for lease in self.cloud.leases.values():
            for r in lease["reservations"]:
                if host["id"] in r["hosts"]:
                    out.append({"id": r["id"], "lease_id": lease["id"], "start_date": iso(lease["start"], True),
                                "end_date": iso(lease["end"], True)})
        return {"resource_id": host["id"], "reservations": out}

    # -- leases --------------------------------------------------------------------------------
    @route("GET", r"/leases")
    def leases(self, req: Request) -> Response:
        return Response(200, {"leases": [self._view(le) for le in self.cloud.leases.values()
                                         if le["project_id"] == req.project_id]})

    @route("GET", r"/leases/(?P<lid>[^/]+)")
    def lease(self, req: Request, lid: str) -> Response:
        return Response(200, {"lease": self._view(self._own(req, lid))})

    @route("POST", r"/leases")
    def create(self, req: Request) -> Response:
        cloud = self.cloud
        body = req.body or {}
        name = body.get("name")
        if not name:
            raise _bad("name is required")
        if any(le["name"] == name and le["project_id"] == req.project_id for le in cloud.leases.values()):
            raise ApiError(409, blazar_error(409, f"The lease with name: {name} already exists"))
        now = cloud.now()
        start_text = body.get("start_date") or "now"
        start = now if start_text == "now" else parse_date(start_text)
        if start_text != "now" and start < now - 60:  # minute granularity: the current minute is fine
            raise _bad("Start date must be later than current date")
        end = parse_date(body.get("end_date") or "")
        if end <= start:
            raise _bad("End date must be later than start date.")
        reservations = body.get("reservations") or []
        if not reservations:
            raise _bad("A lease needs at least one reservation")
        lease_id = new_id()
        made = []
        taken: set[str] = set()
        for r in reservations:
            if r.get("resource_type") != "physical:host":
                raise _bad(f"Unsupported resource type {r.get('resource_type')!r}")
            try:
                low, high = int(r.get("min", 1)), int(r.get("max", r.get("min", 1)))
            except (TypeError, ValueError):
                raise _bad("min and max must be integers") from None
            if low < 1 or high < low:
                raise _bad(f"Invalid min {low} / max {high}")
            match = host_filter(r.get("resource_properties") or "")
            hyper = host_filter(r.get("hypervisor_properties") or "")
            free = [h["id"] for h in cloud.hosts.values()
                    if h["id"] not in taken and match(h) and hyper(h) and self._free(h["id"], start, end)]
            if len(free) < low:
                raise ApiError(409, blazar_error(409, "Not enough hosts available"))
            hosts = free[:high]
            taken.update(hosts)
            made.append({"id": new_id(), "lease_id": lease_id, "resource_type": "physical:host", "min": low,
                         "max": high, "resource_properties": r.get("resource_properties") or "",
                         "hypervisor_properties": r.get("hypervisor_properties") or "", "hosts": hosts,
                         "resource_id": new_id(), "created_at": iso(now, True), "updated_at": None})
        lease = {"id": lease_id, "name": name, "start": start, "end": end, "project_id": req.project_id,
                 "user_id": req.user_id, "reservations": made, "created": now, "status": "PENDING",
                 "fail": cloud.faults.lease_error(), "degraded": False}
        cloud.leases[lease_id] = lease
        self._advance()
        return Response(201, {"lease": self._view(lease)})

    @route("PUT", r"/leases/(?P<lid>[^/]+)")
    def update(self, req: Request, lid: str) -> Response:
        lease = self._own(req, lid)
        body = req.body or {}
        if body.get("name"):
            lease["name"] = body["name"]
        if body.get("end_date"):
            end = parse_date(body["end_date"])
            for r in lease["reservations"]:
                for h in r["hosts"]:
                    if not self._free(h, lease["end"], end, ignore=lease["id"]):
                        raise ApiError(409, blazar_error(409, "Not enough hosts available"))
            lease["end"] = end
        return Response(200, {"lease": self._view(lease)})

    @route("DELETE", r"/leases/(?P<lid>[^/]+)")
    def delete(self, req: Request, lid: str) -> Response:
        lease = self._own(req, lid)
        if self.cloud.faults.conflict():
            raise ApiError(409, blazar_error(409, f"Lease {lid} is being updated, try again"))
        self._terminate(lease)
        self.cloud.leases.pop(lid)
        return Response(204)

    # -- scheduling ----------------------------------------------------------------------------
    def _own(self, req: Request, lid: str) -> dict[str, Any]:
        lease = self.cloud.leases.get(lid)
        if lease is None or lease["project_id"] != req.project_id:
            raise ApiError(404, blazar_error(404, f"Object with {{'lease_id': '{lid}'}} not found"))
        return lease

    def _free(self, host_id: str, start: float, end: float, ignore: str | None = None) -> bool:
        for lease in self.cloud.leases.values():
            if lease["id"] == ignore or lease["status"] in ("TERMINATED", "ERROR"):
                continue
            if lease["start"] < end and start < lease["end"] and any(host_id in r["hosts"]
                                                                     for r in lease["reservations"]):
                return False
        return True

    def busy(self) -> list[tuple[str, float, float]]:
        """(host id, start, end) of every live allocation."""
        return [(h, le["start"], le["end"]) for le in self.cloud.leases.values()
                if le["status"] not in ("TERMINATED", "ERROR") for r in le["reservations"] for h in r["hosts"]]

    def _advance(self) -> None:
        now = self.cloud.now()
        for lease in self.cloud.leases.values():
            if lease["status"] == "PENDING" and lease["start"] <= now:
                lease["status"] = "ERROR" if lease["fail"] else "ACTIVE"
            if lease["status"] in ("ACTIVE", "PENDING") and lease["end"] <= now:
                lease["status"] = "TERMINATED"
                self._terminate(lease)

    def _terminate(self, lease: dict[str, Any]) -> None:
        """End of a lease: the servers booted on its reservations are deleted."""
        ids = {r["id"] for r in lease["reservations"]}
        compute = self.cloud.services["compute"]
        for server in list(self.cloud.servers.values()):
            if server["hints"].get("reservation") in ids:
                compute.remove(server)

    def place(self, server: dict[str, Any]) -> str | None:
        """Why the server cannot be placed on its reservation (None: placed)."""
        flavor = self.cloud.flavors.get(server["flavor_id"], {})
        wanted = server["hints"].get("reservation")
        if not wanted:
            return "No valid host was found. A bare-metal flavor needs a reservation." if flavor.get("baremetal") \
                else None
        for lease in self.cloud.leases.values():
            for r in lease["reservations"]:
                if r["id"] != wanted:
                    continue
                if lease["status"] != "ACTIVE":
                    return f"No valid host was found. Reservation {wanted} is not active."
                used = {s["host"] for s in self.cloud.servers.values() if s is not server and s["host"]}
                free = [h for h in r["hosts"] if h not in used]
                if not free:
                    return "No valid host was found. There are not enough hosts available."
                server["host"] = free[0]
                return None
        return f"No valid host was found. Reservation {wanted} not found."

    def _view(self, lease: dict[str, Any]) -> dict[str, Any]:
        status = lease["status"]
        return {
            "id": lease["id"], "name": lease["name"], "status": status, "degraded": lease["degraded"],
            "start_date": iso(lease["start"], True), "end_date": iso(lease["end"], True),
            "user_id": lease["user_id"], "project_id": lease["project_id"], "trust_id": new_id(),
            "created_at": iso(lease["created"], True), "updated_at": None,
            "reservations": [{k: v for k, v in r.items() if k != "hosts"} | {
                "status": {"PENDING": "pending", "ACTIVE": "active", "TERMINATED": "deleted",
                           "ERROR": "error"}.get(status, "pending"),
                "missing_resources": False, "resources_changed": False} for r in lease["reservations"]],
            "events": [{"id": new_id(), "event_type": t, "time": iso(at, True),
                        "status": "DONE" if at <= self.cloud.now() else "UNDONE"}
                       for t, at in (("start_lease", lease["start"]), ("end_lease", lease["end"]))],
        }
