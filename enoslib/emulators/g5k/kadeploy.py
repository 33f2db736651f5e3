"""Kadeploy deployments: POST -> ``processing`` -> ``terminated`` (per-node OK/KO) | ``error``.

A deployment takes ``duration`` virtual seconds. Nodes must belong to a
launching/running ``deploy`` job of the caller. Per-node failures come from
the fault injector; OK nodes are reported to listeners (the node backend
resets them, kavlan moves them when the deployment names a ``vlan``).
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .faults import FaultInjector
from .jobs import HOLDING, JobError
from .oar import Scheduler
from .reference import NodeRef, ReferenceData

__all__ = ["ENVIRONMENTS", "Deployment", "Kadeploy"]

ENVIRONMENTS = (
    "debian10-min",
    "debian11-min",
    "debian11-nfs",
    "debian11-big",
    "debian12-min",
    "debian12-nfs",
    "debian12-big",
    "debian12-xen",
    "debiantesting-min",
    "ubuntu2004-min",
    "ubuntu2204-min",
    "ubuntu2404-min",
    "rocky8-min",
    "rocky9-min",
    "centosstream9-min",
    "alma9-min",
)
ACCEPTED_KEYS = {
    "nodes",
    "environment",
    "version",
    "arch",
    "key",
    "partition_label",
    "block_device",
    "reformat_tmp",
    "disable_disk_partitioning",
    "disable_bootloader_install",
    "reboot_classical_timeout",
    "reboot_kexec_timeout",
    "ignore_nodes_deploying",
    "vlan",
    "ssh_authorized_keys",
    "custom_operations",
    "client",
}


@dataclass
class Deployment:
    """One kadeploy deployment: who asked, which environment on which nodes, and its status over time."""
    uid: str
    site: str
    user: str
    environment: str
    version: Any
    arch: str
    key: str | None
    nodes: list[NodeRef]
    vlan: str | None
    created_at: float
    done_at: float
    status: str = "processing"
    updated_at: float = 0.0
    result: dict[str, dict[str, Any]] | None = None
    key_text: str | None = field(default=None, repr=False)

    def to_json(self, prefix: str) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "site_uid": self.site,
            "user_uid": self.user,
            "environment": self.environment,
            "version": self.version,
            "arch": self.arch,
            "status": self.status,
            "nodes": [n.fqdn for n in self.nodes],
            "result": self.result,
            "key": self.key,
            "vlan": int(self.vlan) if self.vlan and self.vlan.isdigit() else self.vlan,
            "created_at": int(self.created_at),
            "updated_at": int(self.updated_at or self.created_at),
            "links": [
                {
                    "rel": "self",
                    "type": "application/vnd.grid5000.item+json",
                    "href": f"{prefix}/sites/{self.site}/deployments/{self.uid}",
                },
                {
                    "rel": "parent",
                    "type": "application/vnd.grid5000.item+json",
                    "href": f"{prefix}/sites/{self.site}",
                },
            ],
        }


class Kadeploy:
    """All deployments of all sites. Callers hold the emulator lock."""

    def __init__(
        self,
        ref: ReferenceData,
        scheduler: Scheduler,
        faults: FaultInjector,
        duration: float = 20.0,
        prefix: str = "/stable",
        seed: int = 0,
    ) -> None:
        self.ref, self.scheduler, self.faults = ref, scheduler, faults
        self.duration, self.prefix = duration, prefix
        self.deployments: dict[str, Deployment] = {}
        self.deployed_env: dict[str, str] = {}  # fqdn -> environment last deployed OK
        self.listeners: list[Callable[[Deployment, list[NodeRef]], None]] = []
        self._seq = itertools.count()
        self._uuid_seed = seed

    def _uid(self) -> str:
        # deterministic ids (uuid5 of a counter) keep seeded runs reproducible
        return "D-" + str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"g5kemu/{self._uuid_seed}/{next(self._seq)}")
        )

    def create(self, site: str, user: str, spec: Any, now: float) -> Deployment:
        bad = "The deployment you are trying to submit is not valid: "
        if not isinstance(spec, dict):
            raise JobError(400, f"{bad}a JSON object is expected")
        unknown = set(spec) - ACCEPTED_KEYS
        if unknown:
            raise JobError(400, f"{bad}unknown parameter(s) {', '.join(sorted(unknown))}")
        names = spec.get("nodes")
        if not isinstance(names, list) or not names:
            raise JobError(400, f"{bad}nodes must be a non-empty list of node names")
        env = spec.get("environment")
        if not env or not isinstance(env, str):
            raise JobError(400, f"{bad}environment is missing")
        base = env.split("@")[0]
        if (
            not env.startswith(("http://", "https://"))
            and "@" not in env
            and base not in ENVIRONMENTS
        ):
            raise JobError(
                400, f"{bad}environment {env!r} does not exist (known: {', '.join(ENVIRONMENTS)})"
            )
        nodes: list[NodeRef] = []
        for name in names:
            found = self.ref.resolve(str(name))
            if found is None or found[0].site != site:
                raise JobError(400, f"{bad}unknown node {name!r} on site {site}")
            if found[0] not in nodes:
                nodes.append(found[0])
        owned = {
            n.fqdn
            for j in self.scheduler.jobs.values()
            if j.user == user and j.site == site and j.state in HOLDING and "deploy" in j.types
            for n in j.nodes
        }
        refused = [n.fqdn for n in nodes if n.fqdn not in owned]
        if refused:
            raise JobError(
                403,
                "You do not have the deployment rights on all the nodes "
                f"(not in one of your running deploy jobs): {', '.join(refused)}",
            )
        vlan = spec.get("vlan")
        vlan = str(vlan) if vlan not in (None, "") else None
        if vlan is not None and vlan.upper() != "DEFAULT":
            holders = {
                j.user
                for j in self.scheduler.jobs.values()
                if j.state in HOLDING
                and j.alloc
                and vlan in j.alloc.vlans
                # a global vlan is held on its own site but usable from every site
                and (j.site == site or self.ref.is_global(vlan))
            }
            if user not in holders:
                raise JobError(403, f"You are not allowed to deploy into vlan {vlan}")
        key = spec.get("key")
        key_url = key
        if key and not str(key).startswith(("http://", "https://")):
            sha = hashlib.sha1(str(key).encode()).hexdigest()
            key_url = f"https://api.grid5000.fr/sid/sites/{site}/files/{user}-key-{sha}"
        arch = spec.get("arch") or self.ref.node(nodes[0])["architecture"].get(
            "platform_type", "x86_64"
        )
        dep = Deployment(
            self._uid(),
            site,
            user,
            env,
            spec.get("version"),
            arch,
            key_url,
            nodes,
            vlan,
            now,
            now + self.duration,
            updated_at=now,
            key_text=None if key == key_url else key,
        )
        self.deployments[dep.uid] = dep
        return dep

    def get(self, site: str, uid: str) -> Deployment:
        dep = self.deployments.get(uid)
        if dep is None or dep.site != site:
            raise JobError(404, f"Couldn't find deployment with uid {uid}")
        return dep

    def list(
        self,
        site: str,
        *,
        status: str | None = None,
        user: str | None = None,
        reverse: bool = False,
    ) -> list[Deployment]:
        wanted = {s.strip() for s in status.split(",")} if status else None
        out = [
            d
            for d in self.deployments.values()
            if d.site == site
            and (user is None or d.user == user)
            and (wanted is None or d.status in wanted)
        ]
        out.sort(key=lambda d: d.created_at, reverse=not reverse)
        return out

    def cancel(self, dep: Deployment, user: str, now: float) -> None:
        if dep.user != user:
            raise JobError(403, f"You are not the owner of deployment {dep.uid}")
        if dep.status == "processing":
            dep.status, dep.updated_at = "canceled", now

    def next_event(self, after: float) -> float | None:
        times = [
            d.done_at
            for d in self.deployments.values()
            if d.status == "processing" and d.done_at > after
        ]
        return min(times) if times else None

    def step(self, now: float) -> None:
        for dep in self.deployments.values():
            if dep.status != "processing" or dep.done_at > now:
                continue
            dep.updated_at = dep.done_at
            still_owned = {
                n.fqdn
                for j in self.scheduler.jobs.values()
                if j.user == dep.user and j.state in HOLDING
                for n in j.nodes
            }
            if self.faults.take_deploy_error() or not all(n.fqdn in still_owned for n in dep.nodes):
                dep.status = "error"
                continue
            dep.result, ok = {}, []
            for n in dep.nodes:
                if self.faults.deploy_fails(n.fqdn):
                    dep.result[n.fqdn] = {
                        "state": "KO",
                        "macro": "SetDeploymentEnv",
                        "micro": "SetDeploymentEnvUntrusted",
                        "error": "Timeout in the boot phase (fault injected by the emulator)",
                    }
                else:
                    dep.result[n.fqdn] = {"state": "OK", "macro": None, "micro": None}
                    self.deployed_env[n.fqdn] = dep.environment
                    ok.append(n)
            dep.status = "terminated"
            for listener in self.listeners:
                listener(dep, ok)
