"""Virtual machines on Grid'5000 nodes.

>>> conf = (en.VMonG5kConf.from_settings(job_name="vms", walltime="1:00:00")
...         .add_machine(roles=["server"], cluster="paravance", number=10, flavour="small"))
>>> with en.VMonG5k(conf) as (roles, networks):            # doctest: +SKIP
...     en.run_command("hostname", roles=roles)

:class:`VMonG5k` reserves, in one OAR job per site named ``job_name`` (reloaded by name on the
next run, through :class:`~enoslib.infra.enos_g5k.G5k`), enough nodes of each group's cluster
for its VMs (their vcpus against the nodes' threads, or cores with ``vcore_type="core"``, and
their memory against the nodes' RAM, from the reference API) and a ``/22`` (or ``/16``) subnet.
:func:`start_virtualmachines` then spreads each group's VMs over its nodes round robin (sorted
nodes; a node without room for the next VM is passed over), gives each VM a MAC of the subnet
(:func:`mac_range`; Grid'5000's DHCP gives it the matching address: ``00:16:3e:XX:YY:ZZ`` ->
``10.XX.YY.ZZ``), and runs on every node, over one SSH session, the commands of the standard
environment: ``virsh list`` (running VMs are kept), ``genisoimage`` (a cloud-init seed with the
node's root keys), ``qemu-img`` (a copy-on-write overlay of ``image``, or a copy) and
``virsh create``; then waits until every VM answers over SSH. VMs are named after their
address (``virtual-158-0-2`` for ``10.158.0.2``).
"""

from __future__ import annotations

import itertools
import logging
import shlex
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import netaddr

from enoslib._signals import sigint_deferred
from enoslib.errors import EnosConfigError, EnosProviderError
from enoslib.infra.configuration import seconds_to_walltime, walltime_to_seconds
from enoslib.infra.enos_vmong5k.configuration import Configuration, MachineConfiguration
from enoslib.infra.enos_vmong5k.constants import BRIDGE, RESERVED_MEMORY_MAX, RESERVED_MEMORY_MIN
from enoslib.infra.provider import Provider, Time, to_timestamp
from enoslib.infra.slots import IntervalSet
from enoslib.objects import Host, Networks, Roles

__all__ = ["VMonG5k", "VirtualMachine", "mac_range", "start_virtualmachines"]

logger = logging.getLogger(__name__)

GROUP_ROLE = "__vmong5k_group_{}__"
SUBNET_ROLE = "__vmong5k_subnet_{}__"
SSH_RETRIES = 60
SSH_INTERVAL = 10


# ----------------------------------------------------------------------------------- addresses
def _subnet_ip(mac: Any) -> str:
    """The address Grid'5000's DHCP gives a VM MAC (``00:16:3e:XX:YY:ZZ`` -> ``10.XX.YY.ZZ``)."""
    words = netaddr.EUI(str(mac)).words
    return "10." + ".".join(str(w) for w in words[3:])


def mac_range(g5k_subnets: Sequence[Any], skip: int = 0, step: int = 1) -> Iterator[str]:
    """Generator function to get some macs out of G5k subnets

    Args:
        g5k_subnets: a list of g5k subnets (see
            :class:`~enoslib.infra.enos_g5k.objects.G5kEnosSubnetNetwork`), or the
            :class:`~enoslib.infra.enos_g5k.objects.G5kSubnetNetwork` holding them
        skip: skip this amount of macs
        step: step as in built-in range method

    Returns:
        An iterator of mac addresses, subnet after subnet (sorted), the gateway's left out.

    >>> from enoslib.infra.enos_g5k.objects import G5kEnosSubnetNetwork
    >>> net = G5kEnosSubnetNetwork("10.158.0.0/22", "10.159.255.254")
    >>> list(mac_range([net], skip=1, step=2))[:2]
    ['00:16:3e:9e:00:02', '00:16:3e:9e:00:04']
    """
    subnets: list[Any] = []
    for s in g5k_subnets if isinstance(g5k_subnets, (list, tuple)) else [g5k_subnets]:
        subnets.extend(s.to_enos()[1] if hasattr(s, "to_enos") else [s])
    subnets.sort(key=lambda n: netaddr.IPNetwork(str(n.network)))

    def all_macs() -> Iterator[str]:
        for net in subnets:
            gateway = getattr(net, "gateway", None)
            for mac in net.free_macs:
                if gateway is None or _subnet_ip(mac) != str(gateway):
                    yield mac

    return itertools.islice(all_macs(), skip, None, step)


