"""Network emulation with ``tc``: delay, loss and rate on hosts' interfaces.

Two services, as experimenters know them from EnOSlib:

- :class:`Netem`: the same constraint on every selected interface (outgoing traffic; with
  ``symmetric=True`` incoming traffic too, through an ``ifb`` device).
- :class:`NetemHTB`: per-destination constraints (``a -> b: 20ms``), an HTB class and a
  netem qdisc per destination, selected by destination address.

>>> netem = NetemHTB()
>>> netem.add_constraints(src=roles["paris"], dest=roles["berlin"], delay="10ms", rate="1gbit", symmetric=True)
>>> netem.deploy(); print(netem.validate().table()); netem.destroy()

Underneath, EnOSlib's documented classes (module paths ``enoslib.service.emul.netem`` /
``.htb`` re-export them): a *source* is a host and the constraints of its devices,
:class:`NetemInOutSource` (:class:`NetemOutConstraint`/:class:`NetemInConstraint`:
``(device, options)``) or :class:`HTBSource` (:class:`HTBConstraint`: ``(device, delay,
target, rate="10gbit", loss=None)``); :func:`netem` and :func:`netem_htb` deploy lists of
sources, the services build theirs in ``sources``. :class:`AccurateNetemHTB` takes the
infrastructure's own latency off the delays it sets.

>>> source = HTBSource(host=roles["paris"][0])
>>> source.add_constraint(device="eth0", delay="10ms", target="10.0.0.3", rate="1gbit")
>>> netem_htb([source])

The commands are generated here (pure functions, every value checked and quoted) and run
over the api's fast path, one script per host, all hosts in parallel.

Engines (``engine=`` of both services): ``"tc"`` is the kernel's netem qdisc, as EnOSlib
does. ``"nfqueue"`` is for kernels built without ``sch_netem``: rates still with HTB, but
delay and loss by iptables rules (chains ``ENOS-NETEM-OUT``/``-IN`` of the mangle table,
hooked from POSTROUTING/PREROUTING) sending the packets to NFQUEUE queues, served by a small
userspace daemon (:mod:`enoslib.services.delayd`, shipped to the host and started in the
background; outgoing packets are copied, dropped and sent again after the delay, so that
TCP senders are not throttled by packets held on their behalf). ``"auto"`` (default)
decides per host: ``deploy`` first runs a small probe script on every host (can the kernel
add a netem qdisc to a throwaway ifb device?), then each host's deploy script for its
engine: two parallel rounds. Which engine each host used is in ``service.engines`` and in
the :class:`LatencyReport`. The nfqueue engine emulates delay (and jitter), loss and rate
(not duplicate, corrupt, reorder, correlations nor distributions), delays IP traffic only
(not ARP), and needs ``iptables-legacy`` (or an ``iptables`` with NFQUEUE) and
``/usr/bin/python3`` on the host.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from enoslib.errors import EnosConfigError, EnosError
from enoslib.objects import Host, Network

if TYPE_CHECKING:
    from enoslib.api.results import Results

_TIME = re.compile(r"^\d+(\.\d+)?(us|ms|s)$")
_RATE = re.compile(r"^\d+(\.\d+)?([kmgt]?bit|[kmgt]?bps)$", re.IGNORECASE)
_PERCENT = re.compile(r"^\d+(\.\d+)?%$")
_COUNT = re.compile(r"^\d+$")
_DISTRIBUTION = re.compile(r"^(uniform|normal|pareto|paretonormal)$")
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


# -- engines -----------------------------------------------------------------------------
ENGINES = ("auto", "tc", "nfqueue")
ENGINE_MARK = "enoslib-netem-engine="  # the line a deploy script prints to say what it used
NFQUEUE_BASE = 7300  # first NFQUEUE queue number (one queue per distinct delay/loss on a host)
CHAIN_OUT, CHAIN_IN = "ENOS-NETEM-OUT", "ENOS-NETEM-IN"
_HEREDOC_END = "ENOSLIB_DELAYD_EOF"
_PROBE_IFACE = "enos-probe0"
REINJECT_MARK = 0x454E  # firewall mark of the packets the daemon sends again (our rules skip them)

# Shell functions every script defines. State lives in /tmp, named after the network
# namespace (hosts sharing a /tmp, e.g. namespaces of one machine, do not clash):
# <state>.py the daemon, .pid its pid (written once it has bound its queues), .log its
# output, .rules present while our iptables chains may exist.
_PRELUDE = r"""enos_state=/tmp/enoslib-delayd-$(readlink /proc/self/ns/net 2>/dev/null | tr -cd 0-9)
enos_ipt() {
  enos_fam=$1; shift
  if command -v "$enos_fam-legacy" >/dev/null 2>&1; then "$enos_fam-legacy" -w "$@"; else "$enos_fam" -w "$@"; fi
}
enos_is_delayd() {
  [ "$(readlink "/proc/$1/ns/net" 2>/dev/null)" = "$(readlink /proc/self/ns/net)" ] &&
    grep -q enoslib-delayd "/proc/$1/cmdline" 2>/dev/null
}
enos_alive() {  # running, not a zombie (/proc/PID/cmdline can read empty while it execs)
  [ -e "/proc/$1" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != Z ]
}
enos_stop() {
  enos_pid=$(cat "$enos_state.pid" 2>/dev/null || true)
  case "$enos_pid" in ''|*[!0-9]*) enos_pid= ;; esac
  if [ -n "$enos_pid" ] && enos_is_delayd "$enos_pid"; then
    kill "$enos_pid" 2>/dev/null || true
    enos_i=0
    while enos_is_delayd "$enos_pid" && [ $enos_i -lt 60 ]; do sleep 0.05; enos_i=$((enos_i + 1)); done
    if enos_is_delayd "$enos_pid"; then kill -9 "$enos_pid" 2>/dev/null || true; fi
  fi
  rm -f "$enos_state.pid"
}
enos_nfq_clean() {
  for enos_fam in iptables ip6tables; do
    case $enos_fam in iptables) enos_names=/proc/net/ip_tables_names ;; *) enos_names=/proc/net/ip6_tables_names ;; esac
    if [ -f "$enos_state.rules" ] || grep -qx mangle "$enos_names" 2>/dev/null; then
      command -v "$enos_fam-legacy" >/dev/null 2>&1 || command -v "$enos_fam" >/dev/null 2>&1 || continue
      while enos_ipt $enos_fam -t mangle -D POSTROUTING -j ENOS-NETEM-OUT 2>/dev/null; do :; done
      while enos_ipt $enos_fam -t mangle -D PREROUTING -j ENOS-NETEM-IN 2>/dev/null; do :; done
      for enos_chain in ENOS-NETEM-OUT ENOS-NETEM-IN; do
        enos_ipt $enos_fam -t mangle -F $enos_chain 2>/dev/null || true
        enos_ipt $enos_fam -t mangle -X $enos_chain 2>/dev/null || true
      done
    fi
  done
  rm -f "$enos_state.rules"
}
enos_nfq_chains() {
  enos_ipt "$1" -t mangle -N ENOS-NETEM-OUT && enos_ipt "$1" -t mangle -N ENOS-NETEM-IN &&
    enos_ipt "$1" -t mangle -A ENOS-NETEM-OUT -m mark --mark REINJECT_MARK -j RETURN &&
    enos_ipt "$1" -t mangle -I POSTROUTING 1 -j ENOS-NETEM-OUT &&
    enos_ipt "$1" -t mangle -I PREROUTING 1 -j ENOS-NETEM-IN
}""".replace("REINJECT_MARK", hex(REINJECT_MARK))


def check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise EnosConfigError(f"invalid engine {engine!r}: expected one of {', '.join(ENGINES)}", rule="enum")
    return engine


_delayd_cache: list[str] = []


def delayd_source() -> str:
    """The text of :mod:`enoslib.services.delayd`, as shipped to hosts."""
    if not _delayd_cache:
        text = (Path(__file__).with_name("delayd.py")).read_text()
        if any(line.strip() == _HEREDOC_END for line in text.splitlines()):
            raise EnosError(f"delayd.py contains the line {_HEREDOC_END}: it cannot be shipped")
        _delayd_cache.append(text)
    return _delayd_cache[0]


def percent(value: str) -> float:
    """``"1.5%"`` -> 1.5."""
    if not _PERCENT.match(value):
        raise EnosConfigError(f"invalid percentage {value!r}: expected e.g. '1%'", rule="format")
    return float(value[:-1])


class QueuePlan:
    """NFQUEUE queue numbers of one host: one per distinct (delay ms, loss %, re-injecting,
    jitter ms).

    Re-injecting queues are for outgoing traffic: the daemon drops the original at once
    and sends a copy after the delay (see :mod:`enoslib.services.delayd`), so a held packet
    does not count against its TCP socket's small-queue budget."""

    def __init__(self, base: int = NFQUEUE_BASE) -> None:
        self.base = base
        self.queues: dict[tuple[float, float, bool, float], int] = {}

    def number(self, delay_ms: float, loss_pct: float, reinject: bool = False, jitter_ms: float = 0.0) -> int:
        key = (float(delay_ms), float(loss_pct), bool(reinject), float(jitter_ms))
        if key not in self.queues:
            self.queues[key] = self.base + len(self.queues)
        return self.queues[key]

    def delayd_args(self) -> list[str]:
        """``--queue``/``--reinject-queue NUM:DELAY_MS:LOSS_PCT[:JITTER_MS]`` arguments for the daemon."""
        args = []
        for (delay, loss, reinject, jitter), num in sorted(self.queues.items(), key=lambda kv: kv[1]):
            spec = f"{num}:{delay:g}:{loss:g}" + (f":{jitter:g}" if jitter else "")
            args += ["--reinject-queue" if reinject else "--queue", spec]
        if any(key[2] for key in self.queues):
            args += ["--mark", hex(REINJECT_MARK)]
        return args


