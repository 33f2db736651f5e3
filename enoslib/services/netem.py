"""Network emulation with ``tc``: delay, loss and rate on hosts' interfaces.

Two services, as experimenters know them from EnOSlib:

- :class:`Netem`: the same constraint on every selected interface (outgoing traffic; with
  ``symmetric=True`` incoming traffic too, through an ``ifb`` device).
- :class:`NetemHTB`: per-destination constraints (``a -> b: 20ms``), an HTB class and a
  netem qdisc per destination, selected by destination address.

>>> netem = NetemHTB()
>>> netem.add_constraints(src=roles["paris"], dest=roles["berlin"], delay="10ms", rate="1gbit", symmetric=True)
>>> netem.deploy(); print(netem.validate().table()); netem.destroy()

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
the :class:`LatencyReport`. The nfqueue engine emulates delay, loss and rate (not
duplicate, corrupt, reorder, nor jitter), delays IP traffic only (not ARP), and needs
``iptables-legacy`` (or an ``iptables`` with NFQUEUE) and ``/usr/bin/python3`` on the host.
"""

from __future__ import annotations

import re
import shlex
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from enoslib.errors import EnosConfigError, EnosError
from enoslib.objects import Host, Network

if TYPE_CHECKING:
    from enoslib.api.results import Results

# [0-9], not \d (Unicode digits); \Z, not $ (which matches before a trailing newline)
_TIME = re.compile(r"^[0-9]+(\.[0-9]+)?(us|ms|s)\Z")
_RATE = re.compile(r"^[0-9]+(\.[0-9]+)?([kmgt]?bit|[kmgt]?bps)\Z", re.IGNORECASE)
_PERCENT = re.compile(r"^[0-9]+(\.[0-9]+)?%\Z")
# netem options we accept in a free-form Netem string, with the check for their argument(s)
_NETEM_OPTIONS: dict[str, tuple[re.Pattern[str], ...]] = {
    "delay": (_TIME,),
    "loss": (_PERCENT,),
    "rate": (_RATE,),
    "duplicate": (_PERCENT,),
    "corrupt": (_PERCENT,),
    "reorder": (_PERCENT,),
}


def ms(value: str) -> float:
    """``"10ms"`` -> 10.0; ``"1s"`` -> 1000.0; ``"500us"`` -> 0.5."""
    m = _TIME.match(value)
    if not m:
        raise EnosConfigError(f"invalid delay {value!r}: expected a number with us, ms or s (e.g. '10ms')", rule="format")
    number = float(value[: -len(m.group(2))])
    return number * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]


def check_netem_options(options: str) -> list[str]:
    """Split and check a netem option string (``"delay 10ms loss 1%"``); raise on anything else.

    Returns the tokens, safe to put on a ``tc`` command line.
    """
    tokens = options.split()
    if not tokens:
        raise EnosConfigError("empty netem options: expected e.g. 'delay 10ms' or 'loss 1%'", rule="format")
    i = 0
    while i < len(tokens):
        name = tokens[i]
        if name not in _NETEM_OPTIONS:
            raise EnosConfigError(
                f"unsupported netem option {name!r} in {options!r} (supported: {', '.join(_NETEM_OPTIONS)})",
                rule="enum",
            )
        patterns = _NETEM_OPTIONS[name]
        args = tokens[i + 1 : i + 1 + len(patterns)]
        if len(args) != len(patterns) or not all(p.match(a) for p, a in zip(patterns, args)):
            raise EnosConfigError(f"invalid value for netem {name!r} in {options!r}", rule="format")
        i += 1 + len(patterns)
    return tokens


@dataclass(frozen=True)
class HTBConstraint:
    """Traffic from ``src`` to ``dest_address`` (an IP) gets ``delay``/``rate``/``loss``."""

    src: Host
    dest_address: str
    delay: str | None = None
    rate: str | None = None
    loss: str | None = None
    dest: Host | None = None

    def __post_init__(self) -> None:
        if self.delay is not None:
            ms(self.delay)
        if self.rate is not None and not _RATE.match(self.rate):
            raise EnosConfigError(f"invalid rate {self.rate!r}: expected e.g. '1gbit' or '100mbit'", rule="format")
        if self.loss is not None and not _PERCENT.match(self.loss):
            raise EnosConfigError(f"invalid loss {self.loss!r}: expected a percentage, e.g. '1%'", rule="format")
        if not re.match(r"^[0-9a-fA-F:.]+$", self.dest_address):
            raise EnosConfigError(f"invalid destination address {self.dest_address!r}", rule="format")

    def netem_args(self) -> list[str]:
        args = []
        if self.delay:
            args += ["delay", self.delay]
        if self.loss:
            args += ["loss", self.loss]
        return args


