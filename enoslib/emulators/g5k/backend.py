"""Node backends: what a reserved node *is* while its job runs.

* :class:`AddressOnlyBackend` -- bookkeeping only: a node "is" the address the
  reference API gives it (nothing answers there). Works anywhere.
* :class:`NamespaceBackend` -- every node of a launching/running job becomes a
  real SSH host (network namespace + sshd, hostname = node fqdn) built with
  :mod:`enoslib.nodes`; its primary NIC sits on a per-site production bridge
  with the reference address (``paravance-1.rennes.grid5000.fr`` ->
  ``172.16.97.1``), KaVLAN moves re-plug NICs onto per-vlan bridges with the
  node's kavlan address (per site, but one bridge for a global vlan, whatever
  the nodes' sites), a deployment resets the node, and the node is
  destroyed when its job ends. Needs root.

  As on the testbed, a moved primary NIC comes up with its vlan address (a
  deployment in the vlan), while a secondary NIC only changes cable: the node's
  ``dhclient`` (Debian's) obtains the address from the network's DHCP server
  (:mod:`.dhcp`: the production network and every vlan, fixed leases = the
  reference's addresses). Secondary NICs outside vlans are up without address.
  Local vlans (1-3) use the same ranges at every site: each is an isolated
  switch, whose gateway address is held by ``kavlan.<site>`` (the reference's
  KaVLAN server, answering as ``kavlan-N.<site>``: the ssh jump into the vlan
  and its DHCP server), so several sites' local vlans work at once.

Clients reach nodes by name through :meth:`NodeBackend.ssh_config`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..kit.nodes import NetnsHosts, make_hosts, netns_available, render_ssh_config
from .dhcp import DhcpServer, Scope
from .images import etc_files, standard_files
from .reference import NodeRef, ReferenceData, vlan_type
from .users import Accounts, uses_accounts

__all__ = [
    "AddressOnlyBackend",
    "NamespaceBackend",
    "NodeBackend",
    "make_backend",
    "namespace_backend_available",
]

DEFAULT = "DEFAULT"
MAX_INSTANCES = 3
INSTANCE_LOCK_DIR = "/run/enoslib-g5k-emulator"
# Placeholder networks for NICs not plugged anywhere yet: a private range no
# generated Grid'5000 network uses (the lab only accepts private ranges).
PLACEHOLDER_BASE = ipaddress.ip_network("10.255.0.0/16")
PLACEHOLDER_PREFIX = 20


def shift_address(value: str, instance: int) -> str:
    """Where instance ``instance`` puts a reference address or network (0: unchanged).

    Several netns-backed emulators on one machine cannot all own the real ranges (their
    bridges would overlap), so instance k moves each range by a fixed offset: production
    networks 172.16.x -> 172.(16+k).x, routed/global kavlans 10.a (a < 64) -> 10.(a+64k),
    local kavlans 192.168.b (b >= 192) -> 192.168.(b-64k), placeholders 10.255 -> 10.(255-k).
    The API keeps announcing the real addresses; ssh_config and
    :meth:`G5kEmulator.node_address` give the actual ones.
    """
    if instance == 0:
        return value
    if not 0 < instance < MAX_INSTANCES:
        raise ValueError(f"instance must be in 0..{MAX_INSTANCES - 1}, got {instance}")
    iface = ipaddress.ip_interface(value)
    a, b, c, d = iface.ip.packed
    if a == 172 and b == 16:
        b += instance
    elif a == 10 and b < 64:
        b += 64 * instance
    elif a == 10 and 128 <= b < 192 and instance == 1:
        b += 64  # the sites' g5k subnets (10.128-10.191); instance 2 has no room left
    elif a == 10 and b == 255:
        b -= instance
    elif a == 192 and b == 168 and c >= 192:
        c -= 64 * instance
    else:
        raise ValueError(f"{value}: no shifted range for instance {instance}")
    moved = ipaddress.ip_address(bytes([a, b, c, d]))
    return f"{moved}/{iface.network.prefixlen}" if "/" in value else str(moved)


class InstanceSlot:
    """A machine-wide instance number held (``flock``) while an emulator runs."""

    _fd: int | None = None

    def __init__(self, wanted: int | None = None) -> None:
        import fcntl

        os.makedirs(INSTANCE_LOCK_DIR, exist_ok=True)
        candidates = [wanted] if wanted is not None else list(range(MAX_INSTANCES))
        for k in candidates:
            fd = os.open(os.path.join(INSTANCE_LOCK_DIR, f"instance-{k}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self.number, self._fd = k, fd
            return
        raise RuntimeError(
            f"netns-backed emulator instance {wanted} is in use"
            if wanted is not None
            else f"{MAX_INSTANCES} netns-backed Grid'5000 emulators already run on this machine"
        )

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the flock
            self._fd = None


class NodeBackend:
    """Tracks which nodes are up and where each NIC is plugged; subclasses make it real."""

    kind = "base"

    def __init__(self, ref: ReferenceData) -> None:
        self.ref = ref
        self.up: dict[str, NodeRef] = {}  # fqdn -> node
        # (site, vlan id) -> whether its DHCP server answers (the emulator's KaVLAN says)
        self.dhcp_running: Callable[[str, str], bool] = lambda site, vlan: True
        self.plugged: dict[tuple[str, str], str] = {}  # (fqdn, nic) -> vlan id or DEFAULT
        # Extension points (see guests.py): more files a node shows, given the environment it
        # runs (None: the standard one); listeners told ("stop" | "reset", nodes) before a node
        # goes away or is redeployed; more (names, address) entries for ssh_config.
        self.file_hooks: list[Callable[[NodeRef, str | None], Mapping[str, str]]] = []
        self.node_listeners: list[Callable[[str, Sequence[NodeRef]], None]] = []
        self.entry_hooks: list[Callable[[], list[tuple[list[str], str | None]]]] = []

    def hook_files(self, node: NodeRef, environment: str | None) -> dict[str, str]:
        """The files every :attr:`file_hooks` adds for ``node`` running ``environment``."""
        files: dict[str, str] = {}
        for hook in self.file_hooks:
            files.update(hook(node, environment))
        return files

    def notify(self, event: str, nodes: Sequence[NodeRef]) -> None:
        """Tell every :attr:`node_listeners` (errors are the listener's business)."""
        for listener in self.node_listeners:
            listener(event, list(nodes))

    # -- what clients see ---------------------------------------------------
    def nics(self, node: NodeRef) -> list[str]:
        """Devices of the node's mountable, non-management Ethernet NICs (primary first)."""
        adapters = [
            a
            for a in self.ref.node(node)["network_adapters"]
            if a.get("mountable") and not a.get("management") and a.get("interface") == "Ethernet"
        ]
        # the mounted one first: a few clusters' primary NIC is not eth0 (hercule: eth1)
        adapters.sort(key=lambda a: not a.get("mounted"))
        return [a["device"] for a in adapters]

    def reported_address(self, node: NodeRef, nic: str | None = None) -> str | None:
        """The address the reference API announces for this NIC in its current vlan."""
        nics = self.nics(node)
        nic = nic or (nics[0] if nics else "eth0")
        vlan = self.plugged.get((node.fqdn, nic), DEFAULT)
        if vlan == DEFAULT:
            return self.ref.primary_ip(node) if nics and nic == nics[0] else None
        return self.ref.vlan_ip(node, vlan, nic)

    def address(self, node: NodeRef, nic: str | None = None) -> str | None:
        """Where to reach the NIC now (None if it has no address)."""
        return self.reported_address(node, nic)

    def ssh_user(self) -> str:
        return "root"

    def ssh_options(self) -> list[str]:
        return []

    # -- life cycle ---------------------------------------------------------
    def start(self, nodes: Sequence[NodeRef], owner: str | None = None) -> None:
        """Nodes of a job of ``owner`` (the API login) come up."""
        for n in nodes:
            self.up[n.fqdn] = n

    def set_accounts(self, logins: Sequence[str], keys: Any = None) -> None:
        """The API users as Unix accounts on the hosts (nothing without real hosts)."""

    def stop(self, nodes: Sequence[NodeRef]) -> None:
        self.notify("stop", [n for n in nodes if n.fqdn in self.up])
        for n in nodes:
            self.up.pop(n.fqdn, None)
            for key in [k for k in self.plugged if k[0] == n.fqdn]:
                del self.plugged[key]

    def reset(self, node: NodeRef, environment: str | None = None, version: Any = None,
              key: str | None = None) -> None:
        """A deployment of ``environment`` ended OK on this node (``key``: user's public key)."""
        if node.fqdn in self.up:
            self.notify("reset", [node])

    def plug(self, node: NodeRef, nic: str, vlan: str) -> None:
        """Move a NIC into vlan ``vlan`` (or ``DEFAULT``)."""
        if vlan == DEFAULT:
            self.plugged.pop((node.fqdn, nic), None)
        else:
            self.plugged[(node.fqdn, nic)] = vlan

    def close(self) -> None:
        self.stop(list(self.up.values()))

    # -- ssh_config -----------------------------------------------------------
    def _nic_names(self) -> list[tuple[NodeRef, str, str, list[str]]]:
        """``(node, nic, vlan, names)`` of every NIC of every up node."""
        out = []
        for node in self.up.values():
            host, _, domain = node.fqdn.partition(".")
            for k, nic in enumerate(self.nics(node)):
                vlan = self.plugged.get((node.fqdn, nic), DEFAULT)
                base = host if k == 0 else f"{host}-{nic}"
                names = (
                    [f"{base}.{domain}"] if vlan == DEFAULT else [f"{base}-kavlan-{vlan}.{domain}"]
                )
                if k == 0 and vlan == DEFAULT:
                    names.append(host)
                out.append((node, nic, vlan, names))
        return out

    def entries(self) -> list[tuple[list[str], str | None]]:
        """``(names, address)`` of every NIC of every up node (the names DNS would know)."""
        entries = [(names, self.address(node, nic)) for node, nic, _, names in self._nic_names()]
        for hook in self.entry_hooks:
            entries.extend(hook())
        return entries

    def jumps(self) -> dict[str, list[str]]:
        """ssh_config lines some entries need (first name -> lines)."""
        return {}

    def ssh_config(self) -> str:
        """``Host <name>`` / ``HostName <address>`` stanzas for every NIC of every up node.

        With real nodes, the gateways come first and a last ``Host *.grid5000.fr``
        stanza sends any other name through ``access.grid5000.fr`` (which resolves it),
        as Grid'5000 recommends for a laptop's ~/.ssh/config.
        """
        text = self.gateway_config() + render_ssh_config(
            self.entries(),
            self.ssh_user(),
            self.ssh_options(),
            header=f"# Grid'5000 emulator nodes ({self.kind} backend)",
            extra=self.jumps(),
        )
        return text + self.fallback_config()

    def fallback_config(self) -> str:
        return ""

    def gateway_names(self) -> list[str]:
        """Names of the SSH gateways: ``access.grid5000.fr``, frontends, ``kavlan-N.<site>``."""
        return [name for _, names in self.gateway_hosts().values() for name in names]

    def gateway_hosts(self) -> dict[str, tuple[str, list[str]]]:
        """``{gateway host: (its home: "access" or the site, names it answers to)}``: the access
        machine and each site's frontend, which also answers as the site's ``kavlan-N`` gateways."""
        hosts = {"access.grid5000.fr": ("access", ["access.grid5000.fr"])}
        for site, js in self.ref.sites.items():
            names = [f"frontend.{site}.grid5000.fr", f"{site}.grid5000.fr"]
            names += [f"kavlan-{v}.{site}.grid5000.fr" for v in ("1", "2", "3") if v in js.get("kavlans", {})]
            hosts[f"frontend.{site}.grid5000.fr"] = (site, names)
        return hosts

    def gateway_config(self) -> str:
        """ssh_config stanzas of the gateways ("" when there are none)."""
        return ""


class AddressOnlyBackend(NodeBackend):
    """Addresses only: nothing is created, the reference addresses are reported."""

    kind = "address"


def _is_local(vlan: str) -> bool:
    return vlan != DEFAULT and vlan_type(int(vlan)) == "kavlan-local"


def namespace_backend_available() -> tuple[bool, str]:
    """(usable, why not) for :class:`NamespaceBackend` on this machine."""
    return netns_available()


class NamespaceBackend(NodeBackend):
    """Nodes as network namespaces with sshd, via the kit's :class:`~..kit.nodes.NetnsHosts`."""

    kind = "netns"

    def __init__(
        self,
        ref: ReferenceData,
        lab: Any = None,
        name: str | None = None,
        state_dir: str | None = None,
        hosts: NetnsHosts | None = None,
        instance: int | None = None,
    ) -> None:
        super().__init__(ref)
        self.slot = InstanceSlot(instance)
        self.instance = self.slot.number
        try:
            self.hosts = hosts or NetnsHosts(lab, tag="g5k", name=name, state_dir=state_dir)
        except BaseException:
            self.slot.release()
            raise
        self.lab = self.hosts.lab
        self._lock = threading.RLock()
        self._placeholders: dict[str, str] = {}  # our network key -> lab network name
        self._gw: Any = None  # the gateways' LoopbackLab
        self.dhcp = DhcpServer()  # fixed leases on the production network and every vlan
        self._kavlan_gws: dict[str, list[str]] = {}  # kavlan.<site> node -> its kavlan-N names
        self.accounts: Accounts | None = None  # the API users' Unix side (set_accounts)
        self.login = "root"  # who the ssh_config logs in as on the gateways
        try:
            self._gateway()
        except BaseException:
            if hosts is None:
                self.hosts.close()  # ours; a given one is its giver's
            self.slot.release()
            raise

    # -- gateways -------------------------------------------------------------
    def _gateway(self) -> Any:
        """The gateways: sshds in the machine's network namespace (they reach every
        bridge, as the testbed's access machine and frontends reach every node), one for
        ``access.grid5000.fr`` and one per site frontend (which also answers as the site's
        ``kavlan-N`` gateways): each has its own ``/home`` once accounts are set."""
        if self._gw is None:
            from enoslib.nodes import LoopbackLab

            name = "gw" + hashlib.sha1(self.lab.name.encode()).hexdigest()[:8]
            lab = LoopbackLab(name=name)
            try:
                lab.add_bridge("gw", "10.254.254.0/24")
                lab.add_nodes(list(self.gateway_hosts()), networks=["gw"])
            except BaseException:
                lab.destroy()
                raise
            self._gw = lab
        return self._gw

    def set_accounts(self, logins: Sequence[str], keys: Any = None) -> None:
        """Make the API users Unix accounts on the gateways and (from now on) the nodes;
        the first login becomes the ssh_config's gateway user (``root``: no accounts)."""
        gw = self._gateway()
        # the emulator's keys (its ssh_config's IdentityFile) open every account, as the user's
        ours = [Path(lab.keyfile + ".pub").read_text() for lab in (gw, self.lab)]
        Accounts.sweep_stale(INSTANCE_LOCK_DIR)  # homes of emulators killed before their stop
        accounts = Accounts(
            logins, os.path.join(INSTANCE_LOCK_DIR, f"accounts-{self.lab.name}"), keys, ours
        )
        if not accounts:
            accounts.close()
            return
        self.accounts = accounts
        self.login = logins[0] if logins and logins[0] in accounts.uids else "root"
        etc = accounts.etc_files()
        for host, (place, _) in self.gateway_hosts().items():
            accounts.mount(lambda argv, h=host: gw.exec(h, argv, check=True), place, etc)

    def gateway_config(self) -> str:
        if self._gw is None:
            return ""
        lines = ["# Grid'5000 emulator gateways: access.grid5000.fr, frontends, kavlan-N.<site>"]
        for host, (_, names) in self.gateway_hosts().items():
            info = self._gw.nodes[host]
            lines += [
                f"Host {' '.join(names)}",
                f"    HostName {info.address}",
                f"    Port {info.port}",
                f"    User {self.login if self.accounts else info.user}",
                f"    IdentityFile {info.keyfile}",
                "    ProxyJump none",
                "    StrictHostKeyChecking no",
                "    UserKnownHostsFile /dev/null",
                "    LogLevel ERROR",
            ]
        return "\n".join(lines) + "\n"

    def gateway_hosts(self) -> dict[str, tuple[str, list[str]]]:
        # kavlan-N.<site> is a node of its own, on the vlans' switches (see _local_gateways)
        return {
            host: (place, [n for n in names if not n.startswith("kavlan-")])
            for host, (place, names) in super().gateway_hosts().items()
        }

    def entries(self) -> list[tuple[list[str], str | None]]:
        gateways = [([name, *alias], self.hosts.address(name)) for name, alias in self._kavlan_gws.items()]
        return super().entries() + gateways

    def jumps(self) -> dict[str, list[str]]:
        """A NIC in a local vlan is reached through that vlan's ``kavlan-N.<site>``."""
        return {
            names[0]: [f"ProxyJump kavlan-{vlan}.{node.site}.grid5000.fr"]
            for node, nic, vlan, names in self._nic_names()
            if _is_local(vlan) and self.address(node, nic)
        }

    def fallback_config(self) -> str:
        lines = [
            "# any other Grid'5000 name: through the access gateway, which resolves it",
            "Host *.grid5000.fr",
            "    ProxyJump access.grid5000.fr",
            f"    User {self.ssh_user()}",
            *(f"    {o}" for o in self.ssh_options()),
        ]
        return "\n".join(lines) + "\n"

    def _refresh_gateway_hosts(self) -> None:
        """The gateways' /etc/hosts: every up node's names (rewritten in place, live)."""
        if self._gw is None:
            return
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        for names, address in self.entries():
            if address:
                lines.append(f"{address}\t{' '.join(names)}")
        with open(self._gw._hosts_file, "w") as f:  # same inode: the bind mount follows
            f.write("\n".join(lines) + "\n")
        self.lab.set_extra_hosts(lines[2:])  # nodes resolve the same names

    def ssh_user(self) -> str:
        return self.hosts.ssh_user()

    def ssh_options(self) -> list[str]:
        return self.hosts.ssh_options()

    def address(self, node: NodeRef, nic: str | None = None) -> str | None:
        itfs = self.hosts.interfaces(node.fqdn)
        if not itfs:
            return None
        nics = self.nics(node)
        k = nics.index(nic) if nic in nics else 0
        if k > 0 and self.plugged.get((node.fqdn, nics[k]), DEFAULT) == DEFAULT:
            return None  # a secondary NIC outside vlans has no address
        return itfs[k][1] if k < len(itfs) else None

    def kernel_names(self, node: NodeRef) -> list[str] | None:
        """The node's interface names inside it: the reference's kernel ``name`` (eno1,
        enp24s0f0...) with the real dataset, None (eth0, eth1...) with generated ones."""
        if not self.ref.kernel_names:
            return None
        by_device = {a["device"]: a.get("name") for a in self.ref.node(node)["network_adapters"]}
        names = [by_device.get(d) or d for d in self.nics(node)] or ["eth0"]
        return names if len(set(names)) == len(names) else None

    # -- networks -------------------------------------------------------------
    def _network(self, site: str, vlan: str) -> str:
        if vlan != DEFAULT and self.ref.is_global(vlan):
            # one bridge for every site's NICs, on the owning site's network
            site = self.ref.vlan_site(vlan) or site
        key = f"{'prod' if vlan == DEFAULT else 'kavlan-' + vlan}-{site}"
        if key not in self.hosts.networks:
            kav = self.ref.sites[site]["kavlans"]["default" if vlan == DEFAULT else vlan]
            gateway = kav.get("gateway")
            # local vlans are switches of their own: every site has the same ranges
            self.hosts.add_network(
                key,
                shift_address(kav["network"], self.instance),
                gateway=shift_address(gateway, self.instance) if gateway else None,
                isolated=_is_local(vlan),
            )
            if not _is_local(vlan):
                self._serve_dhcp(key, site, vlan)
            if vlan == DEFAULT:
                self._local_gateways(site)
        return key

    def _serve_dhcp(self, key: str, site: str, vlan: str, node: str | None = None) -> None:
        """The network's DHCP server: each NIC plugged there is leased the address the
        emulator booked for it (the reference's, as Grid'5000's servers do). ``node``:
        served from inside that node (a local vlan's ``kavlan-N`` gateway)."""
        cidr, server = self.hosts.networks[key], self.hosts.gateways[key]
        if node is None:
            ifname, netns = self.lab.bridges[key].ifname, None
        else:
            info = self.lab.nodes[node]
            ifname, netns = info.interfaces[key]["ifname"], f"/run/netns/{info.netns}"
        dns = self.ref.servers.get(site, {}).get("dns", {}).get("network_adapters", {})
        dns_ip = (dns.get("default") or {}).get("ip")
        try:
            dns_ip = shift_address(dns_ip, self.instance) if dns_ip else None
        except ValueError:
            dns_ip = None
        self.dhcp.add(key, Scope(
            ifname=ifname, server=server, network=cidr, netns=netns,
            routers=[server], dns=[dns_ip] if dns_ip else [],
            domain=f"{site}.grid5000.fr",
            lease=lambda mac: self._lease(key, mac) if self.dhcp_running(site, vlan) else None,
        ))

    def _local_gateways(self, site: str) -> None:
        """``kavlan.<site>`` (the reference's KaVLAN server, alias ``kavlan-dhcp``): one
        node on the production network at that server's address, holding the gateway
        address of each local vlan of the site on the vlan's switch. It is the ssh jump
        into the vlans (it answers as ``kavlan-N.<site>``) and their DHCP server."""
        name = f"kavlan.{site}.grid5000.fr"
        vlans = [v for v in ("1", "2", "3") if v in self.ref.sites[site].get("kavlans", {})]
        if not vlans or name in self._kavlan_gws:
            return
        prod = f"prod-{site}"
        keys = [self._network(site, v) for v in vlans]
        net = ipaddress.ip_network(self.hosts.networks[prod])
        server = (self.ref.servers.get(site, {}).get("kavlan") or {}).get("network_adapters", {})
        address = (server.get("default") or {}).get("ip")
        try:
            address = shift_address(address, self.instance) if address else None
        except ValueError:
            address = None
        if address is None or ipaddress.ip_address(address) not in net:
            address = str(net.broadcast_address - 150)  # no reference server: out of node ranges
        pinned = {prod: address, **{k: self.hosts.gateways[k] for k in keys}}
        # the API users log in there too (EnOSlib jumps as the user), with the site's home
        files = {name: self.accounts.etc_files()} if self.accounts else None
        self.hosts.add_hosts([name], [prod, *keys], {name: pinned}, files)
        if self.accounts:
            self.accounts.mount(lambda argv: self.hosts.exec(name, argv, check=True), site)
        self._kavlan_gws[name] = [f"kavlan-{v}.{site}.grid5000.fr" for v in vlans]
        for vlan, key in zip(vlans, keys):
            self._serve_dhcp(key, site, vlan, node=name)

    def _lease(self, network: str, mac: str) -> str | None:
        """The address booked on ``network`` for the NIC of MAC ``mac`` (None: unknown)."""
        for info in self.lab.nodes.values():
            itf = info.interfaces.get(network)
            if itf is not None and itf["mac"].lower() == mac:
                return itf["address"].split("/")[0]
        return None

    def _placeholder(self, site: str, k: int) -> str:
        key = f"unplugged{k}-{site}"
        if key not in self.hosts.networks:
            pool = list(PLACEHOLDER_BASE.subnets(new_prefix=PLACEHOLDER_PREFIX))
            if len(self._placeholders) >= len(pool):
                raise RuntimeError(f"too many placeholder networks (max {len(pool)})")
            cidr = pool[len(self._placeholders)]
            self._placeholders[key] = str(cidr)
            # no DHCP server and no address: a NIC outside vlans is not configured
            self.hosts.add_network(key, shift_address(str(cidr), self.instance), configure=False)
        return key

    def _where(self, node: NodeRef, k: int, nic: str) -> str:
        vlan = self.plugged.get((node.fqdn, nic), DEFAULT)
        if vlan != DEFAULT:
            return self._network(node.site, vlan)
        return self._network(node.site, DEFAULT) if k == 0 else self._placeholder(node.site, k)

    # -- life cycle -------------------------------------------------------------
    def start(self, nodes: Sequence[NodeRef], owner: str | None = None) -> None:
        with self._lock:
            todo = [n for n in nodes if n.fqdn not in self.up]
            by_shape: dict[tuple[str, int], list[NodeRef]] = {}
            for n in todo:
                by_shape.setdefault((n.site, len(self.nics(n)) or 1), []).append(n)
            for (site, count), group in by_shape.items():
                # the primary NIC on the production bridge with its reference address,
                # the others on placeholder bridges until a KaVLAN move plugs them
                nets = [self._network(site, DEFAULT)]
                nets += [self._placeholder(site, k) for k in range(1, count)]
                addresses = {
                    n.fqdn: {nets[0]: shift_address(self.ref.primary_ip(n), self.instance)}
                    for n in group
                }
                # the accounts' /etc (sudo-g5k for the job's owner) with the standard environment
                users = self.accounts.etc_files([owner] if owner else []) if self.accounts else {}
                files = {
                    n.fqdn: {**standard_files(self.ref.node(n)), **users, **self.hook_files(n, None)}
                    for n in group
                }
                ifnames = {n.fqdn: self.kernel_names(n) for n in group}
                self.hosts.add_hosts(
                    [n.fqdn for n in group], nets, addresses, files,
                    {k: v for k, v in ifnames.items() if v} or None,
                )
                for n in group:
                    self.up[n.fqdn] = n
                    # the testbed's NFS home holds the user's key pair
                    self.hosts.exec(
                        n.fqdn,
                        ["sh", "-c", "cp /root/.ssh/authorized_keys /root/.ssh/id_rsa.pub"],
                        check=True,
                    )
                    self._mount_home(n, None)
            self._refresh_gateway_hosts()

    def _mount_home(self, node: NodeRef, environment: str | None) -> None:
        """The site's NFS home on the node (an empty ``/home`` if its environment has none)."""
        if self.accounts:
            place = node.site if uses_accounts(environment) else None
            self.accounts.mount(lambda argv: self.hosts.exec(node.fqdn, argv, check=True), place)

    def stop(self, nodes: Sequence[NodeRef]) -> None:
        with self._lock:
            try:
                self.hosts.remove_hosts([n.fqdn for n in nodes])
            finally:
                super().stop(nodes)
                self._refresh_gateway_hosts()

    def reset(self, node: NodeRef, environment: str | None = None, version: Any = None,
              key: str | None = None) -> None:
        with self._lock:
            if node.fqdn not in self.up:
                return
            self.notify("reset", [node])
            files = None
            if environment:
                arch = self.ref.node(node).get("architecture", {}).get("platform_type", "x86_64")
                name = environment.split("@")[0]
                files = etc_files(name, version, arch) if "/" not in name else None
                if files is not None and self.accounts and uses_accounts(name):
                    files.update(self.accounts.etc_files())
                if files is not None:
                    files.update(self.hook_files(node, name))
            self.hosts.reset(node.fqdn, files=files)
            self._mount_home(node, environment)
            if key and key.strip().startswith(("ssh-", "ecdsa-", "sk-")):
                # kadeploy installs the user's key for root, next to the lab's
                self.hosts.exec(
                    node.fqdn,
                    ["sh", "-c", "cat >> /root/.ssh/authorized_keys"],
                    input=key.strip() + "\n",
                    check=True,
                )

    def plug(self, node: NodeRef, nic: str, vlan: str) -> None:
        with self._lock:
            nics = self.nics(node)
            if node.fqdn not in self.up or nic not in nics:
                super().plug(node, nic, vlan)
                return
            k = nics.index(nic)
            before = self._where(node, k, nic)
            super().plug(node, nic, vlan)
            after = self._where(node, k, nic)
            if before != after:
                address = self.reported_address(node, nic)
                if address is not None:
                    address = shift_address(address, self.instance)
                # a secondary NIC only changes cable: the node's DHCP client gets the address
                self.hosts.move(node.fqdn, before, after, address=address,
                                configure=True if k == 0 else False)
                self._refresh_gateway_hosts()

    def close(self) -> None:
        with self._lock:
            try:
                super().close()
            finally:
                self.up.clear()
                self.dhcp.close()
                try:
                    self.hosts.close()
                finally:
                    try:
                        if self._gw is not None:
                            self._gw.destroy()
                            self._gw = None
                    finally:
                        if self.accounts is not None:
                            self.accounts.close()
                        self.slot.release()


def make_backend(
    kind: str, ref: ReferenceData, lab: Any = None, instance: int | None = None
) -> NodeBackend:
    """``"address"``, ``"netns"`` or ``"auto"`` (netns when root and available).

    ``instance`` (netns): which of the :data:`MAX_INSTANCES` address ranges to use
    (see :func:`shift_address`); None takes the first one no other emulator holds.
    """
    hosts = make_hosts(kind, lab, tag="g5k")
    if isinstance(hosts, NetnsHosts):
        try:
            return NamespaceBackend(ref, hosts=hosts, instance=instance)
        except BaseException:
            hosts.close()
            raise
    return AddressOnlyBackend(ref)
