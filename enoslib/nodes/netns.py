"""Root backend: every node is a network namespace with its own sshd, on Linux bridges.

Layout of one lab on the machine (lab ``demo``, tag = 6 hex chars of its name hash)::

    root namespace                          node namespace "enos-demo.h1"
    bridge enb<tag>0  10.42.0.1/24  <--->  veth env<tag>0  ==  eth0 10.42.0.2/24
    bridge enb<tag>1  10.43.0.1/24  <--->  veth env<tag>1  ==  eth1 10.43.0.2/24

Each sshd runs under ``ip netns exec`` in a private mount and UTS namespace
where the node's own directories are mounted over ``/root`` and ``/tmp`` and
the hostname is the node's name: root's real ``~/.bashrc`` (pyenv...) never
runs on a node, and nodes do not see each other's files.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import shutil
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from . import sshd as sshd_mod
from ._lab import BaseLab
from ._names import bridge_ifname, link_alias, netns_prefix, veth_ifname
from ._system import delete_links, existing_links, ip_batch, ip_json, netns_names
from ._types import LabError

__all__ = ["NamespaceLab"]

STATE_ROOT = Path("/run/enoslib-nodes")
REQUIRED_TOOLS = ("ip", "unshare", "nsenter", "mount", "hostname", "ssh-keygen")


class NamespaceLab(BaseLab):
    """N real SSH hosts on this machine, one network namespace each (needs root).

    >>> with NamespaceLab("demo") as lab:            # doctest: +SKIP
    ...     lab.add_bridge("net1", "10.42.0.0/24")
    ...     lab.add_nodes(["h1", "h2"], networks=["net1"])
    ...     lab.exec("h1", ["hostname"]).stdout      # 'h1\\n'

    ``state_dir`` (default ``/run/enoslib-nodes/<name>``) holds the keys,
    sshd configurations, the nodes' homes and /tmp, and ``state.json``.
    """

    kind = "netns"

    @classmethod
    def default_state_dir(cls, name: str) -> Path:
        return STATE_ROOT / name

    @property
    def _resolv_conf(self) -> Path:
        return self.state_dir / "resolv.conf"

    def _init_extra(self) -> None:
        # Nodes have no route to the machine's DNS server (no forwarding): any
        # lookup that misses /etc/hosts (e.g. the IPv6 half of `getent hosts`)
        # would wait 10 s for it. No nameserver line means 127.0.0.1, which
        # refuses at once inside the node.
        self._resolv_conf.write_text(
            "# enoslib lab node: no DNS server reachable, fail fast\noptions timeout:1 attempts:1\n"
        )

    # ------------------------------------------------------------------ checks

    def _preflight(self) -> None:
        if os.geteuid() != 0:
            raise LabError("NamespaceLab needs root (network namespaces): use LoopbackLab")
        missing = [t for t in REQUIRED_TOOLS if shutil.which(t) is None]
        if missing:
            raise LabError(f"missing tools for NamespaceLab: {', '.join(missing)}")
        sshd_mod.sshd_binary()
        # sshd refuses to start without its privilege separation directory.
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)

    def _covered_dirs(self) -> list[str]:
        return ["/tmp", "/root"]

    def _user(self) -> str:
        return "root"

    def _check_cidr(self, name: str, net: ipaddress.IPv4Network) -> None:
        # The bridge address lives in the machine's own namespace: a network
        # overlapping a route of the machine would hijack real traffic.
        if not net.is_private or net.is_loopback or net.is_link_local or net.is_multicast:
            raise LabError(f"network {name!r}: {net} is not a private network")
        for server in _nameservers():
            if server in net:
                raise LabError(
                    f"network {name!r}: {net} contains {server}, a DNS server of this machine"
                )
        for route in ip_json(["-4", "route", "show", "table", "all"]):
            dst = route.get("dst", "")
            if not dst or dst == "default":
                continue
            try:
                other = ipaddress.ip_network(dst, strict=False)
            except ValueError:
                continue
            if other.version == 4 and net.overlaps(other) and other.prefixlen > 0:
                raise LabError(
                    f"network {name!r}: {net} overlaps {dst} (route via "
                    f"{route.get('dev', '?')}) on this machine"
                )

    def _check_networks(self, networks: Sequence[str]) -> None:
        if not networks:
            raise LabError("a NamespaceLab node needs at least one network (its ssh address)")

    # ------------------------------------------------------------------ names

    def _bridge_ifname(self, index: int) -> str:
        return bridge_ifname(self.name, index)

    def _veth_ifname(self, index: int) -> str:
        return veth_ifname(self.name, index)

    def _netns_name(self, node: str) -> str:
        return netns_prefix(self.name) + node

    # ------------------------------------------------------------------ bridges

    def _create_bridge(self, rec: Mapping[str, Any]) -> None:
        prefix = ipaddress.ip_network(rec["cidr"]).prefixlen
        ifname = rec["ifname"]
        if rec.get("isolated"):  # a switch: no address, no route of the machine
            ip_batch([
                f"link add name {ifname} address {rec['mac']} type bridge",
                f"link set dev {ifname} alias {link_alias(self.name)}",
                f"link set dev {ifname} up",
            ])
            return
        ip_batch([
            # A fixed MAC: otherwise the bridge takes its lowest port's, which
            # changes as nodes come and go and stales the nodes' ARP caches.
            f"link add name {ifname} address {rec['mac']} type bridge",
            f"link set dev {ifname} alias {link_alias(self.name)}",
            f"addr add {rec['gateway']}/{prefix} brd + dev {ifname} noprefixroute",
            f"link set dev {ifname} up",
            _subnet_route(rec["cidr"], ifname, rec["gateway"]),
        ])

    def _delete_bridges(self, recs: Sequence[Mapping[str, Any]]) -> None:
        delete_links([r["ifname"] for r in recs if r.get("ifname")])

    # ------------------------------------------------------------------ nodes

    def _setup_nodes(self, records: Sequence[dict[str, Any]]) -> None:
        bridges = self._state["bridges"]
        lines = []
        for rec in records:
            ns = rec["netns"]
            lines.append(f"netns add {ns}")
            for itf in rec["interfaces"]:
                host_if = itf["host_ifname"]
                # The node end is born inside the namespace: "eth0" exists in
                # the root namespace too, so it could not be created there.
                bridge = bridges[itf["network"]]["ifname"]
                lines += [
                    (
                        f"link add {host_if} type veth peer name {itf['ifname']} "
                        f"address {itf['mac']} netns {ns}"
                    ),
                    f"link set dev {host_if} alias {link_alias(self.name)}",
                    f"link set dev {host_if} master {bridge} up",
                    _forget_neighbour(itf["address"], bridge),
                ]
        ip_batch(lines)
        # Inside each namespace: one small `ip -batch` per node, a few in parallel.
        with ThreadPoolExecutor(max_workers=min(8, len(records))) as pool:
            for _ in pool.map(self._configure_inside, records):
                pass

    def _configure_inside(self, rec: Mapping[str, Any]) -> None:
        lines = ["link set dev lo up"]
        for k, itf in enumerate(rec["interfaces"]):
            lines += self._address_lines(itf, first=k == 0)
        # arp_notify: see _address_lines. A sysctl of the namespace, so it is
        # set from inside it (`ip -n` cannot).
        ip_batch(
            lines,
            argv_prefix=[
                "ip", "netns", "exec", rec["netns"], "/bin/sh", "-c",
                "echo 1 > /proc/sys/net/ipv4/conf/all/arp_notify && exec \"$@\"", "sh",
            ],
        )

    def _address_lines(self, itf: Mapping[str, Any], first: bool) -> list[str]:
        """``ip`` commands giving a node interface its address and routes."""
        dev = itf["ifname"]
        bridge = self._state["bridges"][itf["network"]]
        if not itf.get("configured", True):
            return [f"link set dev {dev} up"]  # no address: DHCP's business
        lines = [
            f"addr add {itf['address']} brd + dev {dev} noprefixroute",
            f"link set dev {dev} up",
            _subnet_route(bridge["cidr"], dev, itf["address"].split("/")[0]),
        ]
        if first:
            # A default route makes "the node's main address" (Ansible's
            # default_ipv4 fact) the ssh address, as on a real testbed node.
            lines.append(f"route replace default via {bridge['gateway']} dev {dev} quickack 1")
        # An address given explicitly may have had another MAC moments ago;
        # the machine's entry is flushed, and for the other nodes re-setting
        # the MAC with arp_notify on makes the kernel announce it (gratuitous
        # ARP; best effort: the bridge port may not forward yet).
        lines.append(f"link set dev {dev} address {itf['mac']}")
        return lines

    def _launch_argv(self, rec: Mapping[str, Any]) -> list[str]:
        ndir = self._node_dir(rec["name"])
        q = shlex.quote
        steps = [
            f"mount --bind {q(str(ndir / 'home'))} /root",
            f"mount --bind {q(str(ndir / 'tmp'))} /tmp",
        ]
        if rec.get("files"):
            steps += self._overlays(rec)
        if os.path.exists("/etc/hosts"):
            steps.append(f"mount --bind {q(str(self._hosts_file))} /etc/hosts")
        if os.path.exists("/etc/resolv.conf"):
            steps.append(f"mount --bind {q(str(self._resolv_conf))} /etc/resolv.conf")
        steps += [
            f"hostname {q(rec['name'])}",
            "exec " + shlex.join(self._sshd_argv(rec)),
        ]
        # Our copy of /run/netns would pin every namespace of the machine
        # (other nodes, other labs) alive as long as this node lives: drop it.
        script = "umount -R -l /run/netns 2>/dev/null; " + " && ".join(steps)
        # `ip netns exec`, `unshare` and `sh -c exec` all exec: the pid is sshd's.
        return [
            "ip", "netns", "exec", rec["netns"],
            "unshare", "--mount", "--uts", "--propagation", "private",
            "--", "/bin/sh", "-c", script,
        ]

    def set_files(self, node: str, files: Mapping[str, str]) -> None:
        """Files the node sees from its next (re)start on (:meth:`reset_node`).

        ``{"/etc/os-release": text, "/usr/local/bin/tool": text}`` (absolute paths; files
        under a ``bin``/``sbin`` directory are executable): each lives in a private overlay of the
        nearest directory of the machine that exists (``/etc``, ``/usr/local/bin``...),
        rebuilt fresh at each start. The machine's files are never touched.
        """
        with self._lock:
            checked = self._check_files(files)
            rec = self._rec(node)
            rec["files"] = checked
            self._save()

    def _check_files(self, files: Mapping[str, str]) -> dict[str, str]:
        for path in files:
            p = Path(path)
            if not p.is_absolute() or ".." in p.parts or len(p.parts) < 3:
                raise LabError(f"node file {path!r}: an absolute path below a top directory")
        return {str(k): str(v) for k, v in files.items()}

    def _overlays(self, rec: Mapping[str, Any]) -> list[str]:
        """Shell steps mounting fresh overlays that hold the node's ``files``."""
        base = self._node_dir(rec["name"]) / "overlays"
        if base.exists():
            shutil.rmtree(base)
        roots: dict[Path, dict[Path, str]] = {}
        for path, text in rec["files"].items():
            p = Path(path)
            root = p.parent
            while not root.is_dir() and root != Path("/"):
                root = root.parent
            roots.setdefault(root, {})[p.relative_to(root)] = text
        q = shlex.quote
        steps = []
        for k, (root, content) in enumerate(sorted(roots.items())):
            upper, work = base / str(k) / "upper", base / str(k) / "work"
            upper.mkdir(parents=True)
            work.mkdir()
            for rel, text in content.items():
                target = upper / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
                if any(part.endswith("bin") for part in (*root.parts, *rel.parts)):
                    target.chmod(0o755)
            steps.append(
                f"mount -t overlay overlay -o lowerdir={q(str(root))},upperdir={q(str(upper))},"
                f"workdir={q(str(work))} {q(str(root))}"
            )
        return steps

    def _ssh_target(self, rec: Mapping[str, Any]) -> tuple[str, int]:
        return rec["interfaces"][0]["address"].split("/")[0], 22

    def _exec_prefix(self, rec: Mapping[str, Any]) -> tuple[list[str], str]:
        return [
            "nsenter", f"--target={rec['pid']}", "--net", "--mount", "--uts",
            "--wdns=/root", "--",
        ], "/root"

    def _move_interface(
        self, rec: Mapping[str, Any], itf: Mapping[str, Any], old: Mapping[str, Any], first: bool
    ) -> None:
        bridge = self._state["bridges"][itf["network"]]
        unplug = [f"addr flush dev {itf['ifname']}", f"route flush dev {itf['ifname']}"]
        ip_batch([
            f"link set dev {itf['host_ifname']} master {bridge['ifname']}",
            _forget_neighbour(itf["address"], bridge["ifname"]),
        ])
        if not itf.get("configured", True):
            return  # only the cable moved: the node keeps what it had until its DHCP client acts
        try:
            ip_batch(unplug + self._address_lines(itf, first), netns=rec["netns"])
        except LabError:
            # Put the cable back where it was, so state and reality agree.
            back = self._state["bridges"][old["network"]]
            ip_batch([f"link set dev {itf['host_ifname']} master {back['ifname']}"], force=True)
            ip_batch(unplug + self._address_lines(old, first), netns=rec["netns"], force=True)
            raise

    def _delete_node_resources(self, records: Sequence[Mapping[str, Any]]) -> None:
        delete_links(
            itf["host_ifname"] for rec in records for itf in rec["interfaces"] if itf.get("host_ifname")
        )
        namespaces = [rec["netns"] for rec in records if rec.get("netns")]
        ip_batch([f"netns del {ns}" for ns in namespaces], force=True)
        left = set(namespaces) & set(netns_names())
        if left:
            raise LabError(f"could not delete network namespaces: {', '.join(sorted(left))}")

    def _repair(self) -> list[str]:
        """After a crash: recreate missing bridges, drop nodes that lost a resource."""
        repaired = []
        links = existing_links()
        for name, br in self._state["bridges"].items():
            if br["ifname"] not in links:
                self._create_bridge(br)
                repaired.append(f"bridge {br['ifname']} ({name}) recreated")
        links = existing_links()
        namespaces = set(netns_names())
        broken = [
            rec for rec in self._state["nodes"].values()
            if rec["netns"] not in namespaces
            or any(i["host_ifname"] not in links for i in rec["interfaces"])
        ]
        for rec in self._state["nodes"].values():
            if rec in broken:
                continue
            # veths survive their bridge: plug them back into the recreated one
            lines = [
                f"link set dev {i['host_ifname']} master "
                f"{self._state['bridges'][i['network']]['ifname']}"
                for i in rec["interfaces"]
                if links.get(i["host_ifname"]) is not None
            ]
            ip_batch(lines, force=True)
        if broken:
            self._teardown(broken)
            for rec in broken:
                del self._state["nodes"][rec["name"]]
                repaired.append(f"node {rec['name']} removed (incomplete)")
        return repaired


def _forget_neighbour(address: str, bridge: str) -> str:
    """Drop the machine's ARP entry for an address about to get a (new) MAC."""
    return f"neigh flush to {address.split('/')[0]} dev {bridge}"


def _subnet_route(cidr: str, dev: str, src: str) -> str:
    """The on-link route of a subnet, with quick ACKs.

    Without ``quickack`` every ssh handshake stalls twice for 40 ms (Nagle on
    the server's back-to-back small writes meets the client's delayed ACK):
    a cold ``ssh node true`` takes ~200 ms instead of ~50 ms.
    """
    return f"route add {cidr} dev {dev} proto kernel scope link src {src} quickack 1"


def _nameservers() -> list[ipaddress.IPv4Address]:
    """IPv4 DNS servers of the machine (a lab network must not capture them)."""
    found: list[ipaddress.IPv4Address] = []
    try:
        lines = Path("/etc/resolv.conf").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            try:
                address = ipaddress.ip_address(parts[1].split("%")[0])
            except ValueError:
                continue
            if address.version == 4:
                found.append(address)
    return found