# -- command generation ------------------------------------------------------------------
def _q(*words: str) -> str:
    return shlex.join(words)


def reset_commands(interfaces: Iterable[str]) -> list[str]:
    """Remove every qdisc we may have set (errors ignored: nothing set is fine)."""
    cmds = []
    for iface in interfaces:
        cmds.append(_q("tc", "qdisc", "del", "dev", iface, "root") + " 2>/dev/null || true")
        cmds.append(_q("tc", "qdisc", "del", "dev", iface, "ingress") + " 2>/dev/null || true")
        ifb = ifb_name(iface)
        cmds.append(_q("ip", "link", "del", ifb) + " 2>/dev/null || true")
    return cmds


def ifb_name(iface: str) -> str:
    # ifb devices mirror an interface's ingress; names are limited to 15 characters
    return ("ifb-" + iface)[:15]


def ifb_redirect_commands(iface: str) -> list[str]:
    """Mirror ``iface``'s incoming traffic to its ifb device, where it can be shaped as egress."""
    ifb = ifb_name(iface)
    return [
        _q("ip", "link", "add", ifb, "type", "ifb"),
        _q("ip", "link", "set", "dev", ifb, "up"),
        _q("tc", "qdisc", "add", "dev", iface, "handle", "ffff:", "ingress"),
        _q("tc", "filter", "add", "dev", iface, "parent", "ffff:", "protocol", "all", "u32",
           "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev", ifb),
    ]


def netem_commands(interfaces: Iterable[str], tokens: list[str], symmetric: bool) -> list[str]:
    """Egress netem on each interface; ingress too (via ifb) when ``symmetric``."""
    interfaces = list(interfaces)
    cmds = reset_commands(interfaces)
    for iface in interfaces:
        cmds.append(_q("tc", "qdisc", "add", "dev", iface, "root", "netem", *tokens))
        if symmetric:
            ifb = ifb_name(iface)
            cmds += [*ifb_redirect_commands(iface), _q("tc", "qdisc", "add", "dev", ifb, "root", "netem", *tokens)]
    return cmds


def htb_commands(iface: str, constraints: list[HTBConstraint], default_rate: str = "100gbit",
                 with_netem: bool = True) -> list[str]:
    """One HTB tree on ``iface``: class 1:1 for unconstrained traffic, one class+netem per destination
    (``with_netem=False``: the classes only, for rates; the nfqueue engine delays elsewhere)."""
    cmds = reset_commands([iface])
    cmds.append(_q("tc", "qdisc", "add", "dev", iface, "root", "handle", "1:", "htb", "default", "1"))
    cmds.append(_q("tc", "class", "add", "dev", iface, "parent", "1:", "classid", "1:1", "htb", "rate", default_rate))
    for i, c in enumerate(constraints, start=2):
        rate = c.rate or default_rate
        cmds.append(_q("tc", "class", "add", "dev", iface, "parent", "1:", "classid", f"1:{i}", "htb", "rate", rate, "ceil", rate))
        if with_netem and c.netem_args():
            cmds.append(_q("tc", "qdisc", "add", "dev", iface, "parent", f"1:{i}", "handle", f"{i + 10}:", "netem", *c.netem_args()))
        proto, match = ("ipv6", "ip6") if ":" in c.dest_address else ("ip", "ip")
        prefix = "128" if proto == "ipv6" else "32"
        cmds.append(_q("tc", "filter", "add", "dev", iface, "parent", "1:", "protocol", proto, "prio", "1", "u32",
                       "match", match, "dst", f"{c.dest_address}/{prefix}", "flowid", f"1:{i}"))
    return cmds


def script(commands: list[str]) -> str:
    """One shell script: stop at the first failure, so a half-applied state is reported."""
    return "set -e\n" + "\n".join(commands) + "\n"


