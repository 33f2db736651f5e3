"""Node backends: the SSH hosts an emulated testbed hands out.

Two kinds, one API (:class:`Hosts`):

* :class:`Hosts` (``kind == "address"``) -- bookkeeping only: a host "is" the
  address it was given (nothing answers there). Works anywhere, for tests of
  the REST side.
* :class:`NetnsHosts` (``kind == "netns"``) -- every host is a real SSH host
  (a network namespace with its own sshd, hostname = its name) built with
  :class:`enoslib.nodes.NamespaceLab`, one NIC per network it is attached to,
  on Linux bridges of the machine (whose first address is the gateway). Needs root.

Usage::

    hosts = make_hosts("auto", tag="iot")            # netns when root, else address
    hosts.add_network("grenoble", "10.80.0.0/20")
    hosts.add_hosts(["m3-1", "m3-2"], ["grenoble"],
                    addresses={"m3-1": {"grenoble": "10.80.0.11"}})  # others: next free
    hosts.address("m3-1")                             # '10.80.0.11'
    print(hosts.ssh_config([(["m3-1.grenoble.iot-lab.info", "m3-1"], hosts.address("m3-1"))]))
    hosts.close()                                     # every host and bridge gone

Hosts also move between networks (:meth:`Hosts.move`, what a VLAN change is)
and are reset (:meth:`Hosts.reset`, what a redeployment is: processes killed,
home and /tmp wiped, sshd restarted).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import shutil
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "Hosts",
    "NetnsHosts",
    "make_hosts",
    "netns_available",
    "render_ssh_config",
]


def render_ssh_config(
    entries: Iterable[tuple[Sequence[str], str | None]],
    user: str = "root",
    options: Sequence[str] = (),
    header: str = "# emulated nodes",
    extra: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """ssh_config text: one ``Host <names>`` stanza per ``(names, address)`` entry.

    Entries without an address are skipped. ``options`` are ssh_config lines
    (``IdentityFile ...``) added to every stanza; ``extra`` maps the first name
    of an entry to more lines for that stanza (``ProxyJump gw``...).
    """
    lines = [header] if header else []
    for names, address in entries:
        if address is None:
            continue
        lines.append(f"Host {' '.join(names)}")
        lines.append(f"    HostName {address}")
        lines.append(f"    User {user}")
        lines.extend(f"    {o}" for o in options)
        lines.extend(f"    {o}" for o in (extra or {}).get(names[0], ()))
    return "\n".join(lines) + "\n"


class Hosts:
    """Address-only hosts: tracks networks, hosts and their addresses, creates nothing.

    Thread-safe. Subclasses make hosts real (:class:`NetnsHosts`).
    """

    kind = "address"

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.networks: dict[str, str] = {}  # name -> cidr
        self.gateways: dict[str, str] = {}  # name -> the machine's address on it
        self._hosts: dict[str, dict[str, str]] = {}  # name -> {network: address}, in NIC order
        self._cursor: dict[str, int] = {}

    # ------------------------------------------------------------------ networks
    def add_network(
        self, name: str, cidr: str, gateway: str | None = None, configure: bool = True,
        isolated: bool = False,
    ) -> str:
        """Declare a network (idempotent for the same cidr); returns its name.

        ``gateway`` is the machine's address on it (default: the first host address,
        never handed to a host). ``configure=False``: hosts' NICs there get no address
        (their DHCP client's business); ``isolated=True``: a switch the machine has no
        address on (its cidr may repeat another isolated network's; ``gateway`` is for a
        host to hold), see ``enoslib.nodes.NamespaceLab.add_bridge``.
        """
        with self._lock:
            net = ipaddress.ip_network(cidr)
            known = self.networks.get(name)
            if known is not None:
                if ipaddress.ip_network(known) != net:
                    raise ValueError(f"network {name!r} exists with another cidr ({known})")
                return name
            gw = gateway or str(next(net.hosts()))
            if ipaddress.ip_address(gw) not in net:
                raise ValueError(f"network {name!r}: gateway {gw} is not in {net}")
            self._create_network(name, str(net), gateway, configure=configure, isolated=isolated)
            self.networks[name] = str(net)
            self.gateways[name] = gw
            return name

    def _create_network(self, name: str, cidr: str, gateway: str | None, **options: bool) -> None:
        pass

    def _free_address(self, network: str) -> str:
        net = ipaddress.ip_network(self.networks[network])
        used = {a for h in self._hosts.values() for n, a in h.items() if n == network}
        used.add(self.gateways[network])
        hosts = list(net.hosts())
        start = self._cursor.get(network, 0)
        for k in range(len(hosts)):
            ip = str(hosts[(start + k) % len(hosts)])
            if ip not in used:
                self._cursor[network] = (start + k + 1) % len(hosts)
                return ip
        raise ValueError(f"network {network!r} ({net}) is full")

    # ------------------------------------------------------------------ hosts
    def __contains__(self, name: object) -> bool:
        return name in self._hosts

    @property
    def names(self) -> list[str]:
        """Names of the hosts that exist now."""
        with self._lock:
            return list(self._hosts)

    def add_hosts(
        self,
        names: Sequence[str],
        networks: Sequence[str],
        addresses: Mapping[str, Mapping[str, str]] | None = None,
        files: Mapping[str, Mapping[str, str]] | None = None,
        ifnames: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """Create hosts with one NIC per network (in that order).

        ``addresses[name][network]`` pins an address (without prefix length);
        other NICs get the next free address of their network. ``files[name]``: what
        that host shows at those paths (see :meth:`reset`; real hosts only).
        ``ifnames[name]``: its interface names (default eth0, eth1...; real hosts only).
        """
        with self._lock:
            for net in networks:
                if net not in self.networks:
                    raise ValueError(f"unknown network {net!r}: add_network() it first")
            clash = [n for n in names if n in self._hosts]
            if clash:
                raise ValueError(f"host(s) already exist: {', '.join(clash)}")
            self._create_hosts(list(names), list(networks), addresses or {}, files, ifnames)

    def _create_hosts(
        self,
        names: list[str],
        networks: list[str],
        addresses: Mapping[str, Mapping[str, str]],
        files: Mapping[str, Mapping[str, str]] | None = None,
        ifnames: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        for name in names:
            self._hosts[name] = {}
            for net in networks:
                self._hosts[name][net] = addresses.get(name, {}).get(net) or self._free_address(net)

    def remove_hosts(self, names: Iterable[str]) -> None:
        """Destroy these hosts (unknown names are ignored)."""
        with self._lock:
            for name in names:
                self._hosts.pop(name, None)

    def reset(self, name: str, files: Mapping[str, str] | None = None) -> None:
        """A redeployment: fresh processes, home and /tmp (no-op without real hosts).

        ``files`` (``{"/etc/os-release": text, ...}``): what the host shows at those
        paths from then on (private overlays: the machine's files are untouched).
        """

    def move(self, name: str, from_network: str, to_network: str, address: str | None = None,
             configure: bool | None = None) -> None:
        """Re-plug the host's NIC on ``from_network`` onto ``to_network`` (same NIC, new address).

        ``configure=False``: only the cable moves (real hosts keep their old address until
        their DHCP client asks); default: the network's ``configure``.
        """
        with self._lock:
            if to_network not in self.networks:
                raise ValueError(f"unknown network {to_network!r}")
            nics = self._hosts[name]
            if from_network not in nics:
                raise ValueError(f"host {name!r} has no NIC on {from_network!r}")
            self._move(name, from_network, to_network, address)

    def _move(self, name: str, from_network: str, to_network: str, address: str | None) -> None:
        nics = self._hosts[name]
        new = address or self._free_address(to_network)
        self._hosts[name] = {(to_network if n == from_network else n): (new if n == from_network else a)
                             for n, a in nics.items()}

    def interfaces(self, name: str) -> list[tuple[str, str]]:
        """``[(network, address), ...]`` of the host's NICs in order ([] if unknown)."""
        with self._lock:
            return list(self._hosts.get(name, {}).items())

    def address(self, name: str, network: str | None = None) -> str | None:
        """The host's address on ``network`` (default: its first NIC); None if none."""
        itfs = self.interfaces(name)
        if network is None:
            return itfs[0][1] if itfs else None
        return dict(itfs).get(network)

    # ------------------------------------------------------------------ ssh
    def ssh_user(self) -> str:
        """The login ssh uses on the hosts."""
        return "root"

    def ssh_options(self) -> list[str]:
        """ssh_config lines every stanza needs (``IdentityFile``...)."""
        return []

    def ssh_config(
        self,
        entries: Iterable[tuple[Sequence[str], str | None]],
        header: str = "# emulated nodes",
        extra: Mapping[str, Sequence[str]] | None = None,
    ) -> str:
        """:func:`render_ssh_config` with this backend's user and options."""
        return render_ssh_config(entries, self.ssh_user(), self.ssh_options(), header, extra)

    def close(self) -> None:
        """Destroy every host (and network, for real backends). Idempotent."""
        with self._lock:
            self.remove_hosts(list(self._hosts))


def netns_available() -> tuple[bool, str]:
    """``(usable, why not)`` for :class:`NetnsHosts` on this machine."""
    if os.geteuid() != 0:
        return False, "not root"
    for tool in ("ip", "sshd"):
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            return False, f"{tool} not found"
    try:
        from enoslib.nodes import NamespaceLab  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - ImportError, or the harness not ready
        return False, f"enoslib.nodes unavailable: {exc}"
    return True, ""


class NetnsHosts(Hosts):
    """Real SSH hosts: network namespaces with sshd on bridges, via ``NamespaceLab``.

    Args:
        lab: an existing :class:`enoslib.nodes.NamespaceLab` (kept on :meth:`close`);
            default: a lab of its own, destroyed on :meth:`close`.
        tag: up to 3 characters starting the generated lab name (``tag-<hash>``).
        name: the lab name instead (``[a-z0-9-]{1,12}``, unique on the machine).
        state_dir: where the lab keeps its state.
    """

    kind = "netns"

    def __init__(
        self,
        lab: Any = None,
        *,
        tag: str = "emu",
        name: str | None = None,
        state_dir: str | None = None,
    ) -> None:
        super().__init__()
        self._own_lab = lab is None
        if lab is None:
            from enoslib.nodes import NamespaceLab

            digest = hashlib.sha1(f"{os.getpid()}/{time.time_ns()}/{id(self)}".encode()).hexdigest()
            lab = NamespaceLab(name=name or f"{tag[:3]}-{digest[:8]}", state_dir=state_dir)
        self.lab = lab

    def _create_network(self, name: str, cidr: str, gateway: str | None, **options: bool) -> None:
        self.lab.add_bridge(name, cidr, gateway=gateway, **options)

    def _create_hosts(
        self,
        names: list[str],
        networks: list[str],
        addresses: Mapping[str, Mapping[str, str]],
        files: Mapping[str, Mapping[str, str]] | None = None,
        ifnames: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        wanted = {n: dict(addresses[n]) for n in names if addresses.get(n)}
        self.lab.add_nodes(
            names,
            networks=networks,
            addresses=wanted or None,
            files=files or None,
            ifnames=ifnames or None,
        )
        for name in names:
            self._hosts[name] = {}  # the lab knows the addresses

    def interfaces(self, name: str) -> list[tuple[str, str]]:
        info = self.lab.nodes.get(name)
        if info is None:
            return []
        return [(net, itf["address"].split("/")[0]) for net, itf in info.interfaces.items()]

    def remove_hosts(self, names: Iterable[str]) -> None:
        with self._lock:
            errors = []
            for name in names:
                if name in self.lab.nodes:
                    try:
                        self.lab.remove_node(name)
                    except Exception as exc:  # noqa: BLE001 - keep removing the others
                        errors.append(f"{name}: {exc}")
                self._hosts.pop(name, None)
            if errors:
                raise RuntimeError("; ".join(errors))

    def reset(self, name: str, files: Mapping[str, str] | None = None) -> None:
        with self._lock:
            if name in self.lab.nodes:
                if files is not None:
                    self.lab.set_files(name, files)
                self.lab.reset_node(name)

    def _move(self, name: str, from_network: str, to_network: str, address: str | None,
              configure: bool | None = None) -> None:
        self.lab.move_interface(name, from_network, to_network, address=address, configure=configure)

    def move(self, name: str, from_network: str, to_network: str, address: str | None = None,
             configure: bool | None = None) -> None:
        with self._lock:
            if to_network not in self.networks:
                raise ValueError(f"unknown network {to_network!r}")
            self._move(name, from_network, to_network, address, configure)

    def ssh_user(self) -> str:
        nodes = self.lab.nodes
        return next(iter(nodes.values())).user if nodes else "root"

    def ssh_options(self) -> list[str]:
        out, opts = [], list(self.lab.ssh_options())
        while opts:
            flag = opts.pop(0)
            value = opts.pop(0) if opts else ""
            if flag == "-i":
                out.append(f"IdentityFile {value}")
            elif flag == "-o" and "=" in value:
                key, _, val = value.partition("=")
                out.append(f"{key} {val}")
        return out

    def exec(self, name: str, argv: Sequence[str], **kwargs: Any) -> Any:
        """Run ``argv`` inside the host without ssh (``NamespaceLab.exec``)."""
        return self.lab.exec(name, argv, **kwargs)

    def close(self) -> None:
        with self._lock:
            try:
                super().close()
            finally:
                self._hosts.clear()
                if self._own_lab:
                    self.lab.destroy()


def make_hosts(kind: str = "auto", lab: Any = None, tag: str = "emu") -> Hosts:
    """``"address"``, ``"netns"`` (root) or ``"auto"`` (netns when available or ``lab`` given)."""
    if kind == "address":
        return Hosts()
    if kind == "netns":
        ok, why = netns_available()
        if not ok and lab is None:
            raise RuntimeError(f"namespace backend unavailable: {why}")
        return NetnsHosts(lab, tag=tag)
    if kind == "auto":
        ok, _ = netns_available()
        return NetnsHosts(lab, tag=tag) if ok or lab is not None else Hosts()
    raise ValueError(f"unknown backend {kind!r} (auto, netns or address)")
