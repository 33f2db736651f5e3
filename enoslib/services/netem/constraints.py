"""Netem option strings, EnOSlib's constraint and source classes, and the ``tc``
commands they stand for (pure: no host is touched here)."""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Iterable

from enoslib.errors import EnosConfigError
from enoslib.objects import Host

# [0-9], not \d (Unicode digits); \Z, not $ (which matches before a trailing newline)
_TIME = re.compile(r"^[0-9]+(\.[0-9]+)?(us|ms|s)\Z")
_RATE = re.compile(r"^[0-9]+(\.[0-9]+)?([kmgt]?bit|[kmgt]?bps)\Z", re.IGNORECASE)
_PERCENT = re.compile(r"^[0-9]+(\.[0-9]+)?%\Z")
_COUNT = re.compile(r"^[0-9]+\Z")
_DISTRIBUTION = re.compile(r"^(uniform|normal|pareto|paretonormal)\Z")
# netem options we accept in a free-form option string: the patterns of their arguments,
# the first one required, the others optional (``delay TIME [JITTER [CORRELATION]]``)
_NETEM_OPTIONS: dict[str, tuple[re.Pattern[str], ...]] = {
    "delay": (_TIME, _TIME, _PERCENT),
    "distribution": (_DISTRIBUTION,),
    "loss": (_PERCENT, _PERCENT),  # also ``loss random PCT [CORR]``
    "duplicate": (_PERCENT, _PERCENT),
    "corrupt": (_PERCENT, _PERCENT),
    "reorder": (_PERCENT, _PERCENT),
    "gap": (_COUNT,),
    "rate": (_RATE,),
    "limit": (_COUNT,),
}
DEFAULT_RATE = "10gbit"  # HTBConstraint's rate when none is given (EnOSlib's default)
DEFAULT_LOSS = None


def ms(value: str) -> float:
    """``"10ms"`` -> 10.0; ``"1s"`` -> 1000.0; ``"500us"`` -> 0.5."""
    m = _TIME.match(value)
    if not m:
        raise EnosConfigError(f"invalid delay {value!r}: expected a number with us, ms or s (e.g. '10ms')", rule="format")
    number = float(value[: -len(m.group(2))])
    return number * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]


def percent(value: str) -> float:
    """``"1.5%"`` -> 1.5."""
    if not _PERCENT.match(value):
        raise EnosConfigError(f"invalid percentage {value!r}: expected e.g. '1%'", rule="format")
    return float(value[:-1])


def parse_netem_options(options: str) -> dict[str, list[str]]:
    """``"delay 10ms 2ms loss 1%"`` -> ``{"delay": ["10ms", "2ms"], "loss": ["1%"]}``; raise on
    anything but the options of :data:`_NETEM_OPTIONS` with well-formed arguments."""
    if not isinstance(options, str) or not options.split():
        raise EnosConfigError(f"empty netem options {options!r}: expected e.g. 'delay 10ms' or 'loss 1%'",
                              rule="format")
    tokens = options.split()
    parsed: dict[str, list[str]] = {}
    i = 0
    while i < len(tokens):
        name = tokens[i]
        if name not in _NETEM_OPTIONS:
            raise EnosConfigError(
                f"unsupported netem option {name!r} in {options!r} (supported: {', '.join(_NETEM_OPTIONS)})",
                rule="enum",
            )
        if name in parsed:
            raise EnosConfigError(f"netem option {name!r} given twice in {options!r}", rule="format")
        i += 1
        if name == "loss" and i < len(tokens) and tokens[i] == "random":
            i += 1  # the default loss model, said explicitly
        args: list[str] = []
        for pattern in _NETEM_OPTIONS[name]:
            if i < len(tokens) and pattern.match(tokens[i]):
                args.append(tokens[i])
                i += 1
            else:
                break
        if not args:
            raise EnosConfigError(f"invalid value for netem {name!r} in {options!r}", rule="format")
        parsed[name] = args
    return parsed


def check_netem_options(options: str) -> list[str]:
    """Check a netem option string (``"delay 10ms loss 1%"``); raise on anything else.

    Returns the tokens, safe to put on a ``tc`` command line.
    """
    return [word for name, args in parse_netem_options(options).items() for word in (name, *args)]


