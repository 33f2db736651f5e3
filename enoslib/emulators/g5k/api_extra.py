"""More of the API python-grid5000 exposes: Kwollect metrics, PDUs, storage, versions, stitcher.

* ``GET /sites/{s}/metrics`` -- Kwollect values: ``nodes`` (comma list of short names or
  fqdns) or ``job_id``, ``metrics`` (comma list; default: every metric of the nodes'
  clusters), ``start_time``/``end_time`` (Unix seconds or ``YYYY-MM-DDThh:mm:ss``;
  default: the job's span, or the last 5 minutes). A bare JSON list of
  ``{"timestamp", "device_id", "metric_id", "value", "labels"}``, one sample per metric
  period (at most :data:`MAX_SAMPLES` in all), values deterministic and higher while
  a job holds the node.
* ``GET /sites/{s}/metrics/{metric}/timeseries`` -- the older per-metric shape.
* ``GET /sites/{s}/pdus[/{uid}]`` -- the reference PDUs.
* ``GET /sites/{s}/storage`` -- the storage servers (``home`` and ``kind: storage`` ones).
* ``GET /sites/{s}/versions/{v}``, ``/sites/{s}/clusters/{c}/versions[/{v}]``,
  ``/sites/{s}/clusters/{c}/nodes/{n}/versions[/{v}]`` -- the reference version.
* ``GET|POST /stitcher/stitchings``, ``GET|DELETE /stitcher/stitchings/{id}`` -- stitch a
  global vlan you hold to an external SDX vlan (``{"id": vlan, "sdx_vlan_id": n}``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import TYPE_CHECKING, Any

from .jobs import HOLDING, JobError
from .reference import REF_VERSION

if TYPE_CHECKING:
    from .api import Api, ApiRequest, ApiResponse

__all__ = ["MAX_SAMPLES", "extra_routes"]

MAX_SAMPLES = 10_000
DEFAULT_WINDOW = 300.0


def _time(text: str | None, default: float) -> float:
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise JobError(400, f"bad time {text!r} (Unix seconds or YYYY-MM-DDThh:mm:ss)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()


def _noise(*parts: object) -> float:
    """A deterministic number in [0, 1) for these parts."""
    digest = hashlib.sha1("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


class _Extra:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.emu = api.emu
        self._stitched: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ metrics
    def _node_refs(self, site: str, names: list[str]):
        out = []
        for name in names:
            found = self.emu.ref.resolve(name if "." in name else f"{name}.{site}.grid5000.fr")
            if found is None or found[0].site != site:
                raise JobError(404, f"Cannot find node {name} on site {site}")
            out.append(found[0])
        return out

    def _busy(self, fqdn: str, t: float) -> bool:
        for job in self.emu.scheduler.jobs.values():
            if job.started_at is None or not any(n.fqdn == fqdn for n in job.nodes):
                continue
            end = job.stopped_at if job.stopped_at is not None else float("inf")
            if job.started_at <= t < end:
                return True
        return False

    def metrics(self, req: ApiRequest, site: str) -> ApiResponse:
        from .api import ApiResponse

        q = req.query
        now = self.api.now()
        start = end = None
        if q.get("job_id"):
            job = self.emu.scheduler.jobs.get(int(q["job_id"])) if q["job_id"].isdigit() else None
            if job is None or job.site != site:
                raise JobError(404, f"Couldn't find job with id {q['job_id']} on site {site}")
            nodes = list(job.nodes)
            start = job.started_at if job.started_at is not None else now
            end = job.stopped_at if job.stopped_at is not None else now
        elif q.get("nodes"):
            nodes = self._node_refs(site, [n for n in q["nodes"].split(",") if n])
        else:
            raise JobError(400, "Give nodes=<node,...> or job_id=<id>")
        end = _time(q.get("end_time"), end if end is not None else now)
        start = _time(q.get("start_time"), start if start is not None else end - DEFAULT_WINDOW)
        if end < start:
            raise JobError(400, "end_time is before start_time")
        wanted = [m for m in q.get("metrics", "").split(",") if m]
        items: list[dict[str, Any]] = []
        for node in nodes:
            for metric in self.emu.ref.cluster_of(node).get("metrics", []):
                name = metric["name"]
                if wanted and name not in wanted:
                    continue
                if not wanted and not metric.get("period"):
                    continue  # optional metrics are only collected on demand
                if metric.get("only_for") and node.uid not in metric["only_for"]:
                    continue
                period = max(1.0, (metric.get("period") or metric.get("optional_period") or 5000) / 1000)
                t = start - (start % period)
                t = t if t >= start else t + period
                while t <= end:
                    if len(items) >= MAX_SAMPLES:
                        raise JobError(413, f"More than {MAX_SAMPLES} values: narrow the request")
                    base = 20 + 200 * _noise(node.fqdn, name)
                    load = 1.6 if self._busy(node.fqdn, t) else 1.0
                    value = round(base * load * (0.95 + 0.1 * _noise(node.fqdn, name, int(t))), 3)
                    items.append(
                        {
                            "timestamp": dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(),
                            "device_id": node.uid,
                            "metric_id": name,
                            "value": value,
                            "labels": dict(metric.get("labels", {})),
                        }
                    )
                    t += period
        return ApiResponse(200, items)

    def timeseries(self, req: ApiRequest, site: str, metric: str) -> ApiResponse:
        from .api import ApiResponse

        names = [n for n in req.query.get("only", "").split(",") if n]
        nodes = self._node_refs(site, names) if names else list(self.emu.ref.node_refs(site))
        now = self.api.now()
        end = _time(req.query.get("to"), now)
        start = _time(req.query.get("from"), end - DEFAULT_WINDOW)
        step = max(1, int(req.query.get("resolution", 15)))
        items = []
        for node in nodes:
            names_ = {m["name"] for m in self.emu.ref.cluster_of(node).get("metrics", [])}
            if metric not in names_:
                continue
            values = [
                round(20 + 200 * _noise(node.fqdn, metric) * (0.95 + 0.1 * _noise(node.fqdn, metric, t)), 3)
                for t in range(int(start), int(end) + 1, step)
            ]
            items.append(
                {"uid": node.uid, "from": int(start), "to": int(end), "resolution": step,
                 "type": "timeseries", "values": values}
            )
        return ApiResponse(200, {"total": len(items), "offset": 0, "items": items})

    # ------------------------------------------------------------------ reference extras
    def pdus(self, req: ApiRequest, site: str) -> ApiResponse:
        return self.api.collection(f"/sites/{site}/pdus", list(self.emu.ref.pdus.get(site, {}).values()))

    def pdu(self, req: ApiRequest, site: str, pdu: str) -> ApiResponse:
        from .api import ApiResponse, error

        found = self.emu.ref.pdus.get(site, {}).get(pdu)
        return ApiResponse(200, found) if found else error(404, f"Cannot find pdu {pdu}")

    def storage(self, req: ApiRequest, site: str) -> ApiResponse:
        items = [{"uid": "home", "type": "storage", "kind": "home",
                  "links": [self.api.link(f"/sites/{site}/storage/home")]}]
        for uid, server in self.emu.ref.servers.get(site, {}).items():
            if server.get("kind") == "storage" or uid.startswith(("srv-data", "storage")):
                items.append({"uid": uid, "type": "storage", "kind": server.get("kind", "physical"),
                              "links": [self.api.link(f"/sites/{site}/storage/{uid}")]})
        return self.api.collection(f"/sites/{site}/storage", items)

    def version(self, req: ApiRequest, vid: str, **where: str) -> ApiResponse:
        self._check_where(where)
        return self.api.version(req, vid)

    def versions(self, req: ApiRequest, **where: str) -> ApiResponse:
        self._check_where(where)
        return self.api.versions(req)

    def _check_where(self, where: dict[str, str]) -> None:
        site, cluster, node = where.get("site"), where.get("cluster"), where.get("node")
        if cluster is not None and cluster not in self.emu.ref.clusters.get(site or "", {}):
            raise JobError(404, f"Cannot find cluster {cluster} on site {site}")
        if node is not None and node not in self.emu.ref.nodes[site or ""][cluster or ""]:
            raise JobError(404, f"Cannot find node {node} in cluster {cluster}")

    # ------------------------------------------------------------------ stitcher
    def _stitching_json(self, st: dict[str, Any]) -> dict[str, Any]:
        return {**st, "links": [self.api.link(f"/stitcher/stitchings/{st['id']}")]}

    def stitchings(self, req: ApiRequest) -> ApiResponse:
        mine = [self._stitching_json(s) for s in self._stitched.values()
                if req.user is None or s["user"] == req.user]
        return self.api.collection("/stitcher/stitchings", mine)

    def stitching(self, req: ApiRequest, sid: str) -> ApiResponse:
        from .api import ApiResponse

        found = self._stitched.get(sid)
        if found is None:
            raise JobError(404, f"Cannot find stitching {sid}")
        return ApiResponse(200, self._stitching_json(found))

    def stitch(self, req: ApiRequest) -> ApiResponse:
        from .api import ApiResponse

        body = req.body if isinstance(req.body, dict) else {}
        vid, sdx = str(body.get("id", "")), body.get("sdx_vlan_id")
        if not vid or sdx is None:
            raise JobError(400, "A stitching needs 'id' (a global vlan) and 'sdx_vlan_id'")
        if not self.emu.ref.is_global(vid) or self.emu.ref.vlan_site(vid) is None:
            raise JobError(400, f"Vlan {vid} is not a global kavlan")
        holders = [
            j for j in self.emu.scheduler.jobs.values()
            if j.user == req.user and j.state in HOLDING and j.alloc and vid in j.alloc.vlans
        ]
        if not holders:
            raise JobError(403, f"You do not hold global vlan {vid} in a running job")
        if vid in self._stitched:
            raise JobError(409, f"Vlan {vid} is already stitched")
        self._stitched[vid] = {"id": vid, "sdx_vlan_id": sdx, "user": req.user,
                                "job": holders[0].uid, "created_at": int(self.api.now())}
        return ApiResponse(201, self._stitching_json(self._stitched[vid]),
                           {"Location": f"{self.api.prefix}/stitcher/stitchings/{vid}"})

    def unstitch(self, req: ApiRequest, sid: str) -> ApiResponse:
        from .api import ApiResponse

        found = self._stitched.get(sid)
        if found is None:
            raise JobError(404, f"Cannot find stitching {sid}")
        if found["user"] != req.user:
            raise JobError(403, f"Stitching {sid} is not yours")
        del self._stitched[sid]
        return ApiResponse(204)


def extra_routes(api: Api) -> list[tuple[str, str, Any]]:
    """The routes of this module, for :class:`~.api.Api`'s table."""
    x = _Extra(api)
    s, c, n = r"(?P<site>[^/]+)", r"(?P<cluster>[^/]+)", r"(?P<node>[^/]+)"
    v = r"(?P<vid>[^/]+)"
    return [
        ("GET", rf"/sites/{s}/metrics", x.metrics),
        ("GET", rf"/sites/{s}/metrics/(?P<metric>[^/]+)/timeseries", x.timeseries),
        ("GET", rf"/sites/{s}/pdus", x.pdus),
        ("GET", rf"/sites/{s}/pdus/(?P<pdu>[^/]+)", x.pdu),
        ("GET", rf"/sites/{s}/storage", x.storage),
        ("GET", rf"/sites/{s}/versions/{v}", x.version),
        ("GET", rf"/sites/{s}/clusters/{c}/versions", x.versions),
        ("GET", rf"/sites/{s}/clusters/{c}/versions/{v}", x.version),
        ("GET", rf"/sites/{s}/clusters/{c}/nodes/{n}/versions", x.versions),
        ("GET", rf"/sites/{s}/clusters/{c}/nodes/{n}/versions/{v}", x.version),
        ("GET", r"/stitcher/stitchings", x.stitchings),
        ("POST", r"/stitcher/stitchings", x.stitch),
        ("GET", r"/stitcher/stitchings/(?P<sid>[^/]+)", x.stitching),
        ("DELETE", r"/stitcher/stitchings/(?P<sid>[^/]+)", x.unstitch),
    ]
