"""The services (:class:`Netem`, :class:`NetemHTB`, :class:`AccurateNetemHTB`) and the
functions deploying lists of sources (:func:`netem`, :func:`netem_htb`)."""

from __future__ import annotations

import ipaddress
import statistics
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from enoslib.errors import EnosConfigError, EnosError
from enoslib.objects import Host, Network
from enoslib.services.netem.constraints import (
    DEFAULT_RATE, HTBConstraint, HTBSource, NetemInConstraint, NetemInOutSource, NetemOutConstraint,
    check_netem_options, ms, parse_netem_options,
)
from enoslib.services.netem.engines import (
    QueuePlan, _run_scripts, check_engine, engine_script, htb_nfqueue_commands, nfqueue_commands, parse_engines,
    probe_engines, source_nfqueue_commands, teardown_script,
)
from enoslib.services.netem.measure import LatencyReport, _address_on, fping_targets, measure_rtts

if TYPE_CHECKING:
    from enoslib.api.results import Results

# -- services ----------------------------------------------------------------------------
def _check_owned(host: Host) -> None:
    """Refuse hosts whose interfaces are not their own (they share this machine's network
    stack): shaping them would shape the machine's real interfaces."""
    from enoslib.infra.local.provider import LOOPBACK_EXTRA

    if host.extra.get(LOOPBACK_EXTRA) == "loopback":
        raise EnosError(
            f"host {host.alias} is a Local host of the 'loopback' backend (an sshd on this machine, "
            "sharing its network stack): it owns no network device, and network emulation there "
            "would shape this machine's own interfaces. Use the Local provider's 'netns' backend "
            "(root) for network emulation"
        )


def _interfaces(host: Host, networks: Iterable[Network] | None) -> list[str]:
    _check_owned(host)
    if not host.net_devices:
        raise EnosError(
            f"host {host.alias} has no known interfaces: call en.sync_info(roles, networks) first, "
            "or use a provider that fills them (Local does)"
        )
    if networks is None:
        names = sorted(d.name for d in host.net_devices if d.name != "lo" and d.addresses)
    else:
        names = host.filter_interfaces(networks)
    if not names:
        raise EnosError(f"host {host.alias} has no interface on the selected networks")
    return names


def _interfaces_to(host: Host, address: str) -> list[str]:
    """The interface(s) of ``host`` on the same subnet as ``address`` (else every interface)."""
    _check_owned(host)
    target = ipaddress.ip_address(address)
    matches = []
    for device in host.net_devices:
        for a in device.addresses:
            if target in ipaddress.ip_interface(a.address).network:
                matches.append(device.name)
    return sorted(set(matches)) or _interfaces(host, None)


def _engine_for(host: Host, engine: str, engines: Mapping[str, str] | None) -> str:
    if engines and host.alias in engines:
        return engines[host.alias]
    return "tc" if engine == "auto" else engine


def _merge_sources(sources: Iterable[Any]) -> dict[Host, Any]:
    """One source per host (the same host may come several times: constraints merge)."""
    merged: dict[Host, Any] = {}
    for source in sources:
        if source.host not in merged:
            merged[source.host] = type(source)(source.host)
        merged[source.host].add_constraints(source.constraints)
    return {h: s for h, s in merged.items() if s.constraints}


def _flat(parts: Iterable[list[str]]) -> list[str]:
    return [cmd for part in parts for cmd in part]


def netem_scripts(sources: Iterable[NetemInOutSource], engine: str = "auto",
                  engines: Mapping[str, str] | None = None) -> dict[Host, str]:
    """One deploy script per host, for the engine ``engines`` gives it (default: ``engine``;
    ``"auto"`` without probe results: tc)."""
    out = {}
    for host, source in _merge_sources(sources).items():
        _check_owned(host)
        if _engine_for(host, engine, engines) == "tc":
            out[host] = engine_script("tc", _flat(source.all_commands()))
        else:
            queues = QueuePlan()
            cmds, rules = source_nfqueue_commands(source, queues)
            out[host] = engine_script("nfqueue", nfqueue_commands(queues, cmds, rules, optional_v6=True))
    return out