# ----------------------------------------------------------------------------------- the VMs
class VirtualMachine(Host):
    """Internal data structure to manipulate virtual machines.

    A :class:`~enoslib.objects.Host` (address: the IP its MAC gets, alias: ``name``, user root)
    that also knows its ``eui`` (MAC), ``flavour_desc``, ``pm`` (the node hosting it) and the
    libvirt XML of its ``extra_devices``.

    >>> vm = VirtualMachine("virtual-158-0-2", netaddr.EUI("00:16:3e:9e:00:02"),
    ...                     {"core": 1, "mem": 512}, Host("paravance-1.rennes.grid5000.fr"))
    >>> vm.address, vm.alias, vm.user
    ('10.158.0.2', 'virtual-158-0-2', 'root')
    """

    __slots__ = ("eui", "flavour_desc", "pm", "extra_devices")

    def __init__(self, name: str | None, eui: Any, flavour_desc: Mapping[str, int], pm: Any,
                 extra: dict[str, Any] | None = None, extra_devices: str = "") -> None:
        eui = eui if isinstance(eui, netaddr.EUI) else netaddr.EUI(str(eui))
        eui.dialect = netaddr.mac_unix_expanded
        address = _subnet_ip(eui)
        super().__init__(address, alias=name or _vm_name(address), user="root", extra=extra)
        self.eui = eui
        self.flavour_desc = dict(flavour_desc)
        self.pm = pm
        self.extra_devices = extra_devices or ""

    @property
    def mac(self) -> str:
        return str(self.eui)

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(mac=self.mac, flavour_desc=dict(self.flavour_desc),
                 pm=getattr(self.pm, "alias", str(self.pm)), extra_devices=self.extra_devices)
        return d


def _vm_name(address: str) -> str:
    return "virtual-" + "-".join(address.split(".")[1:])