def nfqueue_rule(family: str, chain: str, match: list[str], queue: int) -> str:
    """An iptables rule sending matching packets to ``queue`` (passed through if no daemon
    listens: the host stays reachable if the daemon dies, and validate() shows it)."""
    return "enos_ipt " + _q(family, "-t", "mangle", "-A", chain, *match, "-j", "NFQUEUE",
                            "--queue-num", str(int(queue)), "--queue-bypass")


def rate_commands(dev: str, rate: str) -> list[str]:
    """Cap everything leaving ``dev`` at ``rate`` (one HTB class)."""
    return [
        _q("tc", "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "1"),
        _q("tc", "class", "add", "dev", dev, "parent", "1:", "classid", "1:1", "htb", "rate", rate, "ceil", rate),
    ]


def nfqueue_params(options: str) -> tuple[float, float, float, str | None]:
    """``(delay ms, jitter ms, loss %, rate)`` of a netem option string, for the nfqueue
    engine; raise for what only the kernel's netem can do."""
    parsed = parse_netem_options(options)
    unsupported = [o for o in parsed if o not in ("delay", "loss", "rate")]
    if len(parsed.get("delay", ())) > 2:
        unsupported.append("delay correlation")
    if len(parsed.get("loss", ())) > 1:
        unsupported.append("loss correlation")
    if unsupported:
        raise EnosConfigError(
            f"netem option(s) {', '.join(unsupported)} need the kernel's netem (engine 'tc'): "
            "the nfqueue engine emulates delay (and jitter), loss and rate only", rule="enum")
    delay = parsed.get("delay", [])
    return (ms(delay[0]) if delay else 0.0, ms(delay[1]) if len(delay) > 1 else 0.0,
            percent(parsed["loss"][0]) if "loss" in parsed else 0.0, parsed.get("rate", [None])[0])


def source_nfqueue_commands(source: NetemInOutSource, queues: QueuePlan) -> tuple[list[str], list[str]]:
    """The nfqueue engine's take on a :class:`NetemInOutSource`: rates with HTB (incoming
    via ifb), delay and loss with NFQUEUE rules on the devices (IPv4, and IPv6 when the
    host has ip6tables). Returns (tc commands, iptables rules)."""
    cmds = reset_commands(sorted({c.device for c in source.constraints}))
    rules = []
    for c in [*source.outbounds, *source.inbounds]:
        delay, jitter, loss, rate = nfqueue_params(c.options)
        inbound = type(c) is NetemInConstraint
        if rate:
            cmds += ([*ifb_redirect_commands(c.device), *rate_commands(ifb_name(c.device), rate)] if inbound
                     else rate_commands(c.device, rate))
        if delay or loss:
            chain, flag = (CHAIN_IN, "-i") if inbound else (CHAIN_OUT, "-o")
            queue = queues.number(delay, loss, reinject=not inbound, jitter_ms=jitter)
            rules.append(nfqueue_rule("iptables", chain, [flag, c.device], queue))
            rules.append('if [ -n "$enos_v6" ]; then ' + nfqueue_rule("ip6tables", chain, [flag, c.device], queue) + "; fi")
    return cmds, rules


def netem_nfqueue_commands(interfaces: Iterable[str], tokens: list[str], symmetric: bool,
                           queues: QueuePlan) -> tuple[list[str], list[str]]:
    """The nfqueue engine's take on :func:`netem_commands`."""
    return source_nfqueue_commands(_source(None, interfaces, tokens, symmetric), queues)


def htb_nfqueue_commands(iface: str, constraints: list[HTBConstraint],
                         queues: QueuePlan) -> tuple[list[str], list[str]]:
    """The nfqueue engine's take on :func:`htb_commands`: the same HTB classes (rates), and
    one NFQUEUE rule per delayed/lossy destination, to a re-injecting queue (see
    :class:`QueuePlan`). Returns (tc commands, iptables rules)."""
    rules = []
    for c in constraints:
        delay, loss = (ms(c.delay) if c.delay else 0.0, percent(c.loss) if c.loss else 0.0)
        if delay or loss:
            v6 = ":" in c.target
            match = ["-o", iface, "-d", f"{c.target}/{128 if v6 else 32}"]
            rules.append(nfqueue_rule("ip6tables" if v6 else "iptables", CHAIN_OUT, match,
                                      queues.number(delay, loss, reinject=True)))
    return htb_commands(iface, constraints, with_netem=False), rules


def delayd_commands(queues: QueuePlan) -> list[str]:
    """Ship the daemon, start it in the background, wait until it has bound its queues."""
    if not queues.queues:
        return []
    start = _q("/usr/bin/python3") + ' "$enos_state.py" --pidfile "$enos_state.pid" ' + _q(*queues.delayd_args())
    return [
        "[ -x /usr/bin/python3 ] || { echo 'enoslib: the nfqueue engine needs /usr/bin/python3 on the host' >&2; exit 3; }",
        f"cat > \"$enos_state.py\" <<'{_HEREDOC_END}'\n{delayd_source().rstrip()}\n{_HEREDOC_END}",
        start + ' >"$enos_state.log" 2>&1 </dev/null &',
        "enos_pid=$!; enos_i=0",
        ('while [ ! -s "$enos_state.pid" ]; do\n'
         '  if ! enos_alive "$enos_pid"; then\n'
         "    echo 'enoslib: the delay daemon did not start:' >&2; cat \"$enos_state.log\" >&2; exit 1\n"
         "  fi\n"
         "  enos_i=$((enos_i + 1))\n"
         "  if [ $enos_i -gt 400 ]; then echo 'enoslib: the delay daemon is not ready after 20 s' >&2; exit 1; fi\n"
         "  sleep 0.05\n"
         "done"),
    ]


def nfqueue_commands(queues: QueuePlan, tc_commands: list[str], rules: list[str],
                     families: Iterable[str] = ("iptables",), optional_v6: bool = False) -> list[str]:
    """A host's nfqueue deployment: its qdiscs (rates), then the daemon, then our chains
    (``families`` must work; IPv6 is tried when ``optional_v6``, ``$enos_v6`` telling
    whether it worked), then the rules (none match before the daemon listens)."""
    cmds = [*tc_commands, *delayd_commands(queues)]
    if not rules:
        return cmds
    cmds.append('touch "$enos_state.rules"')
    families = list(dict.fromkeys(families))
    cmds += [f"enos_nfq_chains {_q(f)}" for f in families]
    if "ip6tables" in families:
        cmds.append("enos_v6=1")
    elif optional_v6:
        cmds.append("if enos_nfq_chains ip6tables 2>/dev/null; then enos_v6=1; else enos_v6=; "
                    "echo 'enoslib: no ip6tables here: IPv6 traffic is not delayed' >&2; fi")
    return cmds + rules


def probe_script(fallback_iface: str | None = None) -> str:
    """Print ``enoslib-netem-engine=tc`` if this kernel can add a netem qdisc, else
    ``...=nfqueue``. Probed on a throwaway ifb device; without ifb, on ``fallback_iface``
    (an interface whose qdiscs the deployment resets anyway)."""
    cmds = [
        "enos_engine=nfqueue",
        _q("ip", "link", "del", _PROBE_IFACE) + " 2>/dev/null || true",
        "if " + _q("ip", "link", "add", _PROBE_IFACE, "type", "ifb") + " 2>/dev/null; then",
        "  if " + _q("tc", "qdisc", "add", "dev", _PROBE_IFACE, "root", "netem", "delay", "1ms") + " 2>/dev/null; then enos_engine=tc; fi",
        "  " + _q("ip", "link", "del", _PROBE_IFACE) + " 2>/dev/null || true",
    ]
    if fallback_iface:
        cmds += [
            "else",
            "  " + _q("tc", "qdisc", "del", "dev", fallback_iface, "root") + " 2>/dev/null || true",
            "  if " + _q("tc", "qdisc", "add", "dev", fallback_iface, "root", "netem", "delay", "0ms") + " 2>/dev/null; then",
            "    enos_engine=tc; " + _q("tc", "qdisc", "del", "dev", fallback_iface, "root") + " 2>/dev/null || true",
            "  fi",
        ]
    cmds += ["fi", f'echo "{ENGINE_MARK}$enos_engine"']
    return "\n".join(cmds) + "\n"


def engine_script(engine: str, commands: list[str]) -> str:
    """One host's deploy script for a known engine: undo any previous deployment of either
    engine (so a redeploy replaces), apply ``commands``, print ``enoslib-netem-engine=...``."""
    if engine not in ("tc", "nfqueue"):
        raise EnosConfigError(f"invalid engine {engine!r} for a host: expected tc or nfqueue", rule="enum")
    return script([_PRELUDE, f"enos_engine={engine}", "enos_stop", "enos_nfq_clean", *commands,
                   f'echo "{ENGINE_MARK}$enos_engine"'])


def teardown_script(interfaces: Iterable[str]) -> str:
    """Undo a deployment of either engine: daemon, iptables chains, qdiscs, ifb devices."""
    return script([_PRELUDE, "enos_stop", "enos_nfq_clean", 'rm -f "$enos_state.py"', *reset_commands(interfaces)])


def parse_engines(results: Iterable[Any]) -> dict[str, str]:
    """{host alias: engine} from probe or deploy results (``enoslib-netem-engine=`` lines)."""
    engines = {}
    for r in results:
        for line in (r.stdout or "").splitlines():
            if line.startswith(ENGINE_MARK):
                engines[r.host] = line[len(ENGINE_MARK):].strip()
    return engines


def probe_engines(hosts: Mapping[Host, str | None]) -> dict[str, str]:
    """Run :func:`probe_script` on every host (values: a fallback interface), in parallel."""
    if not hosts:
        return {}
    return parse_engines(_run_scripts({h: probe_script(i) for h, i in hosts.items()}, "netem probe"))


# -- measurements ------------------------------------------------------------------------
def parse_fping(output: str) -> dict[str, list[float]]:
    """Parse ``fping -C N -q`` output (``10.0.0.2 : 20.1 20.3 -``) into RTTs (ms) per target."""
    rtts: dict[str, list[float]] = {}
    for line in output.splitlines():
        if " : " not in line:
            continue
        target, values = line.split(" : ", 1)
        rtts[target.strip()] = [float(v) for v in values.split() if v != "-"]
    return rtts


@dataclass
class LatencyReport:
    """Measured vs expected round-trip times, per (source alias, destination alias)."""

    expected: dict[tuple[str, str], float] = field(default_factory=dict)
    measured: dict[tuple[str, str], float | None] = field(default_factory=dict)
    tolerance: float = 0.10
    floor_ms: float = 1.0
    # how each host emulated its constraints: "tc" (netem qdisc) or "nfqueue" (userspace)
    engines: dict[str, str] = field(default_factory=dict)

    def engine_summary(self) -> str:
        """``"tc"``, ``"nfqueue"``, or ``"tc on a, b; nfqueue on c"`` (``""`` if unknown)."""
        by_engine: dict[str, list[str]] = {}
        for alias, engine in sorted(self.engines.items()):
            by_engine.setdefault(engine, []).append(alias)
        if len(by_engine) <= 1:
            return next(iter(by_engine), "")
        return "; ".join(f"{e} on {', '.join(hosts)}" for e, hosts in sorted(by_engine.items()))

    def error(self, pair: tuple[str, str]) -> float | None:
        m = self.measured.get(pair)
        if m is None:
            return None
        return m - self.expected.get(pair, 0.0)

    def within(self, pair: tuple[str, str]) -> bool:
        m, e = self.measured.get(pair), self.expected.get(pair, 0.0)
        if m is None:
            return False
        # relative tolerance, with a small absolute floor for near-zero expectations
        return abs(m - e) <= max(self.tolerance * e, self.floor_ms)

    @property
    def ok(self) -> bool:
        return all(self.within(p) for p in self.expected)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"src": s, "dest": d, "expected_ms": round(self.expected[(s, d)], 3),
             "measured_ms": None if self.measured.get((s, d)) is None else round(self.measured[(s, d)], 3),  # type: ignore[arg-type]
             "ok": self.within((s, d))}
            for (s, d) in self.expected
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"tolerance": self.tolerance, "ok": self.ok, "engines": dict(self.engines), "pairs": self.rows()}

    def table(self) -> Any:
        from enoslib.objects.display import rich_table

        return rich_table(
            ({**r, "ok": "yes" if r["ok"] else "NO"} for r in self.rows()),
            title=f"RTT expected vs measured (tolerance {self.tolerance:.0%}"
                  + (f"; engine: {self.engine_summary()})" if self.engines else ")"),
        )


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