# -- engines -----------------------------------------------------------------------------
ENGINES = ("auto", "tc", "nfqueue")
ENGINE_MARK = "enoslib-netem-engine="  # the line a deploy script prints to say what it used
NFQUEUE_BASE = 7300  # first NFQUEUE queue number (one queue per distinct delay/loss on a host)
CHAIN_OUT, CHAIN_IN = "ENOS-NETEM-OUT", "ENOS-NETEM-IN"
_NFQUEUE_UNSUPPORTED = ("duplicate", "corrupt", "reorder")
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
        from pathlib import Path

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
    """NFQUEUE queue numbers of one host: one per distinct (delay ms, loss %, re-injecting).

    Re-injecting queues are for outgoing traffic: the daemon drops the original at once
    and sends a copy after the delay (see :mod:`enoslib.services.delayd`), so a held packet
    does not count against its TCP socket's small-queue budget."""

    def __init__(self, base: int = NFQUEUE_BASE) -> None:
        self.base = base
        self.queues: dict[tuple[float, float, bool], int] = {}

    def number(self, delay_ms: float, loss_pct: float, reinject: bool = False) -> int:
        key = (float(delay_ms), float(loss_pct), bool(reinject))
        if key not in self.queues:
            self.queues[key] = self.base + len(self.queues)
        return self.queues[key]

    def delayd_args(self) -> list[str]:
        """``--queue``/``--reinject-queue NUM:DELAY_MS:LOSS_PCT`` arguments for the daemon."""
        args = []
        for (delay, loss, reinject), num in sorted(self.queues.items(), key=lambda kv: kv[1]):
            args += ["--reinject-queue" if reinject else "--queue", f"{num}:{delay:g}:{loss:g}"]
        if any(reinject for _, _, reinject in self.queues):
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


def netem_nfqueue_commands(interfaces: Iterable[str], tokens: list[str], symmetric: bool,
                           queues: QueuePlan) -> tuple[list[str], list[str]]:
    """The nfqueue engine's take on :func:`netem_commands`: rate with HTB (ingress via ifb
    when ``symmetric``), delay and loss with NFQUEUE rules on the interfaces (IPv4, and IPv6
    when the host has ip6tables). Returns (tc commands, iptables rules)."""
    options = dict(zip(tokens[::2], tokens[1::2]))
    unsupported = [o for o in _NFQUEUE_UNSUPPORTED if o in options]
    if unsupported:
        raise EnosConfigError(
            f"netem option(s) {', '.join(unsupported)} need the kernel's netem (engine 'tc'): "
            "the nfqueue engine emulates delay, loss and rate only", rule="enum")
    interfaces = list(interfaces)
    delay = ms(options["delay"]) if "delay" in options else 0.0
    loss = percent(options["loss"]) if "loss" in options else 0.0
    rate = options.get("rate")
    cmds = reset_commands(interfaces)
    rules = []
    for iface in interfaces:
        if rate:
            cmds += rate_commands(iface, rate)
            if symmetric:
                cmds += [*ifb_redirect_commands(iface), *rate_commands(ifb_name(iface), rate)]
        if delay or loss:
            directions = [(CHAIN_OUT, "-o", queues.number(delay, loss, reinject=True))]
            if symmetric:
                directions.append((CHAIN_IN, "-i", queues.number(delay, loss)))
            for chain, flag, queue in directions:
                rules.append(nfqueue_rule("iptables", chain, [flag, iface], queue))
                rules.append('if [ -n "$enos_v6" ]; then ' + nfqueue_rule("ip6tables", chain, [flag, iface], queue) + "; fi")
    return cmds, rules


def _delay_loss(c: HTBConstraint) -> tuple[float, float]:
    return (ms(c.delay) if c.delay else 0.0, percent(c.loss) if c.loss else 0.0)


def htb_nfqueue_commands(iface: str, constraints: list[HTBConstraint],
                         queues: QueuePlan) -> tuple[list[str], list[str]]:
    """The nfqueue engine's take on :func:`htb_commands`: the same HTB classes (rates), and
    one NFQUEUE rule per delayed/lossy destination, to a re-injecting queue (see
    :class:`QueuePlan`). Returns (tc commands, iptables rules)."""
    rules = []
    for c in constraints:
        delay, loss = _delay_loss(c)
        if delay or loss:
            v6 = ":" in c.dest_address
            match = ["-o", iface, "-d", f"{c.dest_address}/{128 if v6 else 32}"]
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
def _interfaces(host: Host, networks: Iterable[Network] | None) -> list[str]:
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


def _address_on(host: Host, networks: Iterable[Network] | None) -> list[str]:
    nets = list(networks) if networks is not None else None
    addrs = [a.split("/")[0] for a in host.filter_addresses(nets)]
    addrs = [a for a in addrs if not a.startswith("127.") and a != "::1"]
    return addrs or [host.address]


def _run_scripts(scripts: Mapping[Host, str], task: str) -> "Results":
    from enoslib.api.commands import run_scripts

    return run_scripts(scripts, task_name=task)