def _check_device(device: str) -> None:
    if not isinstance(device, str) or not re.match(r"^[^\s/:]{1,15}$", device):
        raise EnosConfigError(f"invalid network device name {device!r}: expected e.g. 'eth0'", rule="format")


# -- EnOSlib's constraint and source classes ----------------------------------------------
# A source is a host and the constraints to set on its devices; the functions ``netem``
# and ``netem_htb`` (and the services built on them) deploy lists of sources. Each class
# also tells the ``tc`` commands it stands for (the kernel engine's; see ``engine=``).
@dataclass(frozen=True)
class NetemConstraint:
    """A netem option string (``"delay 10ms loss 1%"``) for one ``device`` of a host."""

    device: str
    options: str

    def __post_init__(self) -> None:
        _check_device(self.device)
        check_netem_options(self.options)

    @property
    def tokens(self) -> list[str]:
        return check_netem_options(self.options)


@dataclass(frozen=True)
class NetemOutConstraint(NetemConstraint):
    """Traffic leaving ``device`` gets ``options`` (a netem qdisc at the device's root)."""

    def add_commands(self, _ifb: str | None = None) -> list[str]:
        return [_q("tc", "qdisc", "add", "dev", self.device, "root", "netem", *self.tokens)]

    def remove_commands(self, _ifb: str | None = None) -> list[str]:
        return reset_commands([self.device])

    def commands(self, _ifb: str | None = None) -> list[str]:
        return []


@dataclass(frozen=True)
class NetemInConstraint(NetemOutConstraint):
    """Traffic entering ``device`` gets ``options``: it is redirected to an ``ifb`` device
    (``ifb``: its name, default ``ifb-<device>``) and shaped there as it leaves."""

    def add_commands(self, ifb: str | None = None) -> list[str]:
        return ifb_redirect_commands(self.device, ifb)[:3]

    def remove_commands(self, ifb: str | None = None) -> list[str]:
        return reset_commands([self.device], ifb)

    def commands(self, ifb: str | None = None) -> list[str]:
        ifb = ifb or ifb_name(self.device)
        return [ifb_redirect_commands(self.device, ifb)[3],
                _q("tc", "qdisc", "add", "dev", ifb, "root", "netem", *self.tokens)]


def _merge(existing: Iterable[Any], new: Iterable[Any], equal: Any) -> set[Any]:
    """``existing`` where each constraint of ``new`` replaces the ``equal`` one(s)."""
    merged = set(existing)
    for c in new:
        merged = {old for old in merged if not equal(old, c)}
        merged.add(c)
    return merged


@dataclass
class NetemInOutSource:
    """A host and the netem constraints of its devices, outgoing and incoming (at most one
    of each per device: adding another replaces it)."""

    host: Host
    constraints: set[NetemConstraint] = field(default_factory=set)

    @property
    def inbounds(self) -> list[NetemInConstraint]:
        return sorted((c for c in self.constraints if type(c) is NetemInConstraint), key=lambda c: c.device)

    @property
    def outbounds(self) -> list[NetemOutConstraint]:
        return sorted((c for c in self.constraints if type(c) is NetemOutConstraint), key=lambda c: c.device)

    def equal(self, c1: NetemConstraint, c2: NetemConstraint) -> bool:
        """Same direction, same device: the second replaces the first."""
        return type(c1) is type(c2) and c1.device == c2.device

    def add_constraints(self, constraints: Iterable[NetemConstraint]) -> "NetemInOutSource":
        self.constraints = _merge(self.constraints, constraints, self.equal)
        return self

    def remove_commands(self) -> list[str]:
        """Undo whatever may be set on the constrained devices (errors ignored)."""
        return list(dict.fromkeys(cmd for c in [*self.outbounds, *self.inbounds]
                                  for cmd in c.remove_commands(ifb_name(c.device))))

    def add_commands(self) -> list[str]:
        return [cmd for c in [*self.outbounds, *self.inbounds] for cmd in c.add_commands(ifb_name(c.device))]

    def commands(self) -> list[str]:
        return [cmd for c in [*self.outbounds, *self.inbounds] for cmd in c.commands(ifb_name(c.device))]

    def all_commands(self) -> tuple[list[str], list[str], list[str]]:
        """``(remove, add, commands)``: run in this order, they set the constraints."""
        return self.remove_commands(), self.add_commands(), self.commands()