def htb_scripts(sources: Iterable[HTBSource], engine: str = "auto",
                engines: Mapping[str, str] | None = None) -> dict[Host, str]:
    """One deploy script per host, as :func:`netem_scripts`, for HTB sources."""
    out = {}
    for host, source in _merge_sources(sources).items():
        _check_owned(host)
        if _engine_for(host, engine, engines) == "tc":
            out[host] = engine_script("tc", _flat(source.all_commands()))
            continue
        queues, cmds, rules, families = QueuePlan(), [], [], []
        for device, cs in source.by_device().items():
            dev_cmds, dev_rules = htb_nfqueue_commands(device, cs, queues)
            cmds += dev_cmds
            rules += dev_rules
            families += ["ip6tables" if ":" in c.target else "iptables" for c in cs]
        out[host] = engine_script("nfqueue", nfqueue_commands(queues, cmds, rules, families))
    return out


def _deploy(sources: Iterable[Any], engine: str, task: str, make_scripts: Any) -> "Results":
    """Probe the hosts' engines (``auto``), then run ``make_scripts``' script on every host."""
    merged = _merge_sources(sources)
    check_engine(engine)
    engines = None
    if engine == "auto":
        engines = probe_engines({h: min(c.device for c in s.constraints) for h, s in merged.items()})
    return _run_scripts(make_scripts(merged.values(), engine, engines), task)


def netem(sources: list[NetemInOutSource], chunk_size: int = 100, *, engine: str = "auto") -> "Results":
    """Set the constraints of ``sources`` (a host may come several times: its constraints
    merge), replacing what the previous deployment set on their devices. All hosts in
    parallel, one script each (``chunk_size`` is accepted for EnOSlib compatibility: there
    are no batches of commands to size). ``engine``: as :class:`Netem`'s."""
    return _deploy(sources, engine, "netem deploy", netem_scripts)


def netem_htb(htb_hosts: list[HTBSource], chunk_size: int = 100, *, engine: str = "auto") -> "Results":
    """Set the per-destination constraints of ``htb_hosts``, as :func:`netem` does."""
    return _deploy(htb_hosts, engine, "netem-htb deploy", htb_scripts)


class _Service:
    """EnOSlib's service protocol: ``deploy``/``destroy``/``backup``; as a context manager,
    destroy then deploy on entry, destroy then backup on exit."""

    sources: dict[Host, Any]
    _task: str
    _scripts_of: Any  # netem_scripts or htb_scripts

    def __init__(self, engine: str = "auto") -> None:
        self.engine = check_engine(engine)
        self.engines: dict[str, str] = {}  # host alias -> engine it used
        self.results: Results | None = None  # of the last deploy
        self._touched: dict[Host, set[str]] = {}  # devices deployed on (destroy undoes them)

    def scripts(self, engines: Mapping[str, str] | None = None) -> dict[Host, str]:
        """One deploy script per host, for the engine ``engines`` (alias -> engine) gives it
        (default: the service's; ``"auto"`` without probe results: tc)."""
        return self._scripts_of(self.sources.values(), self.engine, engines)

    def _deploy_sources(self, sources: Iterable[Any]) -> "Results":
        sources = list(sources)
        self.results = _deploy(sources, self.engine, self._task + " deploy", self._scripts_of)
        self.engines.update(parse_engines(self.results))
        for s in sources:
            self._touched.setdefault(s.host, set()).update(c.device for c in s.constraints)
        return self.results

    def destroy(self) -> "Results":
        """Undo every deployment of this service (either engine) on its hosts' devices."""
        touched = {h: set(devs) for h, devs in self._touched.items()}
        for host, source in self.sources.items():
            touched.setdefault(host, set()).update(c.device for c in source.constraints)
        scripts = {h: teardown_script(sorted(devs)) for h, devs in touched.items() if devs}
        return _run_scripts(scripts, self._task + " destroy")

    def backup(self) -> None:
        """Nothing to back up (EnOSlib's service protocol)."""

    def __enter__(self) -> Any:
        self.destroy()
        self.deploy()  # type: ignore[attr-defined]
        return self

    def __exit__(self, *args: Any) -> None:
        self.destroy()
        self.backup()


def _symmetric(symmetric: bool, symetric: bool | None) -> bool:
    if symetric is None:
        return symmetric
    import warnings

    warnings.warn("'symetric' is deprecated: use 'symmetric'", DeprecationWarning, stacklevel=3)
    return symetric


