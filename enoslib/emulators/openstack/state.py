"""What the OpenStack emulator knows: the resources of every service, quotas, time (faults: :mod:`.faults`).

Pure data and rules, no HTTP: the service modules (:mod:`.identity`, :mod:`.compute`,
:mod:`.network`, :mod:`.image`, :mod:`.reservation`) turn requests into calls on a
:class:`Cloud`, which holds everything under one lock. Time is a virtual clock (an object
with ``now()`` and ``advance(seconds)``): servers leave BUILD and leases start and end when
the clock says so, checked at every request (:meth:`Cloud.tick`).
"""

from __future__ import annotations

import ipaddress
import itertools
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from .faults import OpenstackFaults

__all__ = ["ApiError", "Cloud", "Quotas", "iso", "new_id"]


def new_id() -> str:
    """A fresh UUID."""
    return str(uuid.uuid4())


def iso(t: float, micro: bool = False) -> str:
    """``2026-12-06T06:49:00Z`` (Nova/Neutron), or Blazar's ``2026-12-06T06:49:00.000000``."""
    d = datetime.fromtimestamp(t, timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%f") if micro else d.strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    """An error answer: ``status`` and a JSON ``body`` in the service's own shape."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status, self.body, self.headers = status, body, headers or {}


@dataclass
class Quotas:
    """Per-project limits (Nova and Neutron defaults of a small project)."""

    instances: int = 50
    cores: int = 200
    ram: int = 512000
    floating_ips: int = 20
    networks: int = 20
    routers: int = 10
    security_groups: int = 20
    key_pairs: int = 100


class Cloud:
    """Every resource of the emulated cloud, behind one lock."""

    def __init__(self, clock: Any, *, faults: OpenstackFaults | None = None, quotas: Quotas | None = None,
                 backend: Any = None, region: str = "RegionOne") -> None:
        self.clock = clock
        self.faults = faults or OpenstackFaults(clock=clock.now)
        self.quotas = quotas or Quotas()
        self.backend = backend
        self.region = region
        self.lock = threading.RLock()
        self.calls: Counter[str] = Counter()   # "GET compute /servers/detail" -> count
        # identity
        self.domains = {"default": {"id": "default", "name": "Default"}}
        self.projects: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.app_credentials: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        # compute / image
        self.flavors: dict[str, dict[str, Any]] = {}
        self.images: dict[str, dict[str, Any]] = {}
        self.keypairs: dict[tuple[str, str], dict[str, Any]] = {}   # (user id, name)
        self.servers: dict[str, dict[str, Any]] = {}
        self.server_groups: dict[str, dict[str, Any]] = {}
        # network
        self.networks: dict[str, dict[str, Any]] = {}
        self.subnets: dict[str, dict[str, Any]] = {}
        self.ports: dict[str, dict[str, Any]] = {}
        self.routers: dict[str, dict[str, Any]] = {}
        self.security_groups: dict[str, dict[str, Any]] = {}
        self.security_group_rules: dict[str, dict[str, Any]] = {}
        self.floating_ips: dict[str, dict[str, Any]] = {}
        # reservation
        self.hosts: dict[str, dict[str, Any]] = {}
        self.leases: dict[str, dict[str, Any]] = {}
        self._macs = itertools.count(1)
        self._tick_hooks: list[Callable[[], None]] = []
        self.services: dict[str, Any] = {}   # "compute", "network", "reservation" ... (set by the emulator)

    # -- time ----------------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock.now()

    def on_tick(self, hook: Callable[[], None]) -> None:
        self._tick_hooks.append(hook)

    def tick(self) -> None:
        """Apply every state change due by now (servers booting, leases starting/ending)."""
        with self.lock:
            for hook in self._tick_hooks:
                hook()

    # -- identity helpers ----------------------------------------------------------------------
    def add_project(self, name: str, domain: str = "default") -> dict[str, Any]:
        project = {"id": new_id().replace("-", ""), "name": name, "domain_id": domain}
        self.projects[project["id"]] = project
        return project

    def add_user(self, name: str, password: str, project: dict[str, Any], domain: str = "default") -> dict[str, Any]:
        user = {"id": new_id().replace("-", ""), "name": name, "password": password, "domain_id": domain,
                "project_id": project["id"]}
        self.users[user["id"]] = user
        return user

    def project_of(self, name_or_id: str) -> dict[str, Any] | None:
        return self.projects.get(name_or_id) or next(
            (p for p in self.projects.values() if p["name"] == name_or_id), None)

    # -- network helpers -----------------------------------------------------------------------
    def mac(self) -> str:
        n = next(self._macs)
        return "fa:16:3e:%02x:%02x:%02x" % ((n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF)

    def allocate_ip(self, subnet: dict[str, Any], wanted: str | None = None) -> str:
        """A free address of ``subnet`` (from its allocation pools), or ``wanted``."""
        used = {ip["ip_address"] for p in self.ports.values() for ip in p["fixed_ips"]
                if ip["subnet_id"] == subnet["id"]}
        used |= {f["floating_ip_address"] for f in self.floating_ips.values()}
        if wanted:
            if wanted in used:
                raise ApiError(409, neutron_error("IpAddressAlreadyAllocated",
                                                  f"IP address {wanted} already allocated in subnet {subnet['id']}"))
            return wanted
        for pool in subnet["allocation_pools"]:
            a, b = ipaddress.ip_address(pool["start"]), ipaddress.ip_address(pool["end"])
            while a <= b:
                if str(a) not in used and str(a) != subnet.get("gateway_ip"):
                    return str(a)
                a += 1
        raise ApiError(409, neutron_error("IpAddressGenerationFailure",
                                          f"No more IP addresses available on network {subnet['network_id']}."))

    def usage(self, project_id: str) -> dict[str, int]:
        mine = [s for s in self.servers.values() if s["tenant_id"] == project_id]
        return {
            "instances": len(mine),
            "cores": sum(self.flavors[s["flavor_id"]]["vcpus"] for s in mine if s["flavor_id"] in self.flavors),
            "ram": sum(self.flavors[s["flavor_id"]]["ram"] for s in mine if s["flavor_id"] in self.flavors),
            "floating_ips": sum(f["project_id"] == project_id for f in self.floating_ips.values()),
            "networks": sum(n["project_id"] == project_id for n in self.networks.values()),
            "routers": sum(r["project_id"] == project_id for r in self.routers.values()),
            "security_groups": sum(g["project_id"] == project_id for g in self.security_groups.values()),
        }

    def check_quota(self, project_id: str, what: str, more: int = 1) -> None:
        limit = getattr(self.quotas, what)
        used = self.usage(project_id).get(what, 0)
        if used + more > limit:
            raise ApiError(403 if what in ("instances", "cores", "ram") else 409,
                           nova_error(403, f"Quota exceeded for {what}: Requested {more}, but already used "
                                           f"{used} of {limit} {what}")
                           if what in ("instances", "cores", "ram") else
                           neutron_error("OverQuota", f"Quota exceeded for resources: ['{what}']."))


# -- error bodies, in each service's shape -------------------------------------------------------
_NOVA_KEYS = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
              409: "conflictingRequest", 413: "overLimit", 500: "computeFault", 503: "serviceUnavailable"}


def nova_error(status: int, message: str) -> dict[str, Any]:
    return {_NOVA_KEYS.get(status, "computeFault"): {"code": status, "message": message}}


def neutron_error(kind: str, message: str) -> dict[str, Any]:
    return {"NeutronError": {"type": kind, "message": message, "detail": ""}}


def keystone_error(status: int, title: str, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "title": title, "message": message}}


def blazar_error(status: int, message: str) -> dict[str, Any]:
    return {"error_code": status, "error_message": message, "error_name": status}
