"""KaVLAN: which NIC of which node sits in which vlan, and who may change it.

A user owns a vlan while one of their launching/running jobs holds it
(``{type='kavlan'}/vlan=1``), plus users added with PUT
``/vlans/{id}/users/{login}``. NICs not in a vlan report ``DEFAULT``. When a
job ends, its nodes go back to ``DEFAULT`` and so does every NIC left in the
vlans it held (OAR's epilogue does the same). Listeners are told about every
move so the node backend can re-plug interfaces.

kavlan-local and routed vlans are per site. A global vlan (id >= 10) is in
one site's pool but spans all sites: any site's API accepts it, rights come
from the job (on its owning site) holding it, and nodes of any site the user
holds can be put in it through their own site's API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .jobs import HOLDING, Job, JobError
from .oar import Scheduler
from .reference import NodeRef, ReferenceData, vlan_type

__all__ = ["DEFAULT", "Kavlan"]

DEFAULT = "DEFAULT"
MoveListener = Callable[[NodeRef, str, str, str], None]  # node, nic, from_vlan, to_vlan


class Kavlan:
    """Vlan membership and rights for every site. Callers hold the emulator lock."""

    def __init__(self, ref: ReferenceData, scheduler: Scheduler) -> None:
        self.ref, self.scheduler = ref, scheduler
        self.membership: dict[tuple[str, str], str] = {}  # (fqdn, nic) -> vlan id
        self.extra_users: dict[tuple[str, str], set[str]] = {}
        self.dhcpd: dict[tuple[str, str], bool] = {}
        self.listeners: list[MoveListener] = []
        scheduler.listeners.append(self._on_job)

    # ------------------------------------------------------------------ lookups
    def check_vlan(self, site: str, vid: str) -> str:
        """``vid`` if it exists on ``site``: its own pool, or a global vlan of any site."""
        if vid in self.scheduler.vlan_pool(site):
            return vid
        if self.ref.is_global(vid) and any(
            vid in self.scheduler.vlan_pool(s) for s in self.ref.sites
        ):
            return vid
        raise JobError(404, f"Vlan {vid} does not exist")

    def _key(self, site: str, vid: str) -> tuple[str, str]:
        """Where a vlan's state lives: global vlans are shared by all sites (owner's key)."""
        if self.ref.is_global(vid):
            return (self.ref.vlan_site(vid) or site, vid)
        return (site, vid)

    def _holds(self, job: Job, site: str, vid: str) -> bool:
        """Whether ``job`` holds ``vid`` as seen from ``site`` (any site for a global vlan)."""
        return (
            job.state in HOLDING
            and job.alloc is not None
            and vid in job.alloc.vlans
            and (job.site == site or self.ref.is_global(vid))
        )

    def vlan_json(self, site: str, vid: str, prefix: str) -> dict[str, Any]:
        return {
            "uid": vid,
            "type": vlan_type(int(vid)),
            "dhcpd": self.dhcpd.get(self._key(site, vid), False),
            "links": [
                {
                    "rel": "self",
                    "href": f"{prefix}/sites/{site}/vlans/{vid}",
                    "type": "application/vnd.grid5000.item+json",
                },
                {
                    "rel": "nodes",
                    "href": f"{prefix}/sites/{site}/vlans/{vid}/nodes",
                    "type": "application/vnd.grid5000.collection+json",
                },
            ],
        }

    def owners(self, site: str, vid: str) -> set[str]:
        users = {j.user for j in self.scheduler.jobs.values() if self._holds(j, site, vid)}
        return users | (self.extra_users.get(self._key(site, vid), set()) if users else set())

    def primary_nic(self, ref: NodeRef) -> str:
        adapters = self.ref.node(ref)["network_adapters"]
        return next((a["device"] for a in adapters if a.get("mounted")), adapters[0]["device"])

    def nic_name(self, ref: NodeRef, nic: str) -> str:
        if nic == self.primary_nic(ref):
            return ref.fqdn
        host, _, domain = ref.fqdn.partition(".")
        return f"{host}-{nic}.{domain}"

    def vlan_of(self, ref: NodeRef, nic: str | None = None) -> str:
        return self.membership.get((ref.fqdn, nic or self.primary_nic(ref)), DEFAULT)

    def nodes_in(self, site: str, vid: str) -> list[dict[str, str]]:
        return [
            {"uid": self.nic_name(ref, nic), "vlan": v}
            for (fqdn, nic), v in sorted(self.membership.items())
            if v == vid and (ref := self._node(fqdn)).site == site
        ]

    def _node(self, fqdn: str) -> NodeRef:
        found = self.ref.resolve(fqdn)
        if found is None:  # membership keys are always known nodes
            raise KeyError(fqdn)
        return found[0]

    def lookup(self, site: str, names: list[str]) -> list[dict[str, str]]:
        """``POST /vlans/nodes`` / ``GET /vlans/nodes/{name}``: unknown names are dropped."""
        out = []
        for name in names:
            found = self.ref.resolve(str(name))
            if found and found[0].site == site:
                out.append({"uid": str(name), "vlan": self.vlan_of(found[0], found[1])})
        return out

    # ------------------------------------------------------------------ changes
    def set_nodes(
        self, site: str, vid: str, user: str, names: list[Any]
    ) -> dict[str, dict[str, str]]:
        """Move NICs into ``vid``; per-name ``success`` / ``unchanged`` / ``failure``."""
        if vid != DEFAULT:
            self.check_vlan(site, vid)
            if user not in self.owners(site, vid):
                raise JobError(403, f"User {user} is not allowed to use vlan {vid}")
        owned = {
            n.fqdn
            for j in self.scheduler.jobs.values()
            if j.user == user and j.site == site and j.state in HOLDING
            for n in j.nodes
        }
        result: dict[str, dict[str, str]] = {}
        for name in names:
            name = str(name)
            found = self.ref.resolve(name)
            if found is None or found[0].site != site:
                result[name] = {"status": "failure", "message": f"Node {name} does not exist"}
                continue
            ref, nic, _ = found
            nic = nic or self.primary_nic(ref)
            adapter = next(
                (a for a in self.ref.node(ref)["network_adapters"] if a["device"] == nic), None
            )
            if adapter is None or not adapter.get("kavlan"):
                result[name] = {
                    "status": "failure",
                    "message": f"Interface {nic} of {ref.uid} cannot be put in a vlan",
                }
            elif ref.fqdn not in owned:
                result[name] = {
                    "status": "failure",
                    "message": f"Node {ref.uid} is not reserved by {user}",
                }
            elif self.vlan_of(ref, nic) == vid:
                result[name] = {"status": "unchanged", "message": f"{name} already in vlan {vid}"}
            else:
                self._move(ref, nic, vid)
                result[name] = {"status": "success", "message": f"{name} moved to vlan {vid}"}
        return result

    def _move(self, ref: NodeRef, nic: str, vid: str) -> None:
        before = self.vlan_of(ref, nic)
        if vid == DEFAULT:
            self.membership.pop((ref.fqdn, nic), None)
        else:
            self.membership[(ref.fqdn, nic)] = vid
        for listener in self.listeners:
            listener(ref, nic, before, vid)

    def move_primary(self, ref: NodeRef, vid: str) -> None:
        """Used by kadeploy when a deployment names a ``vlan``."""
        nic = self.primary_nic(ref)
        if self.vlan_of(ref, nic) != vid:
            self._move(ref, nic, vid)

    def users(self, site: str) -> list[dict[str, Any]]:
        per_user: dict[str, list[str]] = {}
        pool = self.scheduler.vlan_pool(site)
        # global vlans of other sites span this one too: list them while someone holds them
        foreign = sorted(
            {
                v
                for s in self.ref.sites
                if s != site
                for v in self.scheduler.vlan_pool(s)
                if self.ref.is_global(v) and v not in pool
            },
            key=int,
        )
        for vid in sorted([*pool, *foreign], key=int):
            for u in sorted(self.owners(site, vid)):
                per_user.setdefault(u, []).append(vid)
        return [{"uid": u, "vlans": v} for u, v in sorted(per_user.items())]

    def set_user(self, site: str, vid: str, by: str, login: str, allowed: bool) -> None:
        self.check_vlan(site, vid)
        if by not in self.owners(site, vid):
            raise JobError(403, f"User {by} is not allowed to manage vlan {vid}")
        users = self.extra_users.setdefault(self._key(site, vid), set())
        (users.add if allowed else users.discard)(login)

    def set_dhcpd(self, site: str, vid: str, user: str, action: Any) -> None:
        self.check_vlan(site, vid)
        if action not in ("start", "stop"):
            raise JobError(422, "action must be 'start' or 'stop'")
        if user not in self.owners(site, vid):
            raise JobError(403, f"User {user} is not allowed to use vlan {vid}")
        self.dhcpd[self._key(site, vid)] = action == "start"

    def dhcp_running(self, site: str, vid: str) -> bool:
        """Whether the vlan's DHCP server answers: yes unless its owner stopped it."""
        return self.dhcpd.get(self._key(site, vid), True) is not False

    # ------------------------------------------------------------------ job ends
    def _on_job(self, what: str, job: Job) -> None:
        if what != "ended" or not job.alloc:
            return
        for n in job.nodes:
            for fqdn, nic in [k for k in self.membership if k[0] == n.fqdn]:
                self._move(n, nic, DEFAULT)
        for vid in job.alloc.vlans:
            if self.owners(job.site, vid):
                continue
            shared = self.ref.is_global(vid)  # a global vlan's NICs may be on any site
            for (fqdn, nic), v in list(self.membership.items()):
                ref = self._node(fqdn)
                if v == vid and (shared or ref.site == job.site):
                    self._move(ref, nic, DEFAULT)
            self.extra_users.pop(self._key(job.site, vid), None)
            self.dhcpd.pop(self._key(job.site, vid), None)