class Netem:
    """The same netem constraint on every selected interface of the given hosts.

    ``engine``: ``"auto"`` (netem where the kernel has it, else nfqueue; probed on each
    host at deploy time), ``"tc"`` or ``"nfqueue"``. After :meth:`deploy`, ``engines`` maps
    each host's alias to the engine it used.

    With nfqueue, the ingress delay (``symmetric``) is applied after the kernel has
    timestamped the incoming packet: tools reading kernel receive timestamps on that host
    (ping, fping) do not see it, so :meth:`validate` measures from such hosts with
    ``ping -U`` (user-space timestamps). Applications see the delay."""

    def __init__(self, engine: str = "auto") -> None:
        self.engine = check_engine(engine)
        self.engines: dict[str, str] = {}
        self._constraints: list[tuple[list[Host], list[str], bool, list[Network] | None]] = []
        self._touched: dict[Host, list[str]] = {}

    def add_constraints(self, options: str, hosts: Iterable[Host], symmetric: bool = False,
                        networks: Iterable[Network] | None = None) -> "Netem":
        """``options`` is a netem string (``"delay 10ms loss 1%"``); ``symmetric`` also shapes
        incoming traffic; ``networks`` selects interfaces (default: all but loopback)."""
        self._constraints.append((list(hosts), check_netem_options(options), symmetric,
                                  list(networks) if networks is not None else None))
        return self

    def _engine_of(self, host: Host, engines: Mapping[str, str] | None) -> str:
        if engines and host.alias in engines:
            return engines[host.alias]
        return "tc" if self.engine == "auto" else self.engine

    def scripts(self, engines: Mapping[str, str] | None = None) -> dict[Host, str]:
        """One deploy script per host, for the engine ``engines`` gives it (default: the
        service's engine; ``"auto"`` without probe results: tc)."""
        tc: dict[Host, list[str]] = {}
        tc_rates: dict[Host, list[str]] = {}
        rules: dict[Host, list[str]] = {}
        queues: dict[Host, QueuePlan] = {}
        for hosts, tokens, symmetric, networks in self._constraints:
            for host in hosts:
                ifaces = _interfaces(host, networks)
                self._touched[host] = sorted({*self._touched.get(host, []), *ifaces})
                if self._engine_of(host, engines) == "tc":
                    tc.setdefault(host, []).extend(netem_commands(ifaces, tokens, symmetric))
                else:
                    cmds, host_rules = netem_nfqueue_commands(ifaces, tokens, symmetric, queues.setdefault(host, QueuePlan()))
                    tc_rates.setdefault(host, []).extend(cmds)
                    rules.setdefault(host, []).extend(host_rules)
        out = {h: engine_script("tc", cmds) for h, cmds in tc.items()}
        for h, cmds in tc_rates.items():
            out[h] = engine_script("nfqueue", nfqueue_commands(queues[h], cmds, rules[h], optional_v6=True))
        return out

    def deploy(self) -> "Results":
        """Probe the engines (``auto``), then apply every host's script, in parallel."""
        engines = None
        if self.engine == "auto":
            hosts = {h: _interfaces(h, nets)[0] for hs, _, _, nets in self._constraints for h in hs}
            engines = probe_engines(hosts)
        results = _run_scripts(self.scripts(engines), "netem deploy")
        self.engines.update(parse_engines(results))
        return results

    def destroy(self) -> "Results":
        scripts = {h: teardown_script(ifaces) for h, ifaces in self._touched.items()}
        return _run_scripts(scripts, "netem destroy")

    def validate(self, count: int = 10) -> LatencyReport:
        """Ping every other constrained host and report RTTs (expected from the delays set)."""
        hosts = [h for hs, *_ in self._constraints for h in hs]
        expected: dict[tuple[Host, Host], float] = {}
        delay_of: dict[Host, tuple[float, bool]] = {}
        for hs, tokens, symmetric, _ in self._constraints:
            d = ms(tokens[tokens.index("delay") + 1]) if "delay" in tokens else 0.0
            for h in hs:
                delay_of[h] = (d, symmetric)
        for a in dict.fromkeys(hosts):
            for b in dict.fromkeys(hosts):
                if a != b:
                    da, sa = delay_of[a]
                    db, sb = delay_of[b]
                    # a's egress + b's egress (the reply), + ingress delays when symmetric
                    expected[(a, b)] = da + db + (da if sa else 0) + (db if sb else 0)
        # an nfqueue ingress delay comes after the kernel's receive timestamp: measure
        # from those hosts with user-space timestamps
        user_clock = [h for h, (d, sym) in delay_of.items() if sym and d and self.engines.get(h.alias) == "nfqueue"]
        report = measure_rtts(expected, count=count, user_clock=user_clock)
        report.engines = {h.alias: self.engines[h.alias] for h in dict.fromkeys(hosts) if h.alias in self.engines}
        return report


