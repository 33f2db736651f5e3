"""The two ways a host emulates its constraints: the kernel's netem (``tc``) or iptables
NFQUEUE rules feeding the userspace daemon :mod:`enoslib.services.delayd` (``nfqueue``);
the per-host scripts of both, the probe choosing between them, and the teardown."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from enoslib.errors import EnosConfigError, EnosError
from enoslib.objects import Host
from enoslib.services.netem.constraints import (
    HTBConstraint, NetemInConstraint, NetemInOutSource, _q, _source, htb_commands, ifb_name,
    ifb_redirect_commands, ms, parse_netem_options, percent, reset_commands, script,
)

if TYPE_CHECKING:
    from enoslib.api.results import Results

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
    """``engine`` if it is a known network emulation engine, else an ``EnosConfigError``."""
    if engine not in ENGINES:
        raise EnosConfigError(f"invalid engine {engine!r}: expected one of {', '.join(ENGINES)}", rule="enum")
    return engine


_delayd_cache: list[str] = []


def delayd_source() -> str:
    """The text of :mod:`enoslib.services.delayd`, as shipped to hosts."""
    if not _delayd_cache:
        text = (Path(__file__).parent.parent / "delayd.py").read_text()
        if any(line.strip() == _HEREDOC_END for line in text.splitlines()):
            raise EnosError(f"delayd.py contains the line {_HEREDOC_END}: it cannot be shipped")
        _delayd_cache.append(text)
    return _delayd_cache[0]

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


def _run_scripts(scripts: Mapping[Host, str], task: str) -> "Results":
    from enoslib.api.commands import run_scripts

    return run_scripts(scripts, task_name=task)