@dataclass(frozen=True)
class HTBConstraint:
    """Traffic leaving ``device`` towards ``target`` (an IP address) gets ``delay``, ``rate``
    and ``loss``: one HTB class and its netem qdisc, selected by the destination address.

    ``delay`` may be ``None`` (rate only), an addition to EnOSlib."""

    device: str
    delay: str | None
    target: str
    rate: str = DEFAULT_RATE
    loss: str | None = DEFAULT_LOSS

    def __post_init__(self) -> None:
        _check_device(self.device)
        if self.delay is not None:
            ms(self.delay)
        if not isinstance(self.rate, str) or not _RATE.match(self.rate):
            raise EnosConfigError(f"invalid rate {self.rate!r}: expected e.g. '1gbit' or '100mbit'", rule="format")
        if self.loss is not None and not _PERCENT.match(self.loss):
            raise EnosConfigError(f"invalid loss {self.loss!r}: expected a percentage, e.g. '1%'", rule="format")
        try:
            ipaddress.ip_address(self.target)
        except ValueError:
            raise EnosConfigError(f"invalid target address {self.target!r}: expected an IP address",
                                  rule="format") from None

    def netem_args(self) -> list[str]:
        args = []
        if self.delay:
            args += ["delay", self.delay]
        if self.loss:
            args += ["loss", self.loss]
        return args

    def add_commands(self) -> list[str]:
        """The HTB root of the device (class ``1:1``: unconstrained traffic)."""
        return [_q("tc", "qdisc", "add", "dev", self.device, "root", "handle", "1:", "htb", "default", "1"),
                _q("tc", "class", "add", "dev", self.device, "parent", "1:", "classid", "1:1", "htb",
                   "rate", _UNCONSTRAINED_RATE)]

    def remove_commands(self) -> list[str]:
        return reset_commands([self.device])

    def commands(self, idx: int, with_netem: bool = True) -> list[str]:
        """The class, netem leaf and filter of the ``idx``-th constraint (from 0) of the
        device (``with_netem=False``: no leaf, the nfqueue engine delays elsewhere)."""
        classid, dev = f"1:{idx + 2}", self.device
        cmds = [_q("tc", "class", "add", "dev", dev, "parent", "1:", "classid", classid, "htb",
                   "rate", self.rate, "ceil", self.rate)]
        if with_netem and self.netem_args():
            cmds.append(_q("tc", "qdisc", "add", "dev", dev, "parent", classid, "handle", f"{idx + 12}:",
                           "netem", *self.netem_args()))
        v6 = ":" in self.target
        cmds.append(_q("tc", "filter", "add", "dev", dev, "parent", "1:", "protocol", "ipv6" if v6 else "ip",
                       "prio", "1", "u32", "match", "ip6" if v6 else "ip", "dst",
                       f"{self.target}/{128 if v6 else 32}", "flowid", classid))
        return cmds


