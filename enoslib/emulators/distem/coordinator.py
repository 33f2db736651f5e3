"""The Distem coordinator's REST API (``distemd`` on port 4567), as the ``distem`` client uses it.

Bodies are form-encoded; ``desc``, ``ssh_key``, ``target``, ``names`` (and ``opts``) carry JSON.
Answers are JSON; errors are a status (400 bad parameter, 404 unknown resource, 500 shell error,
501 not implemented) with the reason in the ``X-Application-Error-Code`` header, which the
client raises. Trailing slashes are optional.

Vnode life: created ``INIT`` (``READY`` once it has a host and a filesystem); started, it is
``CONFIGURING`` then ``RUNNING`` (or ``FAILED``); stopped, ``DOWN``. A vnetwork hands out its
addresses in order, from its second address on (the first is the network's gateway).
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from ..kit.http import Request, Response, Router
from .faults import DistemFaults
from .guests import Guests

__all__ = ["Coordinator", "DistemError", "distem_error"]

_JSON_FIELDS = ("desc", "ssh_key", "target", "names", "opts")


class DistemError(Exception):
    """An error answered as ``status`` with ``message`` in ``X-Application-Error-Code``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def distem_error(status: int, message: str) -> Response:
    """Distem's error shape: the status, the reason in the header, an empty JSON body."""
    return Response(status, {}, headers={"X-Application-Error-Code": message})


def _form(req: Request) -> dict[str, Any]:
    body = req.body if isinstance(req.body, dict) else {}
    out = dict(body)
    for key in _JSON_FIELDS:
        value = out.get(key)
        if isinstance(value, str) and value[:1] in "[{\"":
            try:
                out[key] = json.loads(value)
            except ValueError:
                raise DistemError(400, f"InvalidParameterError: {key} is not valid JSON") from None
    return out


def _true(value: Any) -> bool:
    return str(value).lower() in ("true", "1", "yes")


def _listify(value: Any) -> list[str]:
    if value in (None, "", []):
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