class Netem(_Service):
    """The same netem constraint on every selected interface of the given hosts.

    ``sources`` maps each host to its :class:`NetemInOutSource`. ``engine``: ``"auto"``
    (netem where the kernel has it, else nfqueue; probed on each host at deploy time),
    ``"tc"`` or ``"nfqueue"``. After :meth:`deploy`, ``engines`` maps each host's alias to
    the engine it used.

    With nfqueue, the ingress delay (``symmetric``) is applied after the kernel has
    timestamped the incoming packet: tools reading kernel receive timestamps on that host
    (ping, fping) do not see it, so :meth:`validate` measures from such hosts with
    ``ping -U`` (user-space timestamps). Applications see the delay."""

    _task = "netem"
    _scripts_of = staticmethod(netem_scripts)

    def __init__(self, engine: str = "auto") -> None:
        super().__init__(engine)
        self.sources: dict[Host, NetemInOutSource] = {}

    def add_constraints(self, options: str, hosts: Iterable[Host], symmetric: bool = False,
                        networks: Iterable[Network] | None = None, *, symetric: bool | None = None) -> "Netem":
        """``options`` is a netem string (``"delay 10ms loss 1%"``); ``symmetric`` also shapes
        incoming traffic; ``networks`` selects interfaces (default: all but loopback).
        A later constraint on the same host interface and direction replaces the earlier."""
        symmetric = _symmetric(symmetric, symetric)
        check_netem_options(options)
        for host in hosts:
            interfaces = _interfaces(host, networks)
            source = self.sources.setdefault(host, NetemInOutSource(host))
            for iface in interfaces:
                source.add_constraints([NetemOutConstraint(iface, options)])
                if symmetric:
                    source.add_constraints([NetemInConstraint(iface, options)])
        return self

    def deploy(self, chunk_size: int = 100) -> "Results":
        """Probe the engines (``auto``), then apply every host's script, in parallel."""
        return self._deploy_sources(self.sources.values())

    def validate(self, networks: Iterable[Network] | None = None, output_dir: str | Path | None = None,
                 count: int = 10) -> LatencyReport:
        """Ping every other constrained host and report RTTs (expected from the delays set).
        ``networks``: measure to the addresses on these networks; ``output_dir``: also save
        each source's raw measures there, as ``<alias>.fpingout``."""
        delays: dict[Host, tuple[float, float]] = {}
        for host, source in self.sources.items():
            out = [_netem_delay(c.options) for c in source.outbounds]
            inb = [_netem_delay(c.options) for c in source.inbounds]
            delays[host] = (max(out, default=0.0), max(inb, default=0.0))
        # a's egress + b's ingress, then b's egress + a's ingress for the reply
        expected = {(a, b): delays[a][0] + delays[b][1] + delays[b][0] + delays[a][1]
                    for a in delays for b in delays if a != b}
        # an nfqueue ingress delay comes after the kernel's receive timestamp: measure
        # from those hosts with user-space timestamps
        user_clock = [h for h, (_, d_in) in delays.items() if d_in and self.engines.get(h.alias) == "nfqueue"]
        report = measure_rtts(expected, count=count, networks=networks, user_clock=user_clock,
                              output_dir=output_dir)
        report.engines = {h.alias: self.engines[h.alias] for h in delays if h.alias in self.engines}
        return report


def _netem_delay(options: str) -> float:
    delay = parse_netem_options(options).get("delay")
    return ms(delay[0]) if delay else 0.0


_TOPOLOGY_KEYS = ("default_delay", "default_rate", "default_loss", "default_network", "network", "groups",
                  "except", "constraints")
_OVERRIDE_KEYS = ("src", "dst", "delay", "rate", "loss", "network", "symmetric")


