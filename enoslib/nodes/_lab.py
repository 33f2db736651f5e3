"""The machinery both lab backends share: state file, naming, addressing, node lifecycle.

A lab is identified on the machine by its *name*: namespaces, link aliases and
an environment variable carried by every sshd all embed it, so a lab can be
found and removed even when its state file is lost. The state file is written
*before* each resource is created (an intent log), so a crash at any point
leaves enough behind for :meth:`BaseLab.load` or :meth:`BaseLab.cleanup_all`.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, TypeVar

from . import _cleanup
from . import sshd as sshd_mod
from ._names import (
    LAB_ENV,
    MAX_IFNAME_INDEX,
    NETWORK_NAME_RE,
    NODE_NAME_RE,
    STATE_FILE,
    check_lab_name,
    is_lab_dir,
    mac_address,
    node_marker,
)
from enoslib._signals import sigint_deferred

from ._system import CLEAN_PATH, kill_processes, pid_alive, run
from ._types import BridgeInfo, LabError, NodeInfo

STATE_VERSION = 1

#: Set by the test suite (tests/conftest.py) while a test not marked ``root`` runs, to the path
#: of a report file: creating namespaces or sshd there is a wrong marker, and ``pytest -m "not
#: root"`` must stay safe on a shared machine. Inherited by subprocesses (example scripts).
NO_LABS_ENV = "ENOSLIB_NO_LABS"


IFNAME_RE = re.compile(r"\A[A-Za-z][A-Za-z0-9_.-]{0,14}\Z")  # a Linux interface name


def _refuse_if_forbidden(what: str) -> None:
    report = os.environ.get(NO_LABS_ENV)
    if not report:
        return
    message = f"{what} while {NO_LABS_ENV} is set: a test creating labs must be marked root"
    try:  # the report survives a test that catches LabError
        with open(report, "a") as f:
            f.write(message + "\n")
    except OSError:
        pass
    raise LabError(message)

logger = logging.getLogger(__name__)

L = TypeVar("L", bound="BaseLab")


def _add_note(error: BaseException, note: str) -> None:
    """Attach ``note`` to ``error`` (Python >= 3.11), never replacing the error."""
    if hasattr(error, "add_note"):
        error.add_note(note)


class BaseLab:
    """SSH hosts on this machine; see :class:`~enoslib.nodes.NamespaceLab`.

    Subclasses provide the plumbing (``_create_bridge``, ``_setup_nodes``,
    ``_launch_argv`` ...); this class owns the bookkeeping and the lifecycle.
    """

    kind: ClassVar[str] = ""

    # ------------------------------------------------------------------ construction

    def __init__(self, name: str, state_dir: str | os.PathLike[str] | None = None) -> None:
        """Create an empty lab (keys, state file; no node yet).

        Raises :class:`LabError` if a lab of that name already exists: reattach
        to it with :meth:`load`, or remove it with :meth:`cleanup_all`.
        """
        check_lab_name(name)
        _refuse_if_forbidden(f"creating lab {name!r}")
        self._attach(name, Path(state_dir) if state_dir else self.default_state_dir(name))
        if self._state_path.exists():
            raise LabError(
                f"lab {name!r} already exists (state file {self._state_path}); reattach with "
                f"{type(self).__name__}.load({name!r}) or remove it with "
                f"{type(self).__name__}.cleanup_all({name!r})"
            )
        self._preflight()
        left = self.leftovers(name, self.state_dir)
        if left:
            raise LabError(
                f"leftovers of a previous lab {name!r} exist ({'; '.join(left)}): remove them "
                f"with {type(self).__name__}.cleanup_all({name!r})"
            )
        self._state: dict[str, Any] = {
            "version": STATE_VERSION,
            "kind": self.kind,
            "name": name,
            "uid": os.geteuid(),
            "created": time.time(),
            "counters": {"bridge": 0, "iface": 0, "node": 0},
            "bridges": {},
            "nodes": {},
            "extra": {},
        }
        self._claim_state_dir()
        try:
            (self.state_dir / "nodes").mkdir(exist_ok=True)
            (self.state_dir / "cm").mkdir(mode=0o700, exist_ok=True)
            sshd_mod.generate_key(self._host_key, f"enoslib-lab-{name}-host")
            sshd_mod.generate_key(Path(self.keyfile), f"enoslib-lab-{name}")
            self._authorized_keys.write_text(self._pubkey())
            self._hosts_file.write_text("")
            self._init_extra()
            self._save()
            self._write_hosts()
        except BaseException:
            shutil.rmtree(self.state_dir, ignore_errors=True)
            raise

    def _claim_state_dir(self) -> None:
        """Create the state dir and claim it atomically (the state file, O_EXCL).

        A directory holding anything but a lab's files is refused: destroy()
        deletes the state dir, it must never take someone's files with it.
        """
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not is_lab_dir(self.state_dir):
            raise LabError(f"state_dir {self.state_dir} holds files that are not a lab's")
        try:
            os.close(os.open(self._state_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            raise LabError(f"lab {self.name!r} is being created by another process") from None

    def _attach(self, name: str, state_dir: Path) -> None:
        self.name = name
        self.state_dir = state_dir.absolute()
        self._check_state_dir_location()
        self._lock = threading.RLock()
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._destroyed = False

    @classmethod
    def default_state_dir(cls, name: str) -> Path:
        raise NotImplementedError

    @classmethod
    def load(cls: type[L], name: str, state_dir: str | os.PathLike[str] | None = None) -> L | None:
        """Reattach to an existing lab from its state file; ``None`` if there is none.

        Nodes left half-created (or half-destroyed) by a crash are removed,
        missing bridges recreated, and nodes whose sshd died restarted.
        """
        check_lab_name(name)
        path = Path(state_dir) if state_dir else cls.default_state_dir(name)
        try:
            state = json.loads((path / STATE_FILE).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise LabError(f"unreadable state file {path / STATE_FILE}: {e}") from e
        if state.get("kind") != cls.kind or state.get("name") != name:
            raise LabError(
                f"{path / STATE_FILE} describes a {state.get('kind')!r} lab named "
                f"{state.get('name')!r}, not a {cls.kind!r} lab named {name!r}"
            )
        lab = cls.__new__(cls)
        lab._attach(name, path)
        lab._state = state
        lab._recover()
        return lab

    def _recover(self) -> None:
        with self._lock, sigint_deferred():
            broken = [r for r in self._state["nodes"].values() if r["status"] != "ready"]
            if broken:
                self._teardown(broken)
                for r in broken:
                    del self._state["nodes"][r["name"]]
                self._save()
                self._write_hosts()
            repaired = self._repair()
            if repaired:
                self._save()
                self._write_hosts()
                logger.warning("lab %r repaired on load: %s", self.name, "; ".join(repaired))
            dead = [
                r for r in self._state["nodes"].values()
                if not pid_alive(r.get("pid"), self._pid_marker(r))
            ]
            for r in dead:
                self._restart(r)
            if dead:
                self._wait(dead, timeout=30)

    # ------------------------------------------------------------------ context manager

    def __enter__(self: L) -> L:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.destroy()
            return
        # Never hide the original error (or Ctrl-C) behind a cleanup error.
        try:
            self.destroy()
        except Exception as cleanup_error:  # noqa: BLE001 (any error: exc is what matters)
            _add_note(exc, f"and destroying lab {self.name!r} failed: {cleanup_error}")

    # ------------------------------------------------------------------ paths & state

    @property
    def _state_path(self) -> Path:
        return self.state_dir / STATE_FILE

    @property
    def _host_key(self) -> Path:
        return self.state_dir / "ssh_host_ed25519_key"

    @property
    def _authorized_keys(self) -> Path:
        return self.state_dir / "authorized_keys"

    @property
    def _hosts_file(self) -> Path:
        return self.state_dir / "hosts"

    @property
    def keyfile(self) -> str:
        """Private key accepted by every node of the lab."""
        return str(self.state_dir / "id_ed25519")

    def _node_dir(self, node: str) -> Path:
        return self.state_dir / "nodes" / node

    def _pubkey(self) -> str:
        return Path(self.keyfile + ".pub").read_text()

    def _save(self) -> None:
        """Write the state atomically: a reader never sees half a file."""
        tmp = self._state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._state, indent=1, sort_keys=True))
        os.replace(tmp, self._state_path)

    def _check_state_dir_location(self) -> None:
        # Nodes get their own /tmp and home mounted over the real ones: a state
        # dir under those would vanish from the nodes' sshd (host key, config).
        resolved = self.state_dir.resolve()
        for covered in self._covered_dirs():
            c = Path(covered).resolve()
            if resolved == c or c in resolved.parents:
                raise LabError(
                    f"state_dir {self.state_dir} is under {covered}, which lab nodes replace "
                    f"with their own: choose another directory"
                )

    def _check_alive(self) -> None:
        if self._destroyed:
            raise LabError(f"lab {self.name!r} was destroyed")

    def _write_hosts(self) -> None:
        """/etc/hosts of every node (one file bind-mounted in all of them).

        Rewritten in place (same inode) so running nodes see updates.
        """
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        for rec in self._state["nodes"].values():
            lines.append(f"{self._ssh_target(rec)[0]}\t{rec['name']}")
        lines += self._state["extra"].get("hosts", [])
        with open(self._hosts_file, "w") as f:
            f.write("\n".join(lines) + "\n")

    def set_extra_hosts(self, lines: Sequence[str]) -> None:
        """More ``/etc/hosts`` lines for every node (``"10.0.0.2\tname alias"``), after the
        nodes' own names: what a DNS of the network would resolve."""
        with self._lock:
            self._check_alive()
            self._state["extra"]["hosts"] = [str(x) for x in lines if "\n" not in str(x)]
            self._save()
            self._write_hosts()

    # ------------------------------------------------------------------ views

    def _info(self, rec: Mapping[str, Any]) -> NodeInfo:
        host, port = self._ssh_target(rec)
        return NodeInfo(
            name=rec["name"],
            netns=rec.get("netns"),
            address=host,
            port=port,
            user=self._user(),
            keyfile=self.keyfile,
            interfaces={
                i["network"]: {"ifname": i["ifname"], "address": i["address"], "mac": i["mac"]}
                for i in rec["interfaces"]
            },
            pid=rec.get("pid"),
        )

    @property
    def nodes(self) -> dict[str, NodeInfo]:
        """Ready nodes by name, in creation order (snapshots)."""
        with self._lock:
            return {
                n: self._info(r) for n, r in self._state["nodes"].items() if r["status"] == "ready"
            }

    @property
    def bridges(self) -> dict[str, BridgeInfo]:
        """Networks by name, in creation order."""
        with self._lock:
            return {
                n: BridgeInfo(name=n, cidr=b["cidr"], ifname=b["ifname"], gateway=b["gateway"])
                for n, b in self._state["bridges"].items()
            }

    def _rec(self, node: str, *, any_status: bool = False) -> dict[str, Any]:
        rec = self._state["nodes"].get(node)
        if rec is None or (rec["status"] != "ready" and not any_status):
            raise LabError(f"lab {self.name!r} has no node {node!r}")
        return rec  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ networks

    def add_bridge(
        self, name: str, cidr: str, gateway: str | None = None, *, configure: bool = True,
        isolated: bool = False,
    ) -> BridgeInfo:
        """Add a network; its ``gateway`` (default: the first usable address) is held by
        the machine.

        ``configure=False``: node interfaces plugged here are left without address (up,
        unconfigured: a DHCP client's or nobody's business); the lab still books their
        address (what a DHCP server of the network would lease them).

        ``isolated=True``: a switch only (network-namespace labs): the machine holds no
        address there and does not route to it, so its cidr may overlap other isolated
        networks (the same private range at two sites); ``gateway`` is then an address
        for a node of the lab to hold (``add_nodes(addresses=...)``).
        """
        with self._lock:
            self._check_alive()
            if not NETWORK_NAME_RE.match(name):
                raise LabError(f"invalid network name {name!r}")
            if name in self._state["bridges"]:
                raise LabError(f"lab {self.name!r} already has a network {name!r}")
            try:
                net = ipaddress.ip_network(cidr, strict=True)
            except ValueError as e:
                raise LabError(f"invalid cidr {cidr!r} for network {name!r}: {e}") from e
            if net.version != 4:
                raise LabError(f"network {name!r}: only IPv4 cidrs are supported, got {cidr}")
            if net.num_addresses < 4:
                raise LabError(f"network {name!r}: {cidr} is too small (need /30 or larger)")
            for other in self._state["bridges"].values():
                if isolated or other.get("isolated"):
                    continue  # a switch: nothing of the machine's routing sees it
                if net.overlaps(ipaddress.ip_network(other["cidr"])):
                    raise LabError(
                        f"network {name!r} ({cidr}) overlaps network {other['name']!r} "
                        f"({other['cidr']}) of lab {self.name!r}"
                    )
            if not isolated:
                self._check_cidr(name, net)
            if gateway is not None:
                gw = ipaddress.ip_address(gateway)
                if gw not in net or gw in (net.network_address, net.broadcast_address):
                    raise LabError(f"network {name!r}: gateway {gateway} is not a host of {net}")
            index = self._state["counters"]["bridge"]
            if index > MAX_IFNAME_INDEX:
                raise LabError(f"lab {self.name!r}: too many bridges created")
            rec = {
                "name": name,
                "cidr": str(net),
                "gateway": str(gateway or next(net.hosts())),
                "ifname": self._bridge_ifname(index),
                "mac": mac_address(self.name, "bridge", name),
            }
            if not configure:
                rec["configure"] = False
            if isolated:
                rec["isolated"] = True
            self._state["counters"]["bridge"] = index + 1
            self._state["bridges"][name] = rec
            self._save()  # before creating: a crash leaves a findable trace
            try:
                self._create_bridge(rec)
            except BaseException as error:
                with sigint_deferred():
                    try:
                        self._delete_bridges([rec])
                    except LabError as cleanup_error:
                        _add_note(error, f"and removing the bridge failed: {cleanup_error}")
                    del self._state["bridges"][name]
                    self._save()
                raise
            return self.bridges[name]

    def remove_bridge(self, name: str) -> None:
        """Remove a network no node uses any more."""
        with self._lock, sigint_deferred():
            self._check_alive()
            rec = self._state["bridges"].get(name)
            if rec is None:
                raise LabError(f"lab {self.name!r} has no network {name!r}")
            users = [
                n["name"] for n in self._state["nodes"].values()
                if any(i["network"] == name for i in n["interfaces"])
            ]
            if users:
                raise LabError(f"network {name!r} is still used by {', '.join(users)}")
            self._delete_bridges([rec])
            del self._state["bridges"][name]
            self._save()

    def _allocate(self, network: str, count: int, exclude: Iterable[str] = ()) -> list[str]:
        """``count`` free addresses of ``network``, as ``a.b.c.d/len``.

        Sequential after the gateway, continuing after the last address handed
        out (wrapping around when the range is exhausted): an address freed by
        remove_node or move_interface is not reused at once, so no neighbour
        cache (the machine's, other nodes') still maps it to a gone MAC.
        Deterministic: the same sequence of calls yields the same addresses.
        """
        br = self._state["bridges"][network]
        net = ipaddress.ip_network(br["cidr"])
        gateway = ipaddress.ip_address(br["gateway"])
        used = {gateway} | {ipaddress.ip_interface(a).ip for a in exclude}
        for rec in self._state["nodes"].values():
            for itf in rec["interfaces"]:
                if itf["network"] == network:
                    used.add(ipaddress.ip_interface(itf["address"]).ip)
        first, last = int(net.network_address) + 1, int(net.broadcast_address) - 1
        start = int(ipaddress.ip_address(br.get("cursor") or net.network_address)) + 1
        found: list[str] = []
        for low, high in ((start, last), (first, start - 1)):
            i = low
            while i <= high and len(found) < count:
                ip = ipaddress.ip_address(i)
                if ip not in used:
                    found.append(f"{ip}/{net.prefixlen}")
                i += 1
        if len(found) < count:
            raise LabError(
                f"network {network!r} ({br['cidr']}) has {len(found)} free addresses, {count} needed"
            )
        if found:
            br["cursor"] = found[-1].split("/")[0]
        return found

    def _check_address(self, network: str, address: str) -> str:
        """Validate an explicitly requested address on ``network``; returns ``a.b.c.d/len``."""
        br = self._state["bridges"][network]
        net = ipaddress.ip_network(br["cidr"])
        try:
            ip = ipaddress.ip_interface(address).ip
        except ValueError as e:
            raise LabError(f"invalid address {address!r}: {e}") from e
        if ip not in net or ip in (net.network_address, net.broadcast_address):
            raise LabError(f"address {address} is not a host address of {network!r} ({net})")
        if str(ip) == br["gateway"] and not br.get("isolated"):
            raise LabError(f"address {address} is the gateway of {network!r}")
        for rec in self._state["nodes"].values():
            for itf in rec["interfaces"]:
                if itf["network"] == network and ipaddress.ip_interface(itf["address"]).ip == ip:
                    raise LabError(f"address {ip} is already used by {rec['name']} on {network!r}")
        return f"{ip}/{net.prefixlen}"

    # ------------------------------------------------------------------ nodes

    def add_node(
        self,
        name: str,
        networks: Sequence[str] | None = None,
        *,
        addresses: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> NodeInfo:
        """Add one node; ``addresses`` maps a network to a wanted address. See :meth:`add_nodes`."""
        wanted = {name: dict(addresses)} if addresses else None
        return self.add_nodes([name], networks=networks, addresses=wanted, timeout=timeout)[0]

    def add_nodes(
        self,
        names: Sequence[str],
        networks: Sequence[str] | None = None,
        *,
        addresses: Mapping[str, Mapping[str, str]] | None = None,
        files: Mapping[str, Mapping[str, str]] | None = None,
        ifnames: Mapping[str, Sequence[str]] | None = None,
        timeout: float = 30.0,
    ) -> list[NodeInfo]:
        """Create nodes, each with one interface per network (eth0, eth1... in order).

        ``files[node]`` (``{absolute path: text}``; network-namespace labs only) are
        files the node sees from its start on, see ``NamespaceLab.set_files``.
        ``ifnames[node]`` names its interfaces (default ``eth0``, ``eth1``...).

        ``networks`` defaults to every network of the lab. Addresses are
        allocated sequentially, unless ``addresses[node][network]`` gives one.
        All sshd start in parallel; returns once each answers an SSH banner
        (within ``timeout`` seconds). On any failure, Ctrl-C included, the
        nodes of this call are removed again before the exception propagates.
        """
        names = [names] if isinstance(names, str) else list(names)
        with self._lock:
            self._check_alive()
            for n in names:
                if not isinstance(n, str) or not NODE_NAME_RE.match(n):
                    raise LabError(f"invalid node name {n!r}: a hostname of at most 63 characters")
                if n in self._state["nodes"]:
                    raise LabError(f"lab {self.name!r} already has a node {n!r}")
            if len(set(names)) != len(names):
                raise LabError(f"duplicate node names in {names}")
            nets = list(self._state["bridges"]) if networks is None else list(networks)
            for net in nets:
                if net not in self._state["bridges"]:
                    raise LabError(f"lab {self.name!r} has no network {net!r} (add_bridge first)")
            if len(set(nets)) != len(nets):
                raise LabError(f"duplicate networks in {nets}")
            self._check_networks(nets)
            if nets and not self._state["bridges"][nets[0]].get("configure", True):
                raise LabError(f"network {nets[0]!r} leaves interfaces unconfigured: it cannot "
                               "be a node's first network (its ssh address)")
            if not names:
                return []
            wanted = {n: dict((addresses or {}).get(n, {})) for n in names}
            for n, per_net in wanted.items():
                for net, address in per_net.items():
                    if net not in nets:
                        raise LabError(f"address given for node {n!r} on {net!r}, not one of {nets}")
                    per_net[net] = self._check_address(net, address)
            chosen: dict[str, dict[str, str]] = {n: {} for n in names}
            for net in nets:
                explicit = [w[net] for w in wanted.values() if net in w]
                if len({a.split("/")[0] for a in explicit}) != len(explicit):
                    raise LabError(f"the same address is requested twice on network {net!r}")
                auto = iter(self._allocate(net, len(names) - len(explicit), exclude=explicit))
                for n in names:
                    chosen[n][net] = wanted[n].get(net) or next(auto)
            records = []
            counters = self._state["counters"]
            for n in names:
                own = list((ifnames or {}).get(n, []))
                if own and (len(own) != len(nets) or len(set(own)) != len(own) or not all(
                        IFNAME_RE.match(x) for x in own)):
                    raise LabError(f"ifnames of {n!r} must be {len(nets)} distinct interface names")
                interfaces = []
                for i, net in enumerate(nets):
                    interfaces.append({
                        "network": net,
                        "ifname": own[i] if own else f"eth{i}",
                        "host_ifname": self._veth_ifname(counters["iface"]),
                        "address": chosen[n][net],
                        "mac": mac_address(self.name, n, net),
                        **({} if self._state["bridges"][net].get("configure", True)
                           else {"configured": False}),
                    })
                    counters["iface"] += 1
                rec = {
                    "name": n,
                    "index": counters["node"],
                    "status": "creating",
                    "netns": self._netns_name(n),
                    "port": 22,
                    "pid": None,
                    "interfaces": interfaces,
                }
                if files and files.get(n):
                    rec["files"] = self._check_files(files[n])
                counters["node"] += 1
                records.append(rec)
                self._state["nodes"][n] = rec
            self._save()  # intent first: whatever happens next can be found and undone
            try:
                self._setup_nodes(records)
                self._write_hosts()
                for rec in records:
                    self._prepare_node_dir(rec)
                    self._launch(rec)
                self._save()
                self._wait(records, timeout=timeout)  # marks them ready
            except BaseException as error:
                with sigint_deferred():
                    try:
                        self._teardown(records)
                    except LabError as cleanup_error:
                        _add_note(error, f"and removing the new nodes failed: {cleanup_error}")
                    finally:
                        for rec in records:
                            self._state["nodes"].pop(rec["name"], None)
                        self._save()
                        self._write_hosts()
                raise
            return [self._info(r) for r in records]

    def remove_node(self, name: str) -> None:
        """Stop every process of the node and delete it and its interfaces."""
        with self._lock, sigint_deferred():
            self._check_alive()
            rec = self._rec(name, any_status=True)  # a failed removal can be retried
            rec["status"] = "removing"
            self._save()
            self._teardown([rec])
            del self._state["nodes"][name]
            self._save()
            self._write_hosts()

    def reset_node(self, name: str, *, timeout: float = 30.0) -> NodeInfo:
        """A fresh deployment: kill all the node's processes, wipe its /root and /tmp, restart sshd.

        Interfaces and addresses are kept.
        """
        with self._lock:
            self._check_alive()
            rec = self._rec(name)
            with sigint_deferred():
                self._kill([rec])
                ndir = self._node_dir(name)
                sshd_mod.empty_dir(ndir / "home")
                sshd_mod.empty_dir(ndir / "tmp")
                self._prepare_node_dir(rec)
            self._restart(rec)
            self._wait([rec], timeout=timeout)
            return self._info(rec)

    def move_interface(
        self, node: str, from_network: str, to_network: str, address: str | None = None,
        *, configure: bool | None = None,
    ) -> NodeInfo:
        """Re-attach the node's NIC on ``from_network`` to ``to_network`` (a KaVLAN change).

        The interface keeps its name and MAC; its address becomes ``address``
        or the next free one of ``to_network``. ``configure=False`` (default: the
        network's ``configure``) only moves the cable: inside the node the interface keeps
        whatever it had (a DHCP client there obtains the booked address).
        """
        with self._lock, sigint_deferred():
            self._check_alive()
            rec = self._rec(node)
            for net in (from_network, to_network):
                if net not in self._state["bridges"]:
                    raise LabError(f"lab {self.name!r} has no network {net!r}")
            itf = next((i for i in rec["interfaces"] if i["network"] == from_network), None)
            if itf is None:
                raise LabError(f"node {node!r} has no interface on network {from_network!r}")
            if any(i["network"] == to_network for i in rec["interfaces"]):
                raise LabError(f"node {node!r} already has an interface on {to_network!r}")
            self._check_networks([to_network])
            new_address = (
                self._check_address(to_network, address)
                if address is not None
                else self._allocate(to_network, 1)[0]
            )
            first = itf is rec["interfaces"][0]
            old = dict(itf)
            if configure is None:
                configure = self._state["bridges"][to_network].get("configure", True)
            if not configure and first:
                raise LabError(f"node {node!r}: its first interface (ssh address) must be configured")
            itf.update(network=to_network, address=new_address)
            itf.pop("configured", None)
            if not configure:
                itf["configured"] = False
            try:
                self._move_interface(rec, itf, old, first)
            except BaseException:
                itf.clear()
                itf.update(old)
                raise
            self._save()
            self._write_hosts()
            return self._info(rec)

    # ------------------------------------------------------------------ node internals

    def _prepare_node_dir(self, rec: Mapping[str, Any]) -> None:
        ndir = self._node_dir(rec["name"])
        ndir.mkdir(mode=0o700, parents=True, exist_ok=True)
        sshd_mod.make_home(ndir / "home", self._pubkey())
        sshd_mod.make_tmp(ndir / "tmp")
        (ndir / "sshd_config").write_text(
            sshd_mod.render_config(
                sshd=sshd_mod.sshd_binary(),
                host_key=self._host_key,
                authorized_keys=self._authorized_keys,
                pid_file=ndir / "sshd.pid",
                port=rec["port"],
                listen=self._listen_address(rec),
                header=f"enoslib.nodes lab {self.name}, node {rec['name']}",
            )
        )

    def _launch_env(self, rec: Mapping[str, Any]) -> dict[str, str]:
        return {
            "PATH": CLEAN_PATH,
            "LANG": "C.UTF-8",
            LAB_ENV: f"{self.name}/{rec['name']}",
        }

    def _sshd_argv(self, rec: Mapping[str, Any]) -> list[str]:
        """sshd in the foreground, logging to stderr (the node's sshd.log).

        ``SetEnv`` marks the sshd command line and every session's environment
        with ``ENOSLIB_NODES=<lab>/<node>``: that is how a node's processes
        are found again, even by another process after a crash.
        """
        return [
            sshd_mod.sshd_binary(), "-D", "-e",
            "-f", str(self._node_dir(rec["name"]) / "sshd_config"),
            "-o", f"SetEnv={LAB_ENV}={self.name}/{rec['name']}",
        ]

    def _launch(self, rec: dict[str, Any]) -> subprocess.Popen[bytes]:
        """Start the node's sshd in the background (its own session: Ctrl-C is ours, not its)."""
        _refuse_if_forbidden(f"starting sshd of node {rec['name']!r} of lab {self.name!r}")
        log = self._node_dir(rec["name"]) / "sshd.log"
        # sshd writes its pid file once listening: a stale one would fake readiness.
        (self._node_dir(rec["name"]) / "sshd.pid").unlink(missing_ok=True)
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                self._launch_argv(rec),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=self._launch_env(rec),
            )
        self._procs[rec["name"]] = proc
        rec["pid"] = proc.pid
        return proc

    def _restart(self, rec: dict[str, Any]) -> None:
        self._launch(rec)
        self._save()

    def _wait(self, records: Sequence[dict[str, Any]], *, timeout: float) -> None:
        sshd_mod.wait_banners(
            {r["name"]: self._ssh_target(r) for r in records},
            timeout=timeout,
            procs={r["name"]: self._procs[r["name"]] for r in records if r["name"] in self._procs},
            logs={r["name"]: self._node_dir(r["name"]) / "sshd.log" for r in records},
            pidfiles={r["name"]: self._node_dir(r["name"]) / "sshd.pid" for r in records},
        )
        for r in records:
            r["status"] = "ready"
        self._save()

    def _pid_marker(self, rec: Mapping[str, Any]) -> bytes:
        """Part of the sshd command line (its config path): tells our sshd from a reused pid."""
        return str(self._node_dir(rec["name"]) / "sshd_config").encode()

    def _kill(self, records: Sequence[Mapping[str, Any]]) -> None:
        find = _cleanup.lab_process_finder(
            markers=[node_marker(self.name, r["name"]) for r in records],
            netns_paths=[f"/run/netns/{r['netns']}" for r in records if r.get("netns")],
        )
        children = {}
        for r in records:
            proc = self._procs.pop(r["name"], None)
            if proc is not None:
                children[proc.pid] = proc
        kill_processes(find, children=children)

    def _teardown(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Kill, unplug and delete ``records``; keeps going after errors, reports them all."""
        errors = []
        for step in (self._kill, self._delete_node_resources):
            try:
                step(records)
            except LabError as e:
                errors.append(str(e))
        for r in records:
            shutil.rmtree(self._node_dir(r["name"]), ignore_errors=True)
        if errors:
            raise LabError("; ".join(errors))

    # ------------------------------------------------------------------ remote access

    def exec(
        self,
        node: str,
        argv: Sequence[str],
        *,
        input: str | None = None,
        check: bool = False,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the node (its namespaces, home and /tmp), without ssh.

        The environment is a clean one like an ssh session's, plus ``env``.
        With ``check``, a non-zero exit raises :class:`LabError`.
        """
        if isinstance(argv, str):
            raise LabError("exec takes a list of arguments; use ['sh', '-c', script] for a shell")
        with self._lock:
            self._check_alive()
            rec = self._rec(node)
            if not pid_alive(rec.get("pid"), self._pid_marker(rec)):
                raise LabError(f"sshd of node {node!r} is not running: reset_node({node!r})")
            prefix, home = self._exec_prefix(rec)
        environment = {
            "PATH": CLEAN_PATH,
            "HOME": home,
            "USER": self._user(),
            "LOGNAME": self._user(),
            "LANG": "C.UTF-8",
            LAB_ENV: f"{self.name}/{node}",  # found and killed with the node
            **(env or {}),
        }
        return run(
            prefix + list(argv),
            input=input,
            check=check,
            timeout=timeout,
            env=environment,
            what=f"{shlex.join(argv)} on node {node!r}",
        )

    def wait_ssh(self, timeout: float = 10.0, names: Iterable[str] | None = None) -> None:
        """Block until every node (or ``names``) answers an SSH banner on its address."""
        with self._lock:
            self._check_alive()
            recs = [self._rec(n) for n in (names if names is not None else self.nodes)]
            targets = {r["name"]: self._ssh_target(r) for r in recs}
        sshd_mod.wait_banners(targets, timeout=timeout)

    def ssh_options(self, multiplex: bool = False) -> list[str]:
        """ssh client options for the nodes (key, no host key checks, quiet).

        With ``multiplex``, one ControlMaster connection per node is kept in
        the state dir (closed when the node's sshd goes away).
        """
        opts = ["-i", self.keyfile]
        for o in sshd_mod.CLIENT_OPTIONS:
            opts += ["-o", o]
        if multiplex:
            opts += [
                "-o", "ControlMaster=auto",
                "-o", f"ControlPath={self.state_dir}/cm/%C",
                "-o", "ControlPersist=60",
            ]
        return opts

    def ssh_argv(self, node: str, multiplex: bool = False) -> list[str]:
        """``ssh ... user@address`` for ``node``: append the remote command."""
        info = self.nodes.get(node)
        if info is None:
            raise LabError(f"lab {self.name!r} has no node {node!r}")
        return ["ssh", *self.ssh_options(multiplex), "-p", str(info.port), f"{info.user}@{info.address}"]

    # ------------------------------------------------------------------ teardown

    def destroy(self) -> None:
        """Kill every process of the lab, delete all its resources and its state dir.

        Idempotent. Raises :class:`LabError` if anything is left afterwards.
        """
        with self._lock, sigint_deferred():
            if self._destroyed:
                return
            children = {p.pid: p for p in self._procs.values()}
            self._procs.clear()
            bridges = [b["ifname"] for b in self._state["bridges"].values() if b.get("ifname")]
            hosts_ifs = [
                i["host_ifname"]
                for r in self._state["nodes"].values()
                for i in r["interfaces"]
                if i.get("host_ifname")
            ]
            errors = []
            try:
                _cleanup.sweep(
                    self.name, self.state_dir, children=children, links=hosts_ifs + bridges
                )
            except LabError as e:
                errors.append(str(e))
            self._destroyed = True
            left = self.leftovers(self.name, self.state_dir)
            if left:
                errors.append("left behind: " + "; ".join(left))
            if errors:
                raise LabError(f"destroying lab {self.name!r}: " + " / ".join(errors))

    @classmethod
    def leftovers(cls, name: str, state_dir: str | os.PathLike[str] | None = None) -> list[str]:
        """Human-readable list of what exists of lab ``name`` on the machine (empty: nothing)."""
        check_lab_name(name)
        return _cleanup.leftovers(name, Path(state_dir) if state_dir else cls.default_state_dir(name))

    @classmethod
    def cleanup_all(
        cls, prefix_or_name: str, state_dir: str | os.PathLike[str] | None = None
    ) -> list[str]:
        """Crash recovery: remove every trace of a lab, state file or not.

        ``prefix_or_name`` is a lab name, matched exactly (``"rpx"`` never
        touches ``"rpx-a"``), or a prefix ending with ``*`` (``"ci-*"``) to
        remove every lab whose name starts with it. ``state_dir`` applies to an
        exact name only. Returns the names of the labs removed.
        """
        if prefix_or_name.endswith("*"):
            prefix = prefix_or_name.rstrip("*")
            names = sorted(
                n for n in _cleanup.discover(cls.default_state_dir("x").parent)
                if n.startswith(prefix)
            )
            directory = None
        else:
            check_lab_name(prefix_or_name)
            names = [prefix_or_name]
            directory = Path(state_dir) if state_dir else None
        for n in names:
            _cleanup.sweep(n, directory or cls.default_state_dir(n))
        return names

    # ------------------------------------------------------------------ backend hooks

    def _preflight(self) -> None:
        """Check the machine can host this kind of lab (tools, privileges)."""

    def _init_extra(self) -> None:
        """Backend-specific state, set once at creation (``self._state["extra"]``)."""

    def _covered_dirs(self) -> list[str]:
        return ["/tmp"]

    def _user(self) -> str:
        raise NotImplementedError

    def _check_cidr(self, name: str, net: ipaddress.IPv4Network) -> None:
        """Refuse networks that would disturb the machine."""

    def _check_files(self, files: Mapping[str, str]) -> dict[str, str]:
        raise LabError(f"{type(self).__name__} cannot give nodes their own files")

    def _check_networks(self, networks: Sequence[str]) -> None:
        """Refuse network lists the backend cannot attach."""

    def _bridge_ifname(self, index: int) -> str | None:
        return None

    def _veth_ifname(self, index: int) -> str | None:
        return None

    def _netns_name(self, node: str) -> str | None:
        return None

    def _create_bridge(self, rec: Mapping[str, Any]) -> None:
        pass

    def _delete_bridges(self, recs: Sequence[Mapping[str, Any]]) -> None:
        pass

    def _setup_nodes(self, records: Sequence[dict[str, Any]]) -> None:
        pass

    def _delete_node_resources(self, records: Sequence[Mapping[str, Any]]) -> None:
        pass

    def _repair(self) -> list[str]:
        """Fix what a crash left half-done; returns what was repaired."""
        return []

    def _listen_address(self, rec: Mapping[str, Any]) -> str | None:
        return None

    def _launch_argv(self, rec: Mapping[str, Any]) -> list[str]:
        raise NotImplementedError

    def _ssh_target(self, rec: Mapping[str, Any]) -> tuple[str, int]:
        raise NotImplementedError

    def _exec_prefix(self, rec: Mapping[str, Any]) -> tuple[list[str], str]:
        """Command prefix entering the node, and its home directory as seen inside."""
        raise NotImplementedError

    def _move_interface(
        self, rec: Mapping[str, Any], itf: Mapping[str, Any], old: Mapping[str, Any], first: bool
    ) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, nodes={len(self._state['nodes'])}, "
            f"networks={list(self._state['bridges'])})"
        )