class NetemHTB:
    """Per-destination constraints: ``add_constraints(src, dest, delay="10ms", rate="1gbit")``.

    ``engine``: ``"auto"`` (netem where the kernel has it, else nfqueue; probed on each
    host at deploy time), ``"tc"`` or ``"nfqueue"``. After :meth:`deploy`, ``engines`` maps
    each host's alias to the engine it used.

    As with netem, only the sending hosts are touched: with nfqueue, their outgoing packets
    to a constrained destination are delayed by the userspace daemon (copied, dropped,
    sent again: see :class:`QueuePlan`), rates stay HTB classes."""

    def __init__(self, engine: str = "auto") -> None:
        self.engine = check_engine(engine)
        self.engines: dict[str, str] = {}
        self._constraints: list[HTBConstraint] = []
        self._networks: list[Network] | None = None
        self._touched: dict[Host, list[str]] = {}

    def add_constraints(self, src: Iterable[Host], dest: Iterable[Host], delay: str | None = None,
                        rate: str | None = None, loss: str | None = None, symmetric: bool = False,
                        networks: Iterable[Network] | None = None) -> "NetemHTB":
        """Traffic from every ``src`` host to every ``dest`` host gets the constraint; with
        ``symmetric=True`` the reverse direction too. ``networks`` selects which addresses of
        the destinations are constrained (default: all of them)."""
        src, dest = list(src), list(dest)
        nets = list(networks) if networks is not None else None
        if nets is not None:
            self._networks = nets
        pairs = [(s, d) for s in src for d in dest if s != d]
        if symmetric:
            pairs += [(d, s) for s, d in pairs]
        for s, d in pairs:
            for address in _address_on(d, nets):
                self._constraints.append(HTBConstraint(s, address, delay, rate, loss, dest=d))
        return self

    @classmethod
    def from_topology(cls, topology: Mapping[str, Any], roles: Mapping[str, Iterable[Host]],
                      networks: Iterable[Network] | None = None, engine: str = "auto") -> "NetemHTB":
        """Build from a dict: ``{"default_delay": "0ms", "default_rate": "10gbit", "default_loss": "0%",
        "groups": ["a", "b"], "except": [{"src": "a", "dst": "b", "delay": "20ms", "rate": "1gbit",
        "symmetric": true}]}`` (EnOSlib's topology shape); role names index ``roles``."""
        netem = cls(engine=engine)
        groups = topology.get("groups") or list(roles)
        defaults = {k: topology.get(f"default_{k}") for k in ("delay", "rate", "loss")}
        overrides = {(e["src"], e["dst"]): e for e in topology.get("except", [])}
        for e in topology.get("except", []):
            if e.get("symmetric"):
                overrides.setdefault((e["dst"], e["src"]), e)
        for g in [*groups, *[k for pair in overrides for k in pair]]:
            if g not in roles:
                raise EnosConfigError(f"topology names role {g!r}, which is not in roles ({', '.join(roles)})",
                                      path="$.groups", rule="reference")
        for a in groups:
            for b in groups:
                spec = {**defaults, **{k: v for k, v in overrides.get((a, b), {}).items() if k in defaults}}
                if any(spec.values()):
                    netem.add_constraints(roles[a], roles[b], networks=networks, **spec)
        return netem

    def _engine_of(self, host: Host, engines: Mapping[str, str] | None) -> str:
        if engines and host.alias in engines:
            return engines[host.alias]
        return "tc" if self.engine == "auto" else self.engine

    def _per_iface(self) -> dict[tuple[Host, str], list[HTBConstraint]]:
        per_iface: dict[tuple[Host, str], list[HTBConstraint]] = {}
        for c in self._constraints:
            for iface in _interfaces_to(c.src, c.dest_address):
                per_iface.setdefault((c.src, iface), []).append(c)
        return per_iface

    def scripts(self, engines: Mapping[str, str] | None = None) -> dict[Host, str]:
        """One deploy script per host, for the engine ``engines`` gives it (default: the
        service's engine; ``"auto"`` without probe results: tc)."""
        tc: dict[Host, list[str]] = {}
        rules: dict[Host, list[str]] = {}
        queues: dict[Host, QueuePlan] = {}
        families: dict[Host, list[str]] = {}
        for (host, iface), cs in self._per_iface().items():
            self._touched[host] = sorted({*self._touched.get(host, []), iface})
            if self._engine_of(host, engines) == "nfqueue":
                cmds, host_rules = htb_nfqueue_commands(iface, cs, queues.setdefault(host, QueuePlan()))
                tc.setdefault(host, []).extend(cmds)
                rules.setdefault(host, []).extend(host_rules)
                families.setdefault(host, []).extend("ip6tables" if ":" in c.dest_address else "iptables" for c in cs)
            else:
                tc.setdefault(host, []).extend(htb_commands(iface, cs))
        return {
            h: engine_script("nfqueue", nfqueue_commands(queues[h], cmds, rules[h], families[h])) if h in queues
            else engine_script("tc", cmds)
            for h, cmds in tc.items()
        }

    def deploy(self) -> "Results":
        """Probe the engines (``auto``), then apply every host's script, in parallel."""
        engines = None
        if self.engine == "auto":
            hosts: dict[Host, str | None] = {}
            for host, iface in self._per_iface():
                hosts.setdefault(host, iface)
            engines = probe_engines(hosts)
        results = _run_scripts(self.scripts(engines), "netem-htb deploy")
        self.engines.update(parse_engines(results))
        return results

    def destroy(self) -> "Results":
        scripts = {h: teardown_script(ifaces) for h, ifaces in self._touched.items()}
        return _run_scripts(scripts, "netem-htb destroy")

    def expected_rtts(self) -> dict[tuple[Host, Host], float]:
        """RTT expected between every constrained pair: delay there + delay back."""
        one_way: dict[tuple[Host, Host], float] = {}
        for c in self._constraints:
            if c.dest is not None:
                one_way[(c.src, c.dest)] = ms(c.delay) if c.delay else 0.0
        pairs = set(one_way) | {(d, s) for s, d in one_way}
        return {(s, d): one_way.get((s, d), 0.0) + one_way.get((d, s), 0.0) for s, d in sorted(pairs)}

    def validate(self, count: int = 10) -> LatencyReport:
        """Measure RTTs between every constrained pair with fping and compare."""
        expected = self.expected_rtts()
        report = measure_rtts(expected, count=count, networks=self._networks)
        sources = {s.alias for s, _ in expected}
        report.engines = {a: e for a, e in self.engines.items() if a in sources}
        return report