class NetemHTB(_Service):
    """Per-destination constraints: ``add_constraints(src, dest, delay="10ms", rate="1gbit")``.

    ``sources`` maps each sending host to its :class:`HTBSource`, ``dests`` holds the
    destination hosts. ``engine``: ``"auto"`` (netem where the kernel has it, else
    nfqueue; probed on each host at deploy time), ``"tc"`` or ``"nfqueue"``. After
    :meth:`deploy`, ``engines`` maps each host's alias to the engine it used.

    As with netem, only the sending hosts are touched: with nfqueue, their outgoing packets
    to a constrained destination are delayed by the userspace daemon (copied, dropped,
    sent again: see :class:`QueuePlan`), rates stay HTB classes."""

    _task = "netem-htb"
    _scripts_of = staticmethod(htb_scripts)

    def __init__(self, engine: str = "auto") -> None:
        super().__init__(engine)
        self.sources: dict[Host, HTBSource] = {}
        self.dests: set[Host] = set()
        self._targets: dict[str, Host] = {}  # constrained address -> its host (for validate)
        self._networks: list[Network] | None = None

    def add_constraints(self, src: Iterable[Host], dest: Iterable[Host], delay: str | None = None,
                        rate: str | None = None, loss: str | None = None,
                        networks: Iterable[Network] | None = None, symmetric: bool = False,
                        *, symetric: bool | None = None) -> "NetemHTB":
        """Traffic from every ``src`` host to every ``dest`` host gets the constraint (``rate``
        defaults to ``10gbit``); with ``symmetric=True`` the reverse direction too.
        ``networks`` selects which addresses of the destinations are constrained (default:
        all of them). A later constraint for the same device and address replaces the earlier."""
        symmetric = _symmetric(symmetric, symetric)
        src, dest = list(src), list(dest)
        nets = list(networks) if networks is not None else None
        if nets is not None:
            self._networks = nets
        for s in src:
            _check_owned(s)
            pending = []
            for d in dest:
                if d == s:
                    continue
                for address in _address_on(d, nets):
                    self._targets[address] = d
                    pending += [HTBConstraint(device, delay, address, rate or DEFAULT_RATE, loss)
                                for device in _interfaces_to(s, address)]
                self.dests.add(d)
            self.sources.setdefault(s, HTBSource(s)).add_constraints(pending)
        if symmetric:
            self.add_constraints(dest, src, delay, rate, loss, nets)
        return self

    @classmethod
    def from_dict(cls, network_constraints: Mapping[str, Any], roles: Mapping[str, Iterable[Host]],
                  networks: Mapping[str, Iterable[Network]] | None = None, engine: str = "auto") -> "NetemHTB":
        """Build from EnOSlib's topology dict: ``{"default_delay": "10ms", "default_rate":
        "1gbit", "default_loss": "0.1%", "groups": [...] (default: every role), "except":
        [roles left out], "default_network": "wan", "constraints": [{"src": "a", "dst": "b",
        "delay": "20ms", "rate": "1gbit", "loss": "1%", "network": "wan", "symmetric":
        true}]}``. Every pair of hosts in the groups gets the defaults, then each constraint
        overrides its pair. Network names index ``networks``."""
        for key in ("default_delay", "default_rate"):
            if key not in network_constraints:
                raise EnosConfigError(f"the network constraints need {key!r}", path=f"$.{key}", rule="required")
        return cls._from_spec(network_constraints, roles, networks, None, engine)

    @classmethod
    def from_topology(cls, topology: Mapping[str, Any], roles: Mapping[str, Iterable[Host]],
                      networks: Iterable[Network] | None = None, engine: str = "auto") -> "NetemHTB":
        """:meth:`from_dict`'s shape, with every default optional (no default: no constraint
        but the overrides) and ``networks`` the list of networks to constrain. ``except``
        may also hold overrides (``{"src": ..., "dst": ..., ...}``), as ``constraints`` does."""
        return cls._from_spec(topology, roles, None, list(networks) if networks is not None else None, engine)

    @classmethod
    def _from_spec(cls, spec: Mapping[str, Any], roles: Mapping[str, Iterable[Host]],
                   networks: Mapping[str, Iterable[Network]] | None, fixed: list[Network] | None,
                   engine: str) -> "NetemHTB":
        if not isinstance(spec, Mapping):
            raise EnosConfigError(f"network constraints must be a dict, got {type(spec).__name__}", path="$",
                                  rule="type")
        for key in spec:
            if key not in _TOPOLOGY_KEYS:
                raise EnosConfigError(f"unknown key {key!r} (known: {', '.join(_TOPOLOGY_KEYS)})", path=f"$.{key}",
                                      rule="additionalProperties")
        excluded = [e for e in spec.get("except", []) if isinstance(e, str)]
        overrides = [*(e for e in spec.get("except", []) if not isinstance(e, str)), *spec.get("constraints", [])]

        def role(name: Any, path: str) -> list[Host]:
            if name not in roles:
                raise EnosConfigError(f"role {name!r} is not in roles ({', '.join(map(str, roles))})", path=path,
                                      rule="reference")
            return list(roles[name])

        def nets(name: str | None, path: str) -> list[Network] | None:
            if name is None:
                return fixed
            if networks is None or name not in networks:
                raise EnosConfigError(f"network {name!r} is not in networks", path=path, rule="reference")
            return list(networks[name])

        netem = cls(engine=engine)
        default_net = spec.get("default_network", spec.get("network"))
        defaults = {k: spec.get(f"default_{k}") for k in ("delay", "rate", "loss")}
        groups = spec.get("groups") or list(roles)
        selected = [(g, role(g, f"$.groups[{i}]")) for i, g in enumerate(groups) if g not in excluded]
        if any(defaults.values()):
            for _, a in selected:
                for _, b in selected:
                    netem.add_constraints(a, b, networks=nets(default_net, "$.default_network"), **defaults)
        for i, o in enumerate(overrides):
            path = f"$.constraints[{i}]"
            if not isinstance(o, Mapping) or "src" not in o or "dst" not in o:
                raise EnosConfigError("a constraint needs 'src' and 'dst' roles", path=path, rule="required")
            unknown = [k for k in o if k not in _OVERRIDE_KEYS]
            if unknown:
                raise EnosConfigError(f"unknown key {unknown[0]!r} (known: {', '.join(_OVERRIDE_KEYS)})",
                                      path=f"{path}.{unknown[0]}", rule="additionalProperties")
            values = {k: o.get(k, defaults[k]) for k in defaults}
            netem.add_constraints(role(o["src"], f"{path}.src"), role(o["dst"], f"{path}.dst"),
                                  networks=nets(o.get("network", default_net), f"{path}.network"),
                                  symmetric=bool(o.get("symmetric", False)), **values)
        return netem

    def deploy(self, chunk_size: int = 100) -> list[HTBSource]:
        """Probe the engines (``auto``), then apply every host's script, in parallel.
        Returns the sources deployed (the run's results are in ``results``)."""
        sources = list(self.sources.values())
        self._deploy_sources(sources)
        return sources

    def expected_rtts(self) -> dict[tuple[Host, Host], float]:
        """RTT expected between every constrained pair: delay there + delay back."""
        one_way: dict[tuple[Host, Host], float] = {}
        for s, source in self.sources.items():
            for c in sorted(source.constraints, key=lambda c: (c.device, c.target)):
                d = self._targets.get(c.target)
                if d is not None and c.target in _address_on(d, self._networks)[:1]:
                    one_way[(s, d)] = ms(c.delay) if c.delay else 0.0
        pairs = set(one_way) | {(d, s) for s, d in one_way}
        return {(s, d): one_way.get((s, d), 0.0) + one_way.get((d, s), 0.0) for s, d in sorted(pairs)}

    def validate(self, count: int = 10, *, networks: Iterable[Network] | None = None,
                 output_dir: str | Path | None = None) -> LatencyReport:
        """Measure RTTs between every constrained pair with fping and compare. ``networks``:
        measure to the addresses on these networks (default: those constrained);
        ``output_dir``: also save each source's raw measures there (``<alias>.fpingout``)."""
        expected = self.expected_rtts()
        report = measure_rtts(expected, count=count, networks=networks if networks is not None else self._networks,
                              output_dir=output_dir)
        sources = {s.alias for s, _ in expected}
        report.engines = {a: e for a, e in self.engines.items() if a in sources}
        return report