# ----------------------------------------------------------------------------------- capacity
def _reserved_mb(ram_mb: int) -> int:
    return min(max(ram_mb * 2 // 100, RESERVED_MEMORY_MIN), RESERVED_MEMORY_MAX)


def node_capacity(doc: Mapping[str, Any], vcore_type: str = "thread") -> tuple[int, int]:
    """``(vcpus, MiB)`` a node offers VMs: its threads (or cores) and its RAM minus what the
    node keeps (2 %, between 256 MiB and 4 GiB), from its reference API document."""
    arch = doc.get("architecture", {})
    cores = int(arch.get("nb_cores") or 1)
    cpus = int(arch.get("nb_threads") or cores) if vcore_type == "thread" else cores
    ram = int(doc.get("main_memory", {}).get("ram_size") or 0) // (1024 * 1024)
    return cpus, ram - _reserved_mb(ram)


def nodes_needed(machine: MachineConfiguration, doc: Mapping[str, Any], where: str = "$") -> int:
    """How many nodes like ``doc`` host ``machine.number`` VMs of its flavour (at most one per VM).

    Raises :class:`~enoslib.errors.EnosConfigError` when one VM is bigger than a node.
    """
    cpus, mem = node_capacity(doc, machine.vcore_type)
    flavour = machine.flavour_desc
    if flavour["core"] > cpus or flavour["mem"] > mem:
        raise EnosConfigError(
            f"invalid vmong5k configuration at {where}.flavour: a VM of {flavour['core']} vcpus and "
            f"{flavour['mem']} MiB does not fit on a {machine.cluster} node ({cpus} vcpus, {mem} MiB "
            "for VMs) (rule: capacity)", path=f"{where}.flavour", rule="capacity")
    per_node = min(cpus // flavour["core"], mem // flavour["mem"])
    return min(machine.number, -(-machine.number // per_node))


# ----------------------------------------------------------------------------------- placement
def _pm_fqdn(pm: Any) -> str:
    extra = getattr(pm, "extra", {}) or {}
    return str(extra.get("g5k_fqdn") or getattr(pm, "alias", None) or pm)


def _distribute(conf: Configuration, capacity: Mapping[str, tuple[int, int] | None],
                macs_for: Mapping[int, Iterator[str]]) -> Roles:
    """Round robin of each group's VMs over its sorted nodes, passing over a node without room."""
    free = {k: list(v) for k, v in capacity.items() if v is not None}
    roles = Roles()
    for i, machine in enumerate(conf.machines):
        pms = sorted(machine.undercloud, key=lambda h: _natural(_pm_fqdn(h)))
        if not pms:
            raise EnosConfigError(f"invalid vmong5k configuration at $.resources.machines[{i}].undercloud: "
                                  "no host to start the VMs on (rule: minItems)",
                                  path=f"$.resources.machines[{i}].undercloud", rule="minItems")
        flavour = machine.flavour_desc
        macs = iter(machine.macs) if machine.macs else macs_for[i]
        cursor = 0
        for _ in range(machine.number):
            for k in range(len(pms)):
                pm = pms[(cursor + k) % len(pms)]
                room = free.get(_pm_fqdn(pm))
                if room is None or (room[0] >= flavour["core"] and room[1] >= flavour["mem"]):
                    break
            else:
                raise EnosProviderError(
                    f"no room for the VMs of $.resources.machines[{i}] ({machine.number} x "
                    f"{flavour['core']} vcpus/{flavour['mem']} MiB) on {', '.join(_pm_fqdn(p) for p in pms)}")
            cursor = (cursor + k + 1) % len(pms)
            if room is not None:
                room[0] -= flavour["core"]
                room[1] -= flavour["mem"]
            mac = next(macs, None)
            if mac is None:
                raise EnosProviderError(f"not enough MACs for the VMs of $.resources.machines[{i}]")
            extra = {k: v for k, v in (pm.extra or {}).items() if k in ("gateway", "gateway_user")}
            extra.update(ansible_host_key_checking=False, vmong5k_pm=_pm_fqdn(pm))
            vm = VirtualMachine(None, mac, flavour, pm, extra=extra, extra_devices=machine.extra_devices)
            roles.add_one(vm, machine.roles)
    return roles


def _natural(name: str) -> tuple[Any, ...]:
    import re

    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


# ----------------------------------------------------------------------------------- node scripts
DOMAIN_XML = """<domain type='{domain_type}'>
  <name>{name}</name>
  <memory unit='MiB'>{mem}</memory>
  <vcpu>{core}</vcpu>
  <cpu mode='host-passthrough'/>
  <os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/></features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{wd}/{name}.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>{data_disk}
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='{wd}/{name}-seed.iso'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <interface type='bridge'>
      <source bridge='{bridge}'/>
      <mac address='{mac}'/>
      <model type='virtio'/>
    </interface>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    {extra_devices}
  </devices>
</domain>
"""

DATA_DISK = """
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{wd}/{name}-data.raw'/>
      <target dev='vdb' bus='virtio'/>
    </disk>"""


def node_script(vms: Sequence[VirtualMachine], conf: Configuration, force: bool = False) -> str:
    """The shell script a node runs to start its VMs (the running ones are kept; ``force``:
    destroyed and started again). Prints ``KEPT <name>`` / ``STARTED <name>``."""
    q = shlex.quote
    wd = conf.working_dir
    lines = [
        "set -eu",
        f"mkdir -p {q(wd)}",
        f"cd {q(wd)}",
        "running=$(virsh list --name)",
        # the keys that open root on the node open root on its VMs
        "keys=$(grep -E '^(ssh-|ecdsa-|sk-)' /root/.ssh/authorized_keys 2>/dev/null | sed 's/^/  - /' || true)",
    ]
    for vm in vms:
        name = q(vm.alias)
        flavour = vm.flavour_desc
        xml = DOMAIN_XML.format(
            domain_type=conf.domain_type, name=vm.alias, mem=flavour["mem"], core=flavour["core"], wd=wd,
            bridge=BRIDGE, mac=vm.mac, extra_devices=vm.extra_devices,
            data_disk=DATA_DISK.format(wd=wd, name=vm.alias) if flavour.get("disk") else "")
        meta = f"instance-id: {vm.alias}\nlocal-hostname: {vm.alias}\n"
        base = q(conf.image)
        image = (f"qemu-img create -q -f qcow2 -F qcow2 -b {base} {name}.qcow2" if conf.strategy == "cow"
                 else f"qemu-img convert -O qcow2 {base} {name}.qcow2")
        start = [
            f"mkdir -p {name}-seed",
            f"printf %s {q(meta)} > {name}-seed/meta-data",
            f"{{ printf '#cloud-config\\nhostname: %s\\nssh_authorized_keys:\\n' {name}; "
            f"printf '%s\\n' \"$keys\"; }} > {name}-seed/user-data",
            f"genisoimage -quiet -output {name}-seed.iso -volid cidata -joliet -rock "
            f"{name}-seed/user-data {name}-seed/meta-data",
            image,
            *([f"qemu-img create -q -f raw {name}-data.raw {int(flavour['disk'])}G"] if flavour.get("disk") else []),
            f"printf %s {q(xml)} > {name}.xml",
            f"virsh create {name}.xml >/dev/null",
            f"echo STARTED {name}",
        ]
        body = "\n    ".join(start)
        if force:
            lines.append(f"if printf '%s\\n' \"$running\" | grep -qx {name}; then virsh destroy {name} >/dev/null; fi")
            lines.append(f"{body.replace(chr(10) + '    ', chr(10))}")
        else:
            lines.append(f"if printf '%s\\n' \"$running\" | grep -qx {name}; then echo KEPT {name}; else\n    "
                         f"{body}\nfi")
    return "\n".join(lines) + "\n"


def _run_on_nodes(todo: Mapping[Any, str], timeout: float = 600) -> dict[Any, str]:
    """Run one script per node (as root: ``sudo-g5k`` for another user); their outputs."""
    from enoslib.api.commands import exec_commands

    commands = {}
    for pm, script in todo.items():
        command = f"sh -c {shlex.quote(script)}"
        commands[pm] = command if (pm.user in (None, "root")) else f"sudo-g5k {command}"
    results = exec_commands(commands, task="start virtual machines", timeout=timeout,
                            shown={pm: "start virtual machines" for pm in commands})
    by_alias = {pm.alias: pm for pm in commands}
    outputs, errors = {}, []
    for r in results:
        pm = by_alias.get(getattr(r.host, "alias", r.host))
        if r.rc == 0 and r.status == "ok":
            outputs[pm] = r.stdout
        else:
            errors.append(f"{getattr(r.host, 'alias', r.host)}: {(r.stderr or r.stdout or f'rc={r.rc}').strip()[-400:]}")
    if errors:
        raise EnosProviderError("starting the virtual machines failed on " + "; ".join(errors))
    return outputs


def start_virtualmachines(provider_conf: Configuration, force_deploy: bool = False, *,
                          client: Any = None) -> Roles:
    """Starts virtualmachines on G5K.

    This first distributes the virtual machine according to the undercloud attributes of the
    configuration, assign them IPs and start them. It is idempotent.

    Args:
        provider_conf: This is the abstract description of your overcloud (VMs). Each
            configuration must have its undercloud attributes filled with the undercloud
            machines to use. Round Robin strategy to distribute the VMs to the PMs will be used
            for each configuration. Mac addresses will be generated according to the
            g5k_subnet parameter.
        force_deploy (boolean): controls whether the virtual machines should be restarted
            from scratch.
        client: the Grid'5000 API client to read the nodes' sizes with (default: the default
            one, see :func:`~enoslib.infra.enos_g5k.client.as_client`).

    Returns:
        roles (the VMs, :class:`VirtualMachine` objects, reachable over SSH)
    """
    conf = provider_conf.finalize()
    for i, machine in enumerate(conf.machines):
        if not machine.macs:
            raise EnosConfigError(f"invalid vmong5k configuration at $.resources.machines[{i}].macs: "
                                  "start_virtualmachines needs the VMs' MACs (see mac_range) (rule: required)",
                                  path=f"$.resources.machines[{i}].macs", rule="required")
    roles = _distribute(conf, _capacities(conf, client), {})
    _start(conf, roles, force_deploy or conf.force_deploy)
    return roles


def _capacities(conf: Configuration, client: Any) -> dict[str, tuple[int, int] | None]:
    """``(vcpus, MiB)`` free for VMs on every undercloud node (None: unknown, not checked)."""
    from enoslib.infra.enos_g5k.client import as_client
    from enoslib.infra.enos_g5k.reference import Reference

    ref: Reference | None = None
    out: dict[str, tuple[int, int] | None] = {}
    for machine in conf.machines:
        for pm in machine.undercloud:
            fqdn = _pm_fqdn(pm)
            if fqdn in out:
                continue
            if not fqdn.endswith(".grid5000.fr"):
                out[fqdn] = None
                continue
            try:
                ref = ref or Reference(as_client(client))
                out[fqdn] = node_capacity(ref.node(fqdn), machine.vcore_type)
            except EnosProviderError:
                out[fqdn] = None
    return out


def _start(conf: Configuration, roles: Roles, force: bool) -> None:
    from enoslib.api.commands import wait_for

    vms: dict[str, VirtualMachine] = {}
    for vm in roles.all():
        vms.setdefault(vm.alias, vm)
    by_pm: dict[Any, list[VirtualMachine]] = {}
    pms: dict[str, Any] = {}
    for vm in vms.values():
        key = _pm_fqdn(vm.pm)
        pms.setdefault(key, vm.pm)
        by_pm.setdefault(key, []).append(vm)
    outputs = _run_on_nodes({pms[k]: node_script(v, conf, force) for k, v in by_pm.items()})
    started = sum(out.count("STARTED ") for out in outputs.values())
    logger.info("virtual machines: %d started, %d kept", started, len(vms) - started)
    if vms:
        wait_for(list(vms.values()), retries=SSH_RETRIES, interval=SSH_INTERVAL)


# ----------------------------------------------------------------------------------- provider
class VMonG5k(Provider):
    """The provider to use when deploying virtual machines on Grid'5000.

    ``client`` / ``state_dir``: as for :class:`~enoslib.infra.enos_g5k.G5k` (the Grid'5000
    API client; where the per-name lock and unreleased-job records live).
    """

    configuration_class = Configuration
    provider_conf: Configuration

    def __init__(self, provider_conf: Configuration | dict[str, Any], name: str | None = None, *,
                 client: Any = None, state_dir: Any = None) -> None:
        super().__init__(provider_conf, name)
        self._client_spec = client
        self._state_dir = state_dir
        self._g5k: Any = None
        for i, m in enumerate(self.provider_conf._data["resources"]["machines"]):
            if "cluster" not in m:
                raise EnosConfigError(
                    f"invalid vmong5k configuration at $.resources.machines[{i}].cluster: required by "
                    "VMonG5k (undercloud is for start_virtualmachines) (rule: required)",
                    path=f"$.resources.machines[{i}].cluster", rule="required")
        self.roles: Roles | None = None
        self.networks: Networks | None = None

    # -- the Grid'5000 reservation ------------------------------------------------------------
    @property
    def g5k_provider(self) -> Any:
        """The :class:`~enoslib.infra.enos_g5k.G5k` provider holding the nodes and subnets
        (built on first use: sizing the groups reads the reference API)."""
        if self._g5k is None:
            from enoslib.infra.enos_g5k import G5k
            from enoslib.infra.enos_g5k.client import as_client

            client = as_client(self._client_spec)
            self._g5k = G5k(self._g5k_conf(client), client=client, state_dir=self._state_dir)
        return self._g5k

    def _g5k_conf(self, client: Any) -> Any:
        from enoslib.infra.enos_g5k import G5kConf
        from enoslib.infra.enos_g5k.client import as_client
        from enoslib.infra.enos_g5k.reference import Reference

        conf = self.provider_conf
        ref = Reference(as_client(client))
        job_type = [t for t in (conf.job_type or []) if t != "deploy"]
        settings: dict[str, Any] = {"job_name": conf.job_name, "walltime": conf.walltime,
                                    "queue": conf.queue, "job_type": job_type}
        if conf.reservation:
            settings["reservation"] = conf.reservation
        if conf.project:
            settings["project"] = conf.project
        g5k = G5kConf.from_settings(**settings)
        sites: dict[str, None] = {}
        for i, machine in enumerate(conf.machines):
            site = ref.cluster_site(machine.cluster)
            sites[site] = None
            nodes = ref.nodes(machine.cluster)
            if not nodes:
                raise EnosConfigError(f"invalid vmong5k configuration at $.resources.machines[{i}].cluster: "
                                      f"no node in {machine.cluster} (rule: cluster)",
                                      path=f"$.resources.machines[{i}].cluster", rule="cluster")
            doc = min(nodes.values(), key=lambda d: node_capacity(d, machine.vcore_type))
            count = nodes_needed(machine, doc, f"$.resources.machines[{i}]")
            g5k.add_machine(roles=[GROUP_ROLE.format(i)], cluster=machine.cluster, nodes=count)
        for site in sites:
            g5k.add_network(id=f"vmong5k-{site}", type=conf.subnet_type, site=site,
                            roles=[*conf.networks, SUBNET_ROLE.format(site)])
        return g5k

    # -- lifecycle --------------------------------------------------------------------------
    def init(self, force_deploy: bool = False, start_time: Time | None = None,
             **kwargs: Any) -> tuple[Roles, Networks]:
        """Reserve (or reload by name) the nodes and subnets, start the missing VMs, wait for
        SSH on all of them; returns ``(roles, networks)`` of the VMs. On any failure, Ctrl-C
        included, the reservation is released before the error propagates."""
        try:
            g5k = self.g5k_provider
            if start_time is not None:
                g5k.set_reservation(start_time)
            pm_roles, pm_networks = g5k.init()
            conf = Configuration.from_dictionary(self.provider_conf.to_dict())
            macs_for: dict[int, Iterator[str]] = {}
            per_site: dict[str, Iterator[str]] = {}
            for i, machine in enumerate(conf.machines):
                hosts = list(pm_roles[GROUP_ROLE.format(i)])
                machine.undercloud = hosts
                site = hosts[0].extra.get("g5k_site") if hosts else None
                subnets = list(pm_networks[SUBNET_ROLE.format(site)]) if site else []
                if site not in per_site:
                    per_site[site] = mac_range(subnets, skip=conf.skip)
                macs_for[i] = per_site[site]
            roles = _distribute(conf, _capacities(conf, g5k.client), macs_for)
            _start(conf, roles, force_deploy or conf.force_deploy)
            networks = Networks()
            for site in per_site:
                for net in pm_networks[SUBNET_ROLE.format(site)]:
                    networks.add_one(net, conf.networks)
            self.roles, self.networks = roles, networks
            return roles, networks
        except BaseException as error:
            if self._g5k is not None:  # a reservation may exist: release it
                logger.info("%s: init failed, releasing the reservation", self.name)
                with sigint_deferred():
                    try:
                        self.destroy()
                    except Exception as cleanup:  # noqa: BLE001 - the first error is the one to see
                        if hasattr(error, "add_note"):
                            error.add_note(f"and releasing the reservation failed: {cleanup}")
            raise

    def async_init(self, start_time: Time | None = None, force_deploy: bool = False, **kwargs: Any) -> None:
        """Partial init: secure the resources (submit or reload the jobs) without waiting."""
        self.g5k_provider.async_init(start_time=start_time)

    def is_created(self) -> bool:
        """Is the provider already created."""
        return bool(self.g5k_provider.is_created())

    def undercloud(self) -> list[Any]:
        """Gets the undercloud information (bare-metal machines)."""
        return list(self.g5k_provider.hosts)

    def destroy(self, wait: bool = False, **kwargs: Any) -> None:
        """Destroy the underlying job (the VMs go with it)."""
        from enoslib.infra.enos_g5k.provider import release_by_name

        if self._g5k is not None:
            self._g5k.destroy(wait=wait)
        else:  # nothing built in this process: release a previous run's jobs by name
            release_by_name(self.provider_conf.job_name, self._client_spec, state_dir=self._state_dir)
        self.roles = self.networks = None

    # -- planning ---------------------------------------------------------------------------
    def availability(self, start: Time, end: Time) -> IntervalSet:
        return self.g5k_provider.availability(start, end)

    def test_slot(self, start_time: Time, end_time: Time) -> bool:
        """Test if it is possible to reserve resources at start_time"""
        return bool(self.g5k_provider.test_slot(start_time, end_time))

    def set_reservation(self, timestamp: Time) -> None:
        """Change the internal reservation date (epoch or aware datetime)."""
        from enoslib.infra.enos_g5k.oar import to_oar_date

        self.provider_conf.reservation = to_oar_date(to_timestamp(timestamp))
        if self._g5k is not None:
            self._g5k.set_reservation(timestamp)

    def offset_walltime(self, difference: float) -> None:
        """Offset the walltime (before ``init``)."""
        seconds = walltime_to_seconds(self.provider_conf.walltime) + int(difference)
        if seconds <= 0:
            raise EnosConfigError(f"invalid vmong5k configuration at $.walltime: {self.provider_conf.walltime} "
                                  f"{difference:+.0f}s is not positive (rule: minimum)",
                                  path="$.walltime", rule="minimum")
        self.provider_conf.walltime = seconds_to_walltime(seconds)
        if self._g5k is not None:
            self._g5k.offset_walltime(difference)