@dataclass
class HTBSource:
    """A host and its per-destination constraints (one per device and target: adding
    another replaces it)."""

    host: Host
    constraints: set[HTBConstraint] = field(default_factory=set)

    @staticmethod
    def equal(c1: HTBConstraint, c2: HTBConstraint) -> bool:
        """Same device, same target: the second replaces the first."""
        return type(c1) is type(c2) and c1.device == c2.device and c1.target == c2.target

    def add_constraint(self, *args: Any, **kwargs: Any) -> "HTBSource":
        """Add ``HTBConstraint(*args, **kwargs)``."""
        return self.add_constraints([HTBConstraint(*args, **kwargs)])

    def add_constraints(self, constraints: Iterable[HTBConstraint]) -> "HTBSource":
        self.constraints = _merge(self.constraints, constraints, self.equal)
        return self

    def by_device(self) -> dict[str, list[HTBConstraint]]:
        """The constraints per device, in a stable order (class ids follow it)."""
        out: dict[str, list[HTBConstraint]] = {}
        for c in sorted(self.constraints, key=lambda c: (c.device, c.target)):
            out.setdefault(c.device, []).append(c)
        return out

    def remove_commands(self) -> list[str]:
        return [cmd for cs in self.by_device().values() for cmd in cs[0].remove_commands()]

    def add_commands(self) -> list[str]:
        return [cmd for cs in self.by_device().values() for cmd in cs[0].add_commands()]

    def commands(self) -> list[str]:
        return [cmd for cs in self.by_device().values() for i, c in enumerate(cs) for cmd in c.commands(i)]

    def all_commands(self) -> tuple[list[str], list[str], list[str]]:
        """``(remove, add, commands)``: run in this order, they set the constraints."""
        return self.remove_commands(), self.add_commands(), self.commands()


# -- command generation ------------------------------------------------------------------
_UNCONSTRAINED_RATE = "100gbit"  # HTB class of the traffic no constraint selects


def _q(*words: str) -> str:
    return shlex.join(words)


def reset_commands(interfaces: Iterable[str], ifb: str | None = None) -> list[str]:
    """Remove every qdisc we may have set (errors ignored: nothing set is fine)."""
    cmds = []
    for iface in interfaces:
        cmds.append(_q("tc", "qdisc", "del", "dev", iface, "root") + " 2>/dev/null || true")
        cmds.append(_q("tc", "qdisc", "del", "dev", iface, "ingress") + " 2>/dev/null || true")
        cmds.append(_q("ip", "link", "del", ifb or ifb_name(iface)) + " 2>/dev/null || true")
    return cmds


def ifb_name(iface: str) -> str:
    """The ifb device mirroring ``iface``'s ingress (names are limited to 15 characters)."""
    # ifb devices mirror an interface's ingress; names are limited to 15 characters
    return ("ifb-" + iface)[:15]


def ifb_redirect_commands(iface: str, ifb: str | None = None) -> list[str]:
    """Mirror ``iface``'s incoming traffic to its ifb device, where it can be shaped as egress."""
    ifb = ifb or ifb_name(iface)
    return [
        _q("ip", "link", "add", ifb, "type", "ifb"),
        _q("ip", "link", "set", "dev", ifb, "up"),
        _q("tc", "qdisc", "add", "dev", iface, "handle", "ffff:", "ingress"),
        _q("tc", "filter", "add", "dev", iface, "parent", "ffff:", "protocol", "all", "u32",
           "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev", ifb),
    ]


def _source(host: Host | None, interfaces: Iterable[str], tokens: list[str], symmetric: bool) -> NetemInOutSource:
    options = " ".join(tokens)
    source = NetemInOutSource(host or Host("localhost"))
    for iface in interfaces:
        source.add_constraints([NetemOutConstraint(iface, options)])
        if symmetric:
            source.add_constraints([NetemInConstraint(iface, options)])
    return source


def netem_commands(interfaces: Iterable[str], tokens: list[str], symmetric: bool) -> list[str]:
    """Egress netem on each interface; ingress too (via ifb) when ``symmetric``."""
    return [cmd for part in _source(None, interfaces, tokens, symmetric).all_commands() for cmd in part]


def htb_commands(iface: str, constraints: list[HTBConstraint], with_netem: bool = True) -> list[str]:
    """One HTB tree on ``iface``: class 1:1 for unconstrained traffic, one class+netem per destination
    (``with_netem=False``: the classes only, for rates; the nfqueue engine delays elsewhere)."""
    first = HTBConstraint(iface, None, "0.0.0.0")
    cmds = first.remove_commands() + first.add_commands()
    for i, c in enumerate(constraints):
        cmds += c.commands(i, with_netem=with_netem)
    return cmds


def script(commands: list[str]) -> str:
    """One shell script: stop at the first failure, so a half-applied state is reported."""
    return "set -e\n" + "\n".join(commands) + "\n"