class AccurateNetemHTB(NetemHTB):
    """:class:`NetemHTB` whose delays are end to end: :meth:`deploy` first measures the RTT
    from each source to each constrained address (fping, ``count`` probes, after undoing
    this service's previous deployment) and sets ``delay - mean RTT / 2`` instead of
    ``delay``, so the infrastructure's own latency is not added on top. A delay smaller than
    what the infrastructure already takes is an error. ``sources`` keep the delays asked
    (``validate`` compares with them); the corrected ones are what ``deploy`` returns."""

    def deploy(self, chunk_size: int = 100, count: int = 50) -> list[HTBSource]:
        self.destroy()
        targets = {h: sorted({c.target for c in s.constraints if c.delay}) for h, s in self.sources.items()}
        measured = fping_targets({h: t for h, t in targets.items() if t}, count=count)
        corrected = []
        for host, source in self.sources.items():
            new = HTBSource(host)
            for c in sorted(source.constraints, key=lambda c: (c.device, c.target)):
                if c.delay:
                    rtts = measured.get(host, {}).get(c.target)
                    if not rtts:
                        raise EnosError(f"no RTT measured from {host.alias} to {c.target}: "
                                        "cannot correct its delay (is it reachable?)")
                    one_way = statistics.mean(rtts) / 2
                    delay = ms(c.delay) - one_way
                    if delay < 0:
                        raise EnosError(f"delay {c.delay} from {host.alias} to {c.target} is less than the "
                                        f"infrastructure's own one-way latency ({one_way:.3f} ms)")
                    c = replace(c, delay=f"{delay:.3f}ms")
                new.add_constraints([c])
            corrected.append(new)
        self._deploy_sources(corrected)
        return corrected