class Coordinator:
    """The state and routes of one Distem platform (pnodes, vnetworks, vnodes)."""

    def __init__(self, guests: Guests, faults: DistemFaults, *, address: str = "127.0.0.1",
                 allowed_pnodes: Callable[[], set[str] | None] = lambda: None, sleep: Callable[[float], None] = time.sleep
                 ) -> None:
        self.guests = guests
        self.faults = faults
        self.address = address
        self.allowed_pnodes = allowed_pnodes
        self.sleep = sleep
        self.lock = threading.RLock()
        self.pnodes: dict[str, dict[str, Any]] = {}
        self.vnetworks: dict[str, dict[str, Any]] = {}
        self.vnodes: dict[str, dict[str, Any]] = {}
        self._ids = 0
        self._starting: list[threading.Thread] = []
        self.requests = 0
        self.router = Router(error=distem_error)
        self._routes()

    # ------------------------------------------------------------------ plumbing
    def dispatch(self, req: Request) -> Response:
        """Serve one request (trailing slashes optional)."""
        with self.lock:
            self.requests += 1
        if len(req.path) > 1 and req.path.endswith("/"):
            req.path = req.path.rstrip("/")
        try:
            return self.router.dispatch(req)
        except DistemError as exc:
            return distem_error(exc.status, str(exc))

    def _routes(self) -> None:
        r = self.router
        name = r"(?P<name>[^/]+)"
        r.add("GET", "/pnodes", lambda req: self.pnodes_info())
        r.add("POST", "/pnodes", self.pnode_init)
        r.add("DELETE", "/pnodes", lambda req: self.pnodes_quit(None))
        r.add("GET", f"/pnodes/{name}", lambda req, name: self._pnode(name))
        r.add("DELETE", f"/pnodes/{name}", lambda req, name: self.pnodes_quit([name]))
        r.add("GET", "/vnetworks", lambda req: [dict(v) for v in self.vnetworks.values()])
        r.add("POST", "/vnetworks", self.vnetwork_create)
        r.add("GET", f"/vnetworks/{name}", lambda req, name: dict(self._vnetwork(name)))
        r.add("DELETE", f"/vnetworks/{name}", lambda req, name: self.vnetwork_remove(name))
        r.add("GET", "/vnodes", lambda req: [self._view(v) for v in self.vnodes.values()])
        r.add("POST", "/vnodes", self.vnodes_create)
        r.add("PUT", "/vnodes", self.vnodes_update)
        r.add("DELETE", "/vnodes", lambda req: self.vnodes_remove(_listify(_form(req).get("names"))))
        r.add("GET", f"/vnodes/{name}", lambda req, name: self._view(self._vnode(name)))
        r.add("POST", f"/vnodes/{name}", lambda req, name: self.vnode_create(name, _form(req)))
        r.add("PUT", f"/vnodes/{name}", lambda req, name: self.vnode_update(name, _form(req)))
        r.add("DELETE", f"/vnodes/{name}", lambda req, name: self.vnodes_remove([name])[0])
        r.add("GET", f"/vnodes/{name}/filesystem", lambda req, name: self._vnode(name)["vfilesystem"])
        r.add("POST", f"/vnodes/{name}/filesystem", lambda req, name: self.vfilesystem_set(name, _form(req)))
        r.add("PUT", f"/vnodes/{name}/filesystem", lambda req, name: self.vfilesystem_set(name, _form(req)))
        r.add("POST", f"/vnodes/{name}/ifaces", lambda req, name: self.viface_create(name, _form(req)))
        r.add("GET", f"/vnodes/{name}/ifaces/(?P<iface>[^/]+)", lambda req, name, iface: self._viface(name, iface))
        r.add("DELETE", f"/vnodes/{name}/ifaces/(?P<iface>[^/]+)",
              lambda req, name, iface: self.viface_remove(name, iface))
        r.add("POST", f"/vnodes/{name}/commands", lambda req, name: self.execute(name, _form(req).get("command")))
        r.add("POST", "/commands", self.vnodes_execute)
        for part in ("cpu", "vmem"):
            r.add("GET", f"/vnodes/{name}/{part}", lambda req, name, part=part: self._vnode(name)[f"v{part}" if part == "cpu" else part])
            for method in ("POST", "PUT"):
                r.add(method, f"/vnodes/{name}/{part}",
                      lambda req, name, part=part: self._set_part(name, part, _form(req).get("desc")))
            r.add("DELETE", f"/vnodes/{name}/{part}", lambda req, name, part=part: self._set_part(name, part, None))

    def _next_id(self) -> str:
        self._ids += 1
        return str(self._ids - 1)

    # ------------------------------------------------------------------ pnodes
    def _pnode(self, target: str) -> dict[str, Any]:
        for key, p in self.pnodes.items():
            if target in (key, p["address"], p.get("hostname")):
                return dict(p)
        raise DistemError(404, f"ResourceNotFoundError: pnode {target}")

    def pnodes_info(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(p) for p in self.pnodes.values()]

    def pnode_init(self, req: Request) -> Any:
        form = _form(req)
        targets = _listify(form.get("target")) or ["localhost"]
        allowed = self.allowed_pnodes()
        out = []
        for target in targets:
            if allowed is not None and target not in allowed:
                raise DistemError(400, f"InvalidParameterError: {target} is not a node distem-bootstrap "
                                       "was run for (the coordinator cannot reach its daemon)")
            if self.faults.pnode_fails():
                raise DistemError(500, f"ShellError: could not start the distem daemon on {target}")
            with self.lock:
                if target not in self.pnodes:
                    self.pnodes[target] = {
                        "id": self._next_id(), "address": target, "hostname": target, "status": "RUNNING",
                        "algorithms": {"cpu": "hogs"}, "memory": {"capacity": "16086 Mo", "swap": "3820 Mo"},
                        "cpu": {"id": "0", "cores": [], "cores_alloc": [], "critical_cache_links": []}}
                out.append(dict(self.pnodes[target]))
        return out

    def pnodes_quit(self, names: list[str] | None) -> Any:
        with self.lock:
            keys = list(self.pnodes) if names is None else [k for k in self.pnodes if k in names]
            if names is not None and not keys:
                raise DistemError(404, f"ResourceNotFoundError: pnode {names[0]}")
            gone = [v["name"] for v in self.vnodes.values() if v["host"] in keys]
        self.vnodes_remove(gone)
        with self.lock:
            out = [self.pnodes.pop(k) for k in keys]
            if names is None:
                self.vnetworks.clear()
        return out

    # ------------------------------------------------------------------ vnetworks
    def _vnetwork(self, name: str) -> dict[str, Any]:
        with self.lock:
            if name not in self.vnetworks:
                raise DistemError(404, f"ResourceNotFoundError: vnetwork {name}")
            return self.vnetworks[name]

    def vnetwork_create(self, req: Request) -> dict[str, Any]:
        form = _form(req)
        name, address = str(form.get("name") or ""), str(form.get("address") or "")
        if not name:
            raise DistemError(400, "InvalidParameterError: name")
        try:
            net = ipaddress.ip_network(address, strict=False)
        except ValueError:
            raise DistemError(400, f"InvalidParameterError: address {address!r}") from None
        with self.lock:
            if name in self.vnetworks:
                raise DistemError(400, f"AlreadyExistingResourceError: vnetwork {name}")
            for other in self.vnetworks.values():
                if ipaddress.ip_network(other["address"]).overlaps(net):
                    raise DistemError(400, f"InvalidParameterError: {address} overlaps vnetwork {other['name']}")
            vnet = {"name": name, "address": str(net), "vnodes": [], "vroutes": [], "opts": {}, "_next": 2}
            self.vnetworks[name] = vnet
            return self._public(vnet)

    @staticmethod
    def _public(vnet: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in vnet.items() if not k.startswith("_")}

    def vnetwork_remove(self, name: str) -> dict[str, Any]:
        with self.lock:
            vnet = self._vnetwork(name)
            if vnet["vnodes"]:
                raise DistemError(400, f"BusyResourceError: vnetwork {name} has vnodes {', '.join(vnet['vnodes'])}")
            return self._public(self.vnetworks.pop(name))

    # ------------------------------------------------------------------ vnodes
    def _vnode(self, name: str) -> dict[str, Any]:
        with self.lock:
            if name not in self.vnodes:
                raise DistemError(404, f"ResourceNotFoundError: vnode {name}")
            return self.vnodes[name]

    def _view(self, vnode: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            out = {k: v for k, v in vnode.items() if not k.startswith("_")}
            out["vifaces"] = [dict(i) for i in vnode["vifaces"]]
            return out

    def _ready(self, vnode: dict[str, Any]) -> None:
        if vnode["status"] == "INIT" and vnode["host"] and vnode["vfilesystem"]:
            vnode["status"] = "READY"

    def vnode_create(self, name: str, form: dict[str, Any]) -> dict[str, Any]:
        desc = form.get("desc") if isinstance(form.get("desc"), dict) else {}
        key = form.get("ssh_key") if isinstance(form.get("ssh_key"), dict) else {}
        host = desc.get("host")
        with self.lock:
            if name in self.vnodes:
                raise DistemError(400, f"AlreadyExistingResourceError: vnode {name}")
            if host is not None and str(host) not in self.pnodes:
                raise DistemError(400, f"InvalidParameterError: host {host} is not an initialised pnode")
            vnode = {"id": self._next_id(), "name": name, "status": "INIT", "host": host, "mode": desc.get("mode", "normal"),
                     "vfilesystem": None, "vifaces": [], "vcpu": None, "vmem": None,
                     "ssh_key": {"public": key.get("public"), "private": key.get("private")}}
            if desc.get("vfilesystem"):
                vnode["vfilesystem"] = self._filesystem(name, desc["vfilesystem"])
            self.vnodes[name] = vnode
            self._ready(vnode)
            return self._view(vnode)

    def vnodes_create(self, req: Request) -> list[dict[str, Any]]:
        form = _form(req)
        return [self.vnode_create(n, form) for n in _listify(form.get("names"))]

    def _filesystem(self, name: str, desc: dict[str, Any]) -> dict[str, Any]:
        image = str(desc.get("image") or "")
        if not image.startswith("file://"):
            raise DistemError(400, f"InvalidParameterError: vfilesystem image {image!r} (a file:// URL)")
        return {"vnode": name, "image": image, "shared": _true(desc.get("shared")),
                "path": f"/tmp/distem/rootfs-unique/{name}", "sharedpath": None, "cow": _true(desc.get("cow")),
                "disk_throttling": {}}

    def vfilesystem_set(self, name: str, form: dict[str, Any]) -> dict[str, Any]:
        desc = form.get("desc") if isinstance(form.get("desc"), dict) else form
        with self.lock:
            vnode = self._vnode(name)
            if vnode["status"] not in ("INIT", "READY", "DOWN"):
                raise DistemError(400, f"BusyResourceError: vnode {name} is {vnode['status']}")
            vnode["vfilesystem"] = self._filesystem(name, desc)
            self._ready(vnode)
            return dict(vnode["vfilesystem"])

    def _set_part(self, name: str, part: str, desc: Any) -> Any:
        with self.lock:
            vnode = self._vnode(name)
            vnode["vcpu" if part == "cpu" else "vmem"] = desc
            return desc or {}

    # ------------------------------------------------------------------ vifaces
    def _viface(self, name: str, iface: str) -> dict[str, Any]:
        with self.lock:
            for i in self._vnode(name)["vifaces"]:
                if i["name"] == iface:
                    return dict(i)
        raise DistemError(404, f"ResourceNotFoundError: viface {iface} of {name}")

    def viface_create(self, name: str, form: dict[str, Any]) -> dict[str, Any]:
        iface = str(form.get("name") or "")
        desc = form.get("desc") if isinstance(form.get("desc"), dict) else {}
        if not iface:
            raise DistemError(400, "InvalidParameterError: name")
        with self.lock:
            vnode = self._vnode(name)
            if any(i["name"] == iface for i in vnode["vifaces"]):
                raise DistemError(400, f"AlreadyExistingResourceError: viface {iface} of {name}")
            out = {"id": self._next_id(), "name": iface, "vnode": name, "address": None,
                   "macaddress": None, "vnetwork": None, "input": None, "output": None, "bridge": None}
            if desc.get("vnetwork"):
                vnet = self._vnetwork(str(desc["vnetwork"]))
                net = ipaddress.ip_network(vnet["address"])
                if desc.get("address"):
                    address = ipaddress.ip_address(str(desc["address"]).split("/")[0])
                    if address not in net:
                        raise DistemError(400, f"InvalidParameterError: {address} is not in {net}")
                else:
                    if vnet["_next"] >= net.num_addresses - 1:
                        raise DistemError(400, f"UnavailableResourceError: vnetwork {vnet['name']} is full")
                    address = net.network_address + vnet["_next"]
                    vnet["_next"] += 1
                out.update(address=f"{address}/{net.prefixlen}", vnetwork=vnet["name"],
                           macaddress="fe:16:" + ":".join(f"{b:02x}" for b in address.packed[-4:]))
                vnet["vnodes"].append(name)
            vnode["vifaces"].append(out)
            return dict(out)

    def viface_remove(self, name: str, iface: str) -> dict[str, Any]:
        with self.lock:
            vnode = self._vnode(name)
            found = self._viface(name, iface)
            vnode["vifaces"] = [i for i in vnode["vifaces"] if i["name"] != iface]
            if found["vnetwork"] in self.vnetworks:
                members = self.vnetworks[found["vnetwork"]]["vnodes"]
                if name in members:
                    members.remove(name)
            return found

    # ------------------------------------------------------------------ life cycle
    def vnode_update(self, name: str, form: dict[str, Any]) -> dict[str, Any]:
        kind = str(form.get("type") or "update")
        asynch = _true(form.get("async"))
        desc = form.get("desc") if isinstance(form.get("desc"), dict) else {}
        if kind in ("remove", "delete"):
            return self.vnodes_remove([name])[0]
        if kind == "stop":
            return self._stop(name)
        if kind in ("freeze", "unfreeze"):
            with self.lock:
                vnode = self._vnode(name)
                vnode["status"] = "FROZEN" if kind == "freeze" else "RUNNING"
                return self._view(vnode)
        if kind != "update":
            raise DistemError(400, f"InvalidParameterError: type {kind}")
        if desc.get("host"):
            with self.lock:
                vnode = self._vnode(name)
                if str(desc["host"]) not in self.pnodes:
                    raise DistemError(400, f"InvalidParameterError: host {desc['host']} is not an initialised pnode")
                vnode["host"] = str(desc["host"])
                self._ready(vnode)
        if str(desc.get("status", "")).upper() == "RUNNING":
            return self._start(name, asynch)
        if str(desc.get("status", "")).upper() == "DOWN":
            return self._stop(name)
        return self._view(self._vnode(name))

    def vnodes_update(self, req: Request) -> list[dict[str, Any]]:
        form = _form(req)
        names = _listify(form.get("names")) or list(self.vnodes)
        kind = str(form.get("type") or "update")
        if kind in ("remove", "delete"):
            return self.vnodes_remove(names)
        desc = form.get("desc") if isinstance(form.get("desc"), dict) else {}
        if kind == "update" and str(desc.get("status", "")).upper() == "RUNNING" and not _true(form.get("async")):
            runs = [self._prepare_start(n) for n in names]
            threads = [threading.Thread(target=run, daemon=True) for run in runs if run is not None]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            failed = [n for n in names if self.vnodes.get(n, {}).get("status") == "FAILED"]
            if failed:
                raise DistemError(500, f"ShellError: vnode(s) {', '.join(failed)} failed to start")
            return [self._view(self._vnode(n)) for n in names]
        return [self.vnode_update(n, {**form, "names": None}) for n in names]

    def _start(self, name: str, asynch: bool) -> dict[str, Any]:
        run = self._prepare_start(name)
        if run is None:
            return self._view(self._vnode(name))
        if asynch:
            thread = threading.Thread(target=run, name=f"distem-start-{name}", daemon=True)
            with self.lock:
                self._starting = [t for t in self._starting if t.is_alive()] + [thread]
            thread.start()
            return self._view(self._vnode(name))
        run()
        vnode = self._vnode(name)
        if vnode["status"] == "FAILED":
            raise DistemError(500, f"ShellError: vnode {name} failed to start")
        return self._view(vnode)

    def _prepare_start(self, name: str) -> Callable[[], None] | None:
        """Mark the vnode CONFIGURING; the work that makes it RUNNING (None: nothing to do)."""
        with self.lock:
            vnode = self._vnode(name)
            if vnode["status"] in ("RUNNING", "CONFIGURING"):
                return None
            if vnode["vfilesystem"] is None:
                raise DistemError(400, f"UninitializedResourceError: vnode {name} has no filesystem")
            if not vnode["host"]:
                if not self.pnodes:
                    raise DistemError(400, "UnavailableResourceError: no pnode to host the vnode")
                counts = {p: 0 for p in self.pnodes}
                for v in self.vnodes.values():
                    if v["host"] in counts:
                        counts[v["host"]] += 1
                vnode["host"] = min(counts, key=lambda p: (counts[p], p))
            iface = next((i for i in vnode["vifaces"] if i["vnetwork"]), None)
            if iface is None:
                raise DistemError(400, f"UninitializedResourceError: vnode {name} has no interface on a vnetwork")
            vnode["status"] = "CONFIGURING"
            fail = self.faults.start_fails()
            delay = float(self.faults.settings.start_delay or 0)
            vnet = self.vnetworks[iface["vnetwork"]]
            work = (name, vnet["name"], vnet["address"], iface["address"].split("/")[0], vnode["host"],
                    (vnode["ssh_key"] or {}).get("public"))

        def run() -> None:
            ok = False
            try:
                if delay:
                    self.sleep(delay)
                if not fail:
                    self.guests.start(*work)
                    ok = True
            except Exception:  # noqa: BLE001 - the vnode is FAILED, as Distem reports it
                ok = False
            with self.lock:
                current = self.vnodes.get(name)
                if current is not None and current["status"] == "CONFIGURING":
                    current["status"] = "RUNNING" if ok else "FAILED"
                    return
            if ok:  # removed or stopped meanwhile: nothing may stay behind
                self.guests.stop(name)

        return run

    def _stop(self, name: str) -> dict[str, Any]:
        with self.lock:
            vnode = self._vnode(name)
            vnode["status"] = "DOWN"
        self.guests.stop(name)
        return self._view(vnode)

    def vnodes_remove(self, names: list[str]) -> list[dict[str, Any]]:
        out = []
        for name in names:
            with self.lock:
                vnode = self._vnode(name)
                view = self._view(vnode)
                for iface in vnode["vifaces"]:
                    members = self.vnetworks.get(iface["vnetwork"] or "", {}).get("vnodes", [])
                    if name in members:
                        members.remove(name)
                del self.vnodes[name]
            self.guests.stop(name)
            out.append(view)
        return out

    # ------------------------------------------------------------------ commands
    def execute(self, name: str, command: Any) -> str:
        if not command:
            raise DistemError(400, "InvalidParameterError: command")
        with self.lock:
            vnode = self._vnode(name)
            if vnode["status"] != "RUNNING":
                raise DistemError(400, f"UninitializedResourceError: vnode {name} is {vnode['status']}")
        code, output = self.guests.execute(name, str(command))
        if code != 0:
            raise DistemError(500, f"ShellError: {command} on {name} exited {code}: {output.strip()[-200:]}")
        return output

    def vnodes_execute(self, req: Request) -> dict[str, str]:
        form = _form(req)
        return {n: self.execute(n, form.get("command")) for n in _listify(form.get("names"))}

    # ------------------------------------------------------------------ teardown
    def wait_starts(self, timeout: float = 30.0) -> None:
        """Wait for the asynchronous starts still running."""
        for t in list(self._starting):
            t.join(timeout)

    def clear(self) -> None:
        """Everything gone (what stopping the daemons does)."""
        self.wait_starts()
        self.pnodes_quit(None)
