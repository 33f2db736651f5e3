"""Measured vs expected round-trip times: fping (or ``ping -U``) from each source."""

from __future__ import annotations

import shlex
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from enoslib.objects import Host, Network
from enoslib.services.netem.engines import _run_scripts

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

def _address_on(host: Host, networks: Iterable[Network] | None) -> list[str]:
    nets = list(networks) if networks is not None else None
    addrs = [a.split("/")[0] for a in host.filter_addresses(nets)]
    addrs = [a for a in addrs if not a.startswith("127.") and a != "::1"]
    return addrs or [host.address]


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
