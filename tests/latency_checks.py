"""RTT checks that hold on a loaded machine (shared by the netem and demo tests).

netem can only add delay and a loaded machine can only add more: so every pair must reach
its expected RTT (a constraint that is missing or too weak fails there, whatever the load),
while the upper bound is checked on the median pair, not on the slowest one (one ping
delayed by a busy CPU must not fail the suite). Tight per-pair tolerances are the demo's
and the benchmarks' business, not the tests'.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable


def rtt_problems(pairs: Iterable[tuple[float, float | None]], tolerance: float = 0.10,
                 floor_ms: float = 0.5) -> list[str]:
    """What is wrong with these ``(expected_ms, measured_ms)`` pairs; empty when they match."""
    pairs = list(pairs)
    problems = [f"no measurement where {e} ms was expected" for e, m in pairs if m is None]
    measured = [(e, m) for e, m in pairs if m is not None]
    problems += [f"measured {m:.2f} ms < expected {e} ms" for e, m in measured
                 if m < e - max(tolerance * e, floor_ms)]
    if measured:
        excess = statistics.median(m - e - max(tolerance * e, floor_ms) for e, m in measured)
        if excess > 0:
            problems.append(f"the median pair is {excess:.2f} ms above its tolerance: {measured}")
    return problems


def report_problems(report: object, tolerance: float = 0.10) -> list[str]:
    """:func:`rtt_problems` of a :class:`enoslib.LatencyReport`."""
    expected = report.expected  # type: ignore[attr-defined]
    measured = report.measured  # type: ignore[attr-defined]
    return rtt_problems(((e, measured.get(pair)) for pair, e in expected.items()), tolerance)
