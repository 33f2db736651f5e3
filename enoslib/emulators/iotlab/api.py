"""The IoT-LAB REST API routes ``iotlabcli`` uses, on the shared kit's :class:`Router`.

Every answer that succeeds is a 200 (``iotlabcli`` treats anything else, 201 included, as an
error) or a 204; errors carry IoT-LAB's body ``{"code": N, "message": "..."}``. Paths are
relative to the ``/api`` prefix.
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import tarfile
import time
from typing import TYPE_CHECKING, Any

from ..kit import Request, Response, Router
from .experiments import ACTIVE, ApiError, COMMANDS

if TYPE_CHECKING:
    from .emulator import IotlabEmulator


def error(status: int, message: str) -> Response:
    """An IoT-LAB style error answer: ``{"code", "message"}`` with that status."""
    return Response(status, {"code": status, "message": message})


def multipart(req: Request) -> dict[str, bytes]:
    """The parts of a multipart/form-data body, by name."""
    if not req.content_type.startswith("multipart/"):
        raise ApiError(400, f"expected a multipart/form-data body, got {req.content_type or 'none'}")
    head = f"Content-Type: {req.content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + req.raw)
    parts: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition") or part.get_filename()
        if name:
            parts[str(name)] = part.get_payload(decode=True) or b""
    return parts


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ApiError(400, f"{what} is not JSON: {exc}") from None


def _body_json(req: Request) -> Any:
    if req.body is not None:
        return req.body
    return _json(req.raw, "the body") if req.raw.strip() else None


def _node_list(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, "expected a JSON list of node names")
    return value


def build_router(emu: IotlabEmulator) -> Router:
    """Every route, bound to ``emu`` (its scheduler and testbed)."""
    router = Router(error)
    sched, testbed = emu.scheduler, emu.testbed

    def guard(handler: Any) -> Any:
        def wrapped(req: Request, **params: str) -> Any:
            try:
                return handler(req, **params)
            except ApiError as exc:
                return error(exc.code, exc.message)
        return wrapped

    def route(method: str, pattern: str) -> Any:
        def deco(handler: Any) -> Any:
            router.add(method, pattern, guard(handler))
            return handler
        return deco

    # -- account, sites, nodes -------------------------------------------------------------
    @route("GET", "/user")
    def user(req: Request) -> Any:
        return {"login": req.user, "email": f"{req.user}@example.org", "groups": []}

    @route("GET", "/user/keys")
    def keys(req: Request) -> Any:
        return {"sshkeys": emu.ssh_keys.get(req.user or "", [])}

    @route("POST", "/user/keys")
    def set_keys(req: Request) -> Any:
        body = _body_json(req) or {}
        emu.ssh_keys[req.user or ""] = list(body.get("sshkeys", []))
        return Response(204)

    @route("GET", "/sites")
    def sites(req: Request) -> Any:
        return {"items": [{"site": s, "archis": sorted({n.archi for n in nodes})}
                          for s, nodes in testbed.sites.items()]}

    @route("GET", "/sites/details")
    def sites_details(req: Request) -> Any:
        return {"items": [{"site": s, "archis": [{"archi": a, "states": _states(
            [n for n in nodes if n.archi == a])} for a in sorted({n.archi for n in nodes})]}
            for s, nodes in testbed.sites.items()]}

    def _states(nodes: list[Any]) -> list[str]:
        return sorted({n.to_api(n.network_address in sched.busy_nodes())["state"] for n in nodes})

    def node_items(req: Request) -> list[dict[str, Any]]:
        sched.tick()
        busy = sched.busy_nodes()
        q = req.query
        items = [n.to_api(n.network_address in busy) for n in testbed.nodes(site=q.get("site"), archi=q.get("archi"))]
        if q.get("state"):
            items = [i for i in items if i["state"] == q["state"]]
        return items

    @route("GET", "/nodes")
    def nodes(req: Request) -> Any:
        return {"items": node_items(req)}

    @route("GET", "/nodes/ids")
    def node_ids(req: Request) -> Any:
        return {"items": [{"network_address": i["network_address"]} for i in node_items(req)]}

    # -- experiments -------------------------------------------------------------------------
    @route("GET", "/experiments")
    def experiments(req: Request) -> Any:
        states = [s for s in (req.query.get("state") or "").split(",") if s]
        items = [e.summary() for e in sched.list(req.user, states)]
        offset, limit = int(req.query.get("offset") or 0), int(req.query.get("limit") or 0)
        items = items[offset:offset + limit] if limit else items[offset:]
        return {"items": items, "total": len(items)}

    @route("GET", "/experiments/running")
    def running(req: Request) -> Any:
        return {"items": [e.summary() for e in sched.list(None, ["Running"])]}

    @route("POST", "/experiments")
    def submit(req: Request) -> Any:
        parts = multipart(req)
        if "new_exp.json" not in parts:
            raise ApiError(400, "the submission has no new_exp.json part")
        desc = _json(parts.pop("new_exp.json"), "new_exp.json")
        exp = sched.submit(req.user or "", desc, parts)
        return {"id": exp.id}

    @route("GET", r"/experiments/(?P<exp_id>\d+)")
    def experiment(req: Request, exp_id: str) -> Any:
        return sched.get(req.user or "", int(exp_id)).full()

    @route("GET", r"/experiments/(?P<exp_id>\d+)/nodes")
    def experiment_nodes(req: Request, exp_id: str) -> Any:
        exp = sched.get(req.user or "", int(exp_id))
        busy = sched.busy_nodes()
        return {"items": [testbed.by_address[n].to_api(n in busy) for n in exp.nodes]}

    @route("GET", r"/experiments/(?P<exp_id>\d+)/nodes_ids")
    def experiment_node_ids(req: Request, exp_id: str) -> Any:
        exp = sched.get(req.user or "", int(exp_id))
        return {"items": [{"network_address": n} for n in exp.nodes]}

    @route("GET", r"/experiments/(?P<exp_id>\d+)/deployment")
    def deployment(req: Request, exp_id: str) -> Any:
        return sched.get(req.user or "", int(exp_id)).deployment or {}

    @route("GET", r"/experiments/(?P<exp_id>\d+)/data")
    def data(req: Request, exp_id: str) -> Any:
        exp = sched.get(req.user or "", int(exp_id))
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            files = {f"{exp.id}.json": json.dumps(exp.description, sort_keys=True).encode(), **exp.files}
            for name, content in files.items():
                info = tarfile.TarInfo(f"{exp.id}/{name}")
                info.size, info.mtime = len(content), int(time.time())
                tar.addfile(info, io.BytesIO(content))
        return Response(200, buf.getvalue(), {"Content-Type": "application/x-gzip"})

    @route("DELETE", r"/experiments/(?P<exp_id>\d+)")
    def stop(req: Request, exp_id: str) -> Any:
        exp = sched.stop(req.user or "", int(exp_id))
        return {"id": exp.id, "status": "Delete request registered"}

    @route("POST", r"/experiments/(?P<exp_id>\d+)/reload")
    def reload(req: Request, exp_id: str) -> Any:
        body = _body_json(req) or {}
        exp = sched.reload(req.user or "", int(exp_id), body.get("duration"), body.get("reservation"))
        return {"id": exp.id}

    # -- node commands -------------------------------------------------------------------------
    @route("POST", r"/experiments/(?P<exp_id>\d+)/nodes/flash(?P<binary>/binary)?")
    def flash(req: Request, exp_id: str, binary: str | None) -> Any:
        parts = multipart(req)
        spec = parts.pop("experiment.json" if binary else "nodes.json", None)
        if spec is None or len(parts) != 1:
            raise ApiError(400, "a flash takes one firmware file and the list of nodes")
        nodes = _json(spec, "the node list")
        nodes = nodes.get("nodes", []) if isinstance(nodes, dict) else nodes
        (name, _), = parts.items()
        return sched.command(req.user or "", int(exp_id), "flash", _node_list(nodes), name)

    @route("POST", r"/experiments/(?P<exp_id>\d+)/nodes/monitoring")
    def profile_load(req: Request, exp_id: str) -> Any:
        parts = multipart(req)
        nodes = _json(parts.pop("nodes.json", b"[]"), "nodes.json")
        if len(parts) != 1:
            raise ApiError(400, "profile-load takes one profile file")
        profile = _json(next(iter(parts.values())), "the profile")
        return sched.command(req.user or "", int(exp_id), "profile-load", _node_list(nodes), profile)

    @route("POST", r"/experiments/(?P<exp_id>\d+)/nodes/monitoring/(?P<name>[^/]+)")
    def profile(req: Request, exp_id: str, name: str) -> Any:
        return sched.command(req.user or "", int(exp_id), "profile", _node_list(_body_json(req)), name)

    @route("POST", r"/experiments/(?P<exp_id>\d+)/nodes/(?P<command>[a-z-]+)")
    def command(req: Request, exp_id: str, command: str) -> Any:
        if command not in COMMANDS or command in ("flash", "profile", "profile-load"):
            raise ApiError(404, f"unknown node command {command}")
        return sched.command(req.user or "", int(exp_id), command, _node_list(_body_json(req)))

    @route("POST", r"/experiments/(?P<exp_id>\d+)/robots/(?P<command>[a-z]+)")
    def robots(req: Request, exp_id: str, command: str) -> Any:
        sched.get(req.user or "", int(exp_id))
        return {"0": [], "1": _node_list(_body_json(req))}

    # -- monitoring profiles -------------------------------------------------------------------
    @route("GET", "/monitoring")
    def profiles(req: Request) -> Any:
        mine = sched.profiles.get(req.user or "", {}).values()
        archi = req.query.get("archi")
        return [p for p in mine if archi is None or p.get("nodearch") == archi]

    @route("POST", "/monitoring")
    def add_profile(req: Request) -> Any:
        return sched.add_profile(req.user or "", _body_json(req))

    @route("GET", "/monitoring/(?P<name>[^/]+)")
    def get_profile(req: Request, name: str) -> Any:
        p = sched.profiles.get(req.user or "", {}).get(name)
        if p is None:
            raise ApiError(404, f"profile {name} not found")
        return p

    @route("DELETE", "/monitoring/(?P<name>[^/]+)")
    def del_profile(req: Request, name: str) -> Any:
        if sched.profiles.get(req.user or "", {}).pop(name, None) is None:
            raise ApiError(404, f"profile {name} not found")
        return Response(204)

    # -- planning (EnOSlib's slot test; not in IoT-LAB's OpenAPI) -------------------------------
    @route("GET", "/drawgantt/experiments")
    def gantt(req: Request) -> Any:
        start, stop = _date(req.query.get("start")), _date(req.query.get("stop"))
        items = []
        for e in sched.list(None, [*ACTIVE, "Finishing"]):
            s, end = e.span()
            if (stop is None or s < stop) and (start is None or end > start):
                items.append({"id": e.id, "start_date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s)),
                              "submitted_duration": e.duration, "nodes": list(e.nodes), "state": e.state})
        return {"items": items}

    return router


def _date(text: str | None) -> float | None:
    if not text:
        return None
    import calendar

    try:
        return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        raise ApiError(400, f"bad date {text!r}: expected YYYY-mm-ddTHH:MM:SSZ") from None
