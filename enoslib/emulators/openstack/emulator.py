"""The :class:`OpenstackEmulator`: Keystone, Nova, Neutron, Glance (and Blazar for Chameleon)
on one local HTTP port, driven by the unmodified openstacksdk and python-blazarclient.

Typical test use (stepped clock, address-only servers)::

    with OpenstackEmulator(speed=0, backend="address") as emu:
        conn = emu.connection()                      # a real openstack.connection.Connection
        ...
        emu.advance(30)                              # BUILD -> ACTIVE, no sleep

``OpenstackEmulator(chameleon=True)`` adds Blazar, a ``baremetal`` flavor, bare-metal hosts
by node type, and the shared network ``sharednet1`` (with its router) as on Chameleon.
Dry runs: ``enos emulate openstack`` / ``enos emulate chameleon`` print an RC file to source.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections import Counter
from pathlib import Path
from typing import Any

from enoslib.emulators.kit import EmulatorServer, Ticker, TokenAuth

from .app import App
from .compute import Compute
from .faults import OpenstackFaultSettings, OpenstackFaults
from .identity import Identity
from .image import Image
from .network import Network
from .nodes import make_backend
from .reservation import Reservation
from .state import Cloud, Quotas, new_id

__all__ = ["OpenstackEmulator"]

FLAVORS = [("m1.tiny", 1, 512, 1), ("m1.small", 1, 2048, 20), ("m1.medium", 2, 4096, 40),
           ("m1.large", 4, 8192, 80)]
IMAGES = ["debian-12", "ubuntu-22.04", "CC-Ubuntu22.04", "CC-Ubuntu20.04", "cirros"]
NODE_TYPES = {"compute_haswell": 8, "compute_skylake": 4, "gpu_p100": 2}
PUBLIC_CIDR = "172.24.4.0/24"


def _clock(clock: Any, speed: float, start: float | None) -> Any:
    if clock is not None:
        return clock
    # the shared emulator kit's clock (the one every emulator uses)
    from enoslib.emulators.kit import VirtualClock

    return VirtualClock(start=start, speed=speed)


class OpenstackEmulator:
    """An emulated OpenStack cloud (``chameleon=True``: Chameleon, with Blazar).

    ``speed``: virtual seconds per real second (0: the clock moves only with :meth:`advance`);
    ``clock``: share another emulator's clock (e.g. the Grid'5000 emulator's) instead;
    ``backend``: ``"address"`` (nothing answers at the servers' IPs), ``"netns"`` (every
    ACTIVE server is a real SSH host; root), ``"auto"``; ``faults``: knobs of
    :class:`~.faults.OpenstackFaultSettings` (the kit's plus OpenStack's own);
    ``quotas``: :class:`Quotas` fields; ``users``: ``{name: password}`` (default one random).
    """

    def __init__(self, *, chameleon: bool = False, speed: float = 1.0, clock: Any = None, start: float | None = None,
                 backend: str = "address", faults: dict[str, Any] | OpenstackFaultSettings | None = None,
                 quotas: dict[str, Any] | None = None, users: dict[str, str] | None = None,
                 project: str = "demo", node_types: dict[str, int] | None = None, port: int = 0,
                 name: str | None = None, admin_password: str | None = None, verbose: bool = False) -> None:
        self.chameleon = chameleon
        self.clock = _clock(clock, speed, start)
        self.name = name or f"os-{secrets.token_hex(3)}"
        self.cloud = Cloud(self.clock, faults=OpenstackFaults(faults, clock=self.clock.now),
                           quotas=Quotas(**(quotas or {})))
        self.users = dict(users or {f"user-{secrets.token_hex(3)}": secrets.token_urlsafe(16)})
        self.project_name = project
        self._backend_kind = backend
        self._port = port
        self._admin_password = admin_password
        self._verbose = verbose
        self._server: EmulatorServer | None = None
        self._ticker: Ticker | None = None
        self._populate(node_types or NODE_TYPES)
        services = [Identity(self.cloud, tuple(k for k in ("identity", "compute", "image", "network",
                                                             "reservation") if chameleon or k != "reservation")),
                    Compute(self.cloud), Network(self.cloud), Image(self.cloud)]
        if chameleon:
            services.append(Reservation(self.cloud))
        for s in services:
            self.cloud.services[s.prefix.strip("/")] = s
        self.app = App(self.cloud, services, self.cloud.faults)

    # -- data ----------------------------------------------------------------------------------
    def _populate(self, node_types: dict[str, int]) -> None:
        cloud = self.cloud
        project = cloud.add_project(self.project_name)
        admin = cloud.add_project("admin")
        self.project_id = project["id"]
        for user, password in self.users.items():
            cloud.add_user(user, password, project)
        for i, (name, vcpus, ram, disk) in enumerate(FLAVORS, 1):
            cloud.flavors[str(i)] = {"id": str(i), "name": name, "vcpus": vcpus, "ram": ram, "disk": disk}
        if self.chameleon:
            cloud.flavors["baremetal"] = {"id": "baremetal", "name": "baremetal", "vcpus": 1, "ram": 1,
                                          "disk": 1, "baremetal": True}
        for name in IMAGES:
            image_id = new_id()
            cloud.images[image_id] = {"id": image_id, "name": name, "created": self.clock.now()}
        # the provider network every project may attach floating IPs from
        ext = {"id": new_id(), "name": "public", "description": "", "project_id": admin["id"],
               "tenant_id": admin["id"], "status": "ACTIVE", "admin_state_up": True, "subnets": [], "shared": False,
               "router:external": True, "mtu": 1500, "tags": []}
        cloud.networks[ext["id"]] = ext
        self._subnet(ext, admin["id"], "public-subnet", PUBLIC_CIDR, pool=("172.24.4.10", "172.24.4.250"))
        if self.chameleon:
            shared = {**ext, "id": new_id(), "name": "sharednet1", "subnets": [], "shared": True,
                      "router:external": False}
            cloud.networks[shared["id"]] = shared
            sub = self._subnet(shared, admin["id"], "sharednet1-subnet", "10.140.80.0/22",
                               pool=("10.140.80.10", "10.140.83.250"))
            router = {"id": new_id(), "name": "sharednet1-router", "description": "", "project_id": admin["id"],
                      "tenant_id": admin["id"], "status": "ACTIVE", "admin_state_up": True, "routes": [],
                      "external_gateway_info": {"network_id": ext["id"]}, "tags": []}
            cloud.routers[router["id"]] = router
            cloud.services_pending_port = (shared, sub, router)  # plugged once Network exists
            n = 0
            for node_type, count in node_types.items():
                for _ in range(count):
                    n += 1
                    hid = str(n)
                    cloud.hosts[hid] = {"id": hid, "hypervisor_hostname": new_id(), "node_type": node_type,
                                        "node_name": f"{node_type.split('_')[-1]}-{n:03d}", "vcpus": 48,
                                        "memory_mb": 131072, "local_gb": 200, "reservable": True,
                                        "created_at": None, "updated_at": None}

    def _subnet(self, net: dict[str, Any], project_id: str, name: str, cidr: str, pool: tuple[str, str]) -> dict[str, Any]:
        network = ipaddress.ip_network(cidr)
        sub = {"id": new_id(), "name": name, "description": "", "network_id": net["id"], "project_id": project_id,
               "tenant_id": project_id, "cidr": cidr, "ip_version": 4, "gateway_ip": str(network[1]),
               "allocation_pools": [{"start": pool[0], "end": pool[1]}], "enable_dhcp": True,
               "dns_nameservers": [], "host_routes": [], "tags": []}
        self.cloud.subnets[sub["id"]] = sub
        net["subnets"].append(sub["id"])
        return sub

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> "OpenstackEmulator":
        cloud = self.cloud
        cloud.backend = make_backend(self._backend_kind, self.name, self._cidr_of)
        pending = getattr(cloud, "services_pending_port", None)
        if pending:
            shared, sub, router = pending
            cloud.services["network"].make_port(shared, router["project_id"], device_id=router["id"],
                                                device_owner="network:router_interface",
                                                fixed_ip=sub["gateway_ip"], subnet_id=sub["id"])
            del cloud.services_pending_port
        # one server, the services under their path prefixes (the catalog's URLs); Keystone's
        # token requests and version documents are anonymous, the rest needs X-Auth-Token
        self._server = EmulatorServer(self.app.handle, auth=TokenAuth(self.app.token_user), allow_anonymous=True,
                                      faults=self.cloud.faults, clock=self.clock, advance=self.advance,
                                      admin_password=self._admin_password, error=self.app.error, port=self._port,
                                      server_version="openstack-emulator/1.0", verbose=self._verbose)
        self.app.base_url = self._server.base_url
        self._server.start()
        self._ticker = Ticker(self.clock, self.cloud.tick).start()
        return self

    def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        backend = self.cloud.backend
        if backend is not None:
            with self.cloud.lock:
                backend.close()
            self.cloud.backend = None

    def __enter__(self) -> "OpenstackEmulator":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _cidr_of(self, address: str) -> str:
        ip = ipaddress.ip_address(address)
        for sub in self.cloud.subnets.values():
            if ip in ipaddress.ip_network(sub["cidr"]):
                return sub["cidr"]
        raise KeyError(address)

    # -- what clients need ---------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None, "start the emulator first"
        return self._server.port

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the emulator first"
        return self._server.base_url

    @property
    def server(self) -> EmulatorServer:
        """The kit's HTTP server (``admin_url``, ``admin_auth`` of the ``/_emulator`` endpoints)."""
        assert self._server is not None, "start the emulator first"
        return self._server

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/identity/v3"

    @property
    def username(self) -> str:
        return next(iter(self.users))

    @property
    def password(self) -> str:
        return self.users[self.username]

    def connect_kwargs(self, username: str | None = None) -> dict[str, Any]:
        """``openstack.connect(**kwargs)`` arguments for a user of this cloud."""
        user = username or self.username
        return {"auth_url": self.auth_url, "username": user, "password": self.users[user],
                "project_name": self.project_name, "user_domain_name": "Default",
                "project_domain_name": "Default", "region_name": self.cloud.region, "identity_api_version": "3"}

    def connection(self, username: str | None = None) -> Any:
        """A real openstacksdk ``Connection`` to this cloud."""
        import openstack

        return openstack.connect(load_envvars=False, load_yaml_config=False, **self.connect_kwargs(username))

    def blazar(self, username: str | None = None) -> Any:
        """A real python-blazarclient ``Client`` to this cloud."""
        from blazarclient.client import Client

        return Client(session=self.connection(username).session, service_type="reservation",
                      region_name=self.cloud.region)

    def add_application_credential(self, name: str = "enoslib", username: str | None = None) -> tuple[str, str]:
        """A new application credential of a user: ``(id, secret)``."""
        user = next(u for u in self.cloud.users.values() if u["name"] == (username or self.username))
        cred_id, secret = new_id().replace("-", ""), secrets.token_urlsafe(24)
        self.cloud.app_credentials[cred_id] = {"id": cred_id, "name": name, "secret": secret,
                                               "user_id": user["id"], "project_id": user["project_id"]}
        return cred_id, secret

    def rc_text(self, username: str | None = None) -> str:
        """An OpenStack RC file for this cloud (contains the password: keep it private)."""
        kwargs = self.connect_kwargs(username)
        lines = ["# OpenStack emulator credentials (enoslib)"]
        for key in ("auth_url", "username", "password", "project_name", "user_domain_name",
                    "project_domain_name", "region_name", "identity_api_version"):
            lines.append(f"export OS_{key.upper()}={kwargs[key]}")
        return "\n".join(lines) + "\n"

    def write_rc_file(self, path: str | os.PathLike[str], username: str | None = None) -> Path:
        p = Path(path)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.rc_text(username))
        return p

    @property
    def keyfile(self) -> str | None:
        """Private key that logs in to the servers (netns backend), as :attr:`ssh_user`."""
        return getattr(self.cloud.backend, "keyfile", None)

    @property
    def ssh_user(self) -> str:
        return "root"

    def public_key(self) -> str | None:
        return Path(self.keyfile + ".pub").read_text() if self.keyfile and Path(self.keyfile + ".pub").exists() \
            else None

    def ssh_config(self, path: str | os.PathLike[str] | None = None) -> str:
        """An ssh_config block reaching the servers' fixed and floating IPs (any private IPv4
        address: subnets are made later by the clients) with the key."""
        text = ("Host 10.* 172.* 192.168.*\n"
                f"  IdentityFile {self.keyfile}\n  IdentitiesOnly yes\n"
                "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n")
        if path is not None:
            Path(path).write_text(text)
        return text

    # -- test control --------------------------------------------------------------------------
    @property
    def faults(self) -> OpenstackFaults:
        return self.cloud.faults

    def advance(self, seconds: float) -> float:
        """Move the virtual clock forward and apply what became due."""
        t = self.clock.advance(seconds)
        self.cloud.tick()
        return t

    def tick(self) -> None:
        self.cloud.tick()

    @property
    def calls(self) -> Counter[str]:
        return self.cloud.calls

    def inventory(self) -> dict[str, int]:
        """How many resources of each kind the project holds (leak checks)."""
        c, pid = self.cloud, self.project_id
        return {
            "servers": sum(s["tenant_id"] == pid for s in c.servers.values()),
            "floating_ips": sum(f["project_id"] == pid for f in c.floating_ips.values()),
            "leases": sum(le["project_id"] == pid for le in c.leases.values()),
            "networks": sum(n["project_id"] == pid for n in c.networks.values()),
            "subnets": sum(n["project_id"] == pid for n in c.subnets.values()),
            "routers": sum(r["project_id"] == pid for r in c.routers.values()),
            "ports": sum(p["project_id"] == pid for p in c.ports.values()),
            "security_groups": sum(g["project_id"] == pid for g in c.security_groups.values()),
            "keypairs": len(c.keypairs),
        }