def _interfaces_to(host: Host, address: str) -> list[str]:
    """The interface(s) of ``host`` on the same subnet as ``address`` (else every interface)."""
    import netaddr

    matches = []
    for device in host.net_devices:
        for a in device.addresses:
            if netaddr.IPAddress(address) in netaddr.IPNetwork(a.address):
                matches.append(device.name)
    return sorted(set(matches)) or _interfaces(host, None)


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


def measure_rtts(expected: Mapping[tuple[Host, Host], float], count: int = 10,
                 networks: Iterable[Network] | None = None, tolerance: float = 0.10,
                 user_clock: Iterable[Host] = ()) -> LatencyReport:
    """Run fping from each source to its destinations (all sources in parallel) and compare
    the median RTT with ``expected``. Sources in ``user_clock`` use ``ping -U`` instead
    (fping reads the kernel's receive timestamps, taken before an nfqueue ingress delay)."""
    nets = list(networks) if networks is not None else None
    targets: dict[Host, dict[str, Host]] = {}
    for src, dest in expected:
        for address in _address_on(dest, nets)[:1]:
            targets.setdefault(src, {})[address] = dest
    user_clock = set(user_clock)
    scripts = {
        src: user_clock_ping_script(addrs, count) if src in user_clock else
        "fping -C {} -q -p 50 -t 2000 {} 2>&1 || true\n".format(int(count), shlex.join(addrs))
        for src, addrs in targets.items()
    }
    results = _run_scripts(scripts, "fping")
    report = LatencyReport(tolerance=tolerance)
    by_alias = {h.alias: h for h in targets}
    for result in results:
        src = by_alias[result.host]
        for address, rtts in parse_fping(result.stdout).items():
            target = targets[src].get(address)
            if target is not None:
                report.measured[(src.alias, target.alias)] = statistics.median(rtts) if rtts else None
    for (src, dest), value in expected.items():
        report.expected[(src.alias, dest.alias)] = value
        report.measured.setdefault((src.alias, dest.alias), None)
    return report