def _address_on(host: Host, networks: Iterable[Network] | None) -> list[str]:
    nets = list(networks) if networks is not None else None
    addrs = [a.split("/")[0] for a in host.filter_addresses(nets)]
    addrs = [a for a in addrs if not a.startswith("127.") and a != "::1"]
    return addrs or [host.address]


def _run_scripts(scripts: Mapping[Host, str], task: str) -> "Results":
    from enoslib.api.commands import run_scripts

    return run_scripts(scripts, task_name=task)


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

    engine: str
    engines: dict[str, str]
    sources: dict[Host, Any]
    _touched: dict[Host, set[str]]
    _task: str
    _scripts_of: Any  # netem_scripts or htb_scripts

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
        self.engine = check_engine(engine)
        self.engines: dict[str, str] = {}
        self.sources: dict[Host, NetemInOutSource] = {}
        self._touched: dict[Host, set[str]] = {}

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
        self.engine = check_engine(engine)
        self.engines: dict[str, str] = {}
        self.sources: dict[Host, HTBSource] = {}
        self.dests: set[Host] = set()
        self._targets: dict[str, Host] = {}  # constrained address -> its host (for validate)
        self._networks: list[Network] | None = None
        self._touched: dict[Host, set[str]] = {}

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


def user_clock_ping_script(addresses: Iterable[str], count: int) -> str:
    """``ping -U`` (user-space timestamps) to every address in parallel, printed like
    ``fping -C``: for hosts whose incoming packets are delayed after the kernel stamped them."""
    addrs = shlex.join(addresses)
    return (
        'enos_d=$(mktemp -d)\n'
        f'for a in {addrs}; do\n'
        f'  ping -U -n -c {int(count)} -i 0.05 -W 2 "$a" 2>/dev/null'
        " | sed -n 's/.* time=\\([0-9.]*\\) ms.*/\\1/p' | tr '\\n' ' ' > \"$enos_d/$a\" &\n"
        "done\n"
        "wait\n"
        f'for a in {addrs}; do echo "$a : $(cat "$enos_d/$a")"; done\n'
        'rm -rf "$enos_d"\n'
    )


