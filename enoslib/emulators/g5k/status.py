"""Site and cluster status: per-node hard/soft state and current + future reservations.

The shape EnOSlib's slot tests read: ``nodes[fqdn]["reservations"]`` with
``scheduled_at``/``walltime``/``queue`` (best-effort ones count as free), plus
``vlans`` and ``subnets`` pools on the site status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .jobs import HOLDING, Job
from .oar import Scheduler
from .reference import ReferenceData, vlan_type

__all__ = ["site_status"]


def site_status(
    ref: ReferenceData,
    scheduler: Scheduler,
    site: str,
    cluster: str | None,
    query: Mapping[str, str],
    now: float,
) -> dict[str, Any]:
    """The ``/sites/{site}[/clusters/{cluster}]/status`` body (without ``links``).

    Query knobs as the real API: ``waiting=no``, ``job_details=no``,
    ``disks=no``, ``network_address=fqdn[,fqdn]``.
    """
    with_waiting = query.get("waiting", "yes") != "no"
    details = query.get("job_details", "yes") != "no"
    wanted = set(filter(None, query.get("network_address", "").split(",")))
    per_node = scheduler.node_jobs(site)
    nodes: dict[str, Any] = {}
    for node in ref.node_refs(site):
        if (cluster and node.cluster != cluster) or (wanted and node.fqdn not in wanted):
            continue
        cores = ref.node(node)["architecture"]["nb_cores"]
        resas: list[dict[str, Any]] = []
        current: list[Job] = []
        for job, start in sorted(per_node.get(node.fqdn, []), key=lambda js: js[1]):
            if job.state == "waiting" and not with_waiting:
                continue
            if job.state in HOLDING:
                current.append(job)
            r: dict[str, Any] = {
                "uid": job.uid,
                "user": job.user,
                "queue": job.queue,
                "state": job.state,
                "walltime": job.walltime,
                "scheduled_at": int(start),
                "types": list(job.types),
                "started_at": int(job.started_at) if job.started_at else 0,
                "submitted_at": int(job.submitted_at),
            }
            if details:
                r.update(
                    name=job.name,
                    project=job.project,
                    mode="PASSIVE",
                    command=job.command,
                    properties=job.properties,
                    directory=job.directory,
                    message=job.message,
                )
            resas.append(r)
        busy = bool(current)
        besteffort_only = busy and all(j.besteffort for j in current)
        hard = scheduler.hard.get(node.fqdn, "alive")
        soft = (
            ("busy_besteffort" if besteffort_only else "busy")
            if busy
            else ("unknown" if hard in ("dead", "absent") else "free")
        )
        nodes[node.fqdn] = {
            "hard": hard,
            "soft": soft,
            "comment": scheduler.comment.get(node.fqdn) or "OK",
            "free_slots": 0 if busy else cores,
            "freeable_slots": cores if besteffort_only else 0,
            "busy_slots": cores if busy else 0,
            "reservations": resas,
        }
    body: dict[str, Any] = {"uid": int(now), "nodes": nodes, "disks": {}}
    if query.get("disks", "yes") != "no":
        for node in ref.node_refs(site):
            if (cluster and node.cluster != cluster) or node.fqdn not in nodes:
                continue
            for d in ref.node(node).get("storage_devices", []):
                if d.get("reservation"):
                    body["disks"][f"{d['device']}.{node.fqdn}"] = {
                        "hard": "alive",
                        "soft": nodes[node.fqdn]["soft"].split("_")[0],
                        "diskpath": d.get("by_path", ""),
                        "reservations": [],
                    }
    if cluster is None:
        used_v = {
            v
            for j in scheduler.jobs.values()
            if j.site == site and j.state in HOLDING and j.alloc
            for v in j.alloc.vlans
        }
        used_s = {
            x
            for j in scheduler.jobs.values()
            if j.site == site and j.state in HOLDING and j.alloc
            for x in j.alloc.subnets
        }
        body["vlans"] = {
            v: {
                "hard": "alive",
                "soft": "busy" if v in used_v else "free",
                "type": vlan_type(int(v)),
            }
            for v in scheduler.vlan_pool(site)
        }
        body["subnets"] = {
            x: {"hard": "alive", "soft": "busy" if x in used_s else "free"}
            for x in scheduler.subnet_pool(site)
        }
    return body