FPING_FILE_SUFFIX = ".fpingout"  # validate(output_dir=...) saves <alias>.fpingout per source


def fping_targets(targets: Mapping[Host, Iterable[str]], count: int = 10, user_clock: Iterable[Host] = (),
                  output_dir: str | Path | None = None) -> dict[Host, dict[str, list[float]]]:
    """RTTs (ms) from each host to its target addresses: fping, or ``ping -U`` from the hosts
    in ``user_clock`` (fping reads the kernel's receive timestamps, taken before an nfqueue
    ingress delay); all sources in parallel. ``output_dir``: save each source's raw output."""
    user_clock = set(user_clock)
    scripts = {
        src: user_clock_ping_script(addrs, count) if src in user_clock else
        "fping -C {} -q -p 50 -t 2000 {} 2>&1 || true\n".format(int(count), shlex.join(addrs))
        for src, addrs in ((s, list(a)) for s, a in targets.items()) if addrs
    }
    if not scripts:
        return {}
    results = _run_scripts(scripts, "fping")
    if output_dir is not None:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        for result in results:
            (Path(output_dir) / f"{result.host}{FPING_FILE_SUFFIX}").write_text(result.stdout or "")
    by_alias = {h.alias: h for h in scripts}
    return {by_alias[r.host]: parse_fping(r.stdout or "") for r in results}


def measure_rtts(expected: Mapping[tuple[Host, Host], float], count: int = 10,
                 networks: Iterable[Network] | None = None, tolerance: float = 0.10,
                 user_clock: Iterable[Host] = (), output_dir: str | Path | None = None) -> LatencyReport:
    """Measure from each source to its destinations (see :func:`fping_targets`) and compare
    the median RTT with ``expected``."""
    nets = list(networks) if networks is not None else None
    targets: dict[Host, dict[str, Host]] = {}
    for src, dest in expected:
        for address in _address_on(dest, nets)[:1]:
            targets.setdefault(src, {})[address] = dest
    measured = fping_targets(targets, count=count, user_clock=user_clock, output_dir=output_dir)
    report = LatencyReport(tolerance=tolerance)
    for src, rtts_by_address in measured.items():
        for address, rtts in rtts_by_address.items():
            target = targets[src].get(address)
            if target is not None:
                report.measured[(src.alias, target.alias)] = statistics.median(rtts) if rtts else None
    for (src, dest), value in expected.items():
        report.expected[(src.alias, dest.alias)] = value
        report.measured.setdefault((src.alias, dest.alias), None)
    return report
