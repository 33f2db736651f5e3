"""Earliest common slot of 3 providers: exact breakpoint search vs a fixed-step scan.

Run: ``python benchmarks/slots_bench.py [--seed 7] [--repeat 5]``

Each scenario draws random busy reservations (start times and lengths to the second) for three
providers, each with its own resources and demands:

- ``g5k``: two clusters (32 and 16 nodes), the experiment needs 8 + 4 nodes, at the same time;
- ``iotlab``: 60 nodes, needs 10;
- ``chameleon``: 8 bare-metal hosts, needs 2.

"exact" builds one :class:`~enoslib.infra.slots.CapacityTimeline` per resource, takes the start
sets (``fits``) and their earliest common start (:func:`earliest_common_start`). "step" is a
reference written here, independently of ``enoslib.infra.slots``: what a search that tries
``window start, +5 min, +10 min...`` finds (EnOSlib's ``find_slot`` loop steps like this),
checking every candidate against the raw reservations. It also cross-checks the exact answer:
the exact slot must pass the naive check, and no step candidate before it may pass.

Verdicts: ``exact`` (same start), ``late +X`` (same free gap, start rounded up to the step),
``later gap +X`` (the step grid jumped over a gap that was long enough), ``missed`` (the step
scan found nothing although a slot exists).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from enoslib.infra.slots import (
    CapacityTimeline,
    Interval,
    IntervalSet,
    earliest_common_start,
    format_duration,
)

T0 = 1_704_067_200.0  # 2024-01-01T00:00:00Z
DAY = 86_400.0
STEP = 300.0  # 5 minutes

Busy = list[tuple[float, float, int]]  # (start, end, amount)


@dataclass
class Resource:
    provider: str
    name: str
    capacity: int
    demand: int
    busy: Busy


# --------------------------------------------------------------------------------------------
# random schedules
# --------------------------------------------------------------------------------------------


def random_busy(
    rng: random.Random, capacity: int, window: Interval, load: float, margin: float
) -> Busy:
    """Reservations covering about ``load`` of the capacity over the window (and a margin)."""
    start, end = window.start - margin, window.end + margin
    busy: Busy = []
    mean_length, mean_amount = 4 * 3_600, max(1, capacity // 6)
    count = int(load * capacity * (end - start) / (mean_length * mean_amount * 1.25))
    for _ in range(count):
        length = min(rng.expovariate(1 / mean_length) + 600, 3 * DAY)
        begin = float(rng.randrange(int(start), int(end)))  # to the second
        amount = rng.randint(1, max(1, capacity // 3))
        busy.append((begin, begin + round(length), amount))
    return busy


def random_resources(rng: random.Random, window: Interval, load: float) -> list[Resource]:
    specs = [("g5k", "cluster-a", 32, 8), ("g5k", "cluster-b", 16, 4), ("iotlab", "nodes", 60, 10),
             ("chameleon", "hosts", 8, 2)]  # fmt: skip
    return [
        Resource(provider, name, capacity, demand, random_busy(rng, capacity, window, load, DAY))
        for provider, name, capacity, demand in specs
    ]


def narrow_gap_resources(rng: random.Random, window: Interval, walltime: float) -> list[Resource]:
    """Fully booked resources whose only free gaps are walltime + 0..119 s long.

    About one gap a day is shared by all providers (a common slot exists), a few more are
    private to one resource. The 5-min grid fits a gap only if it happens to align with it.
    """
    specs = [("g5k", "cluster-a", 32, 8), ("g5k", "cluster-b", 16, 4), ("iotlab", "nodes", 60, 10),
             ("chameleon", "hosts", 8, 2)]  # fmt: skip
    span = (window.start - DAY, window.end + DAY)

    def gaps(count: int) -> list[tuple[float, float]]:
        starts = sorted(rng.randrange(int(window.start), int(window.end)) for _ in range(count))
        return [(float(s), s + walltime + rng.randrange(0, 120)) for s in starts]

    days = round(window.duration / DAY)
    shared = gaps(days)
    resources = []
    for provider, name, capacity, demand in specs:
        free = IntervalSet(shared + gaps(3 * days))
        busy = free.complement(Interval(*span))
        resources.append(
            Resource(provider, name, capacity, demand, [(b.start, b.end, capacity) for b in busy])
        )
    return resources


# --------------------------------------------------------------------------------------------
# the two searches
# --------------------------------------------------------------------------------------------


def exact_search(resources: list[Resource], walltime: float, window: Interval) -> float | None:
    by_provider: dict[str, list[IntervalSet]] = {}
    for res in resources:
        timeline = CapacityTimeline(res.capacity, res.busy)
        by_provider.setdefault(res.provider, []).append(timeline.fits(res.demand, walltime, window))
    demands = {provider: sets[0].intersection(*sets[1:]) for provider, sets in by_provider.items()}
    return earliest_common_start(demands, walltime, window)


def naive_fits(res: Resource, start: float, end: float) -> bool:
    """Whether ``demand`` units stay free on [start, end), from the raw reservations."""
    overlapping = [(s, e, a) for s, e, a in res.busy if s < end and start < e]
    probes = {start} | {s for s, _, _ in overlapping if s > start}
    return all(
        res.capacity - sum(a for s, e, a in overlapping if s <= p < e) >= res.demand for p in probes
    )


def step_search(resources: list[Resource], walltime: float, window: Interval) -> float | None:
    t = window.start
    while t + walltime <= window.end:
        if all(naive_fits(res, t, t + walltime) for res in resources):
            return t
        t += STEP
    return None


# --------------------------------------------------------------------------------------------
# running and reporting
# --------------------------------------------------------------------------------------------


def timed(
    search: Callable[[list[Resource], float, Interval], float | None],
    resources: list[Resource],
    walltime: float,
    window: Interval,
    repeat: int,
) -> tuple[float | None, float]:
    best = float("inf")
    result: float | None = None
    for _ in range(repeat):
        began = time.perf_counter()
        result = search(resources, walltime, window)
        best = min(best, time.perf_counter() - began)
    return result, best * 1_000


def verdict(
    exact: float | None, step: float | None, resources: list[Resource], walltime: float
) -> str:
    if exact is None:
        return "exact" if step is None else "BUG: step found a slot"
    if step is None:
        return "missed"
    if step == exact:
        return "exact"
    if step < exact:
        return "BUG: step found an earlier slot"
    same_gap = all(naive_fits(res, exact, step + walltime) for res in resources)
    late = format_duration(step - exact)
    return f"late +{late}" if same_gap else f"later gap +{late}"


def offset(t: float | None, window: Interval) -> str:
    return "none" if t is None else "+" + format_duration(t - window.start)


RUN_ALL_ARGS: list[str] = []  # benchmarks/run_all.py's quick run

def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="runs per search (best is kept)")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    scenarios: list[tuple[str, int, float | None, float]] = [
        (label, days, load, walltime)
        for label, days in (("1 day", 1), ("1 week", 7), ("4 weeks", 28))
        for load, walltime in (
            (0.4, 2 * 3_600.0),
            (0.6, 3_600.0),
            (0.75, 1_800.0),
            (0.8, 3 * 3_600.0),
            (None, 3_600.0),  # narrow gaps
        )
    ]
    header = (
        f"{'scenario':<37} {'resv':>5}  {'exact slot':>14} {'ms':>7}"
        f"  {'5-min step slot':>15} {'ms':>8}  step verdict"
    )
    print(header)
    print("-" * len(header))
    for label, days, load, walltime in scenarios:
        window = Interval(T0, T0 + days * DAY)
        if load is None:
            resources = narrow_gap_resources(rng, window, walltime)
            kind = "narrow gaps"
        else:
            resources = random_resources(rng, window, load)
            kind = f"load {load:.2f}"
        exact, exact_ms = timed(exact_search, resources, walltime, window, args.repeat)
        step, step_ms = timed(step_search, resources, walltime, window, args.repeat)
        # cross-checks against the naive reference
        if exact is not None and not all(naive_fits(r, exact, exact + walltime) for r in resources):
            raise SystemExit(f"BUG: exact slot {exact} does not fit ({label}, {kind})")
        text = verdict(exact, step, resources, walltime)
        if text.startswith("BUG"):
            raise SystemExit(f"{text} ({label}, {kind})")
        name = f"{label}, {kind}, wall {format_duration(walltime)}"
        count = sum(len(r.busy) for r in resources)
        print(
            f"{name:<37} {count:>5}  {offset(exact, window):>14} {exact_ms:>7.2f}"
            f"  {offset(step, window):>15} {step_ms:>8.2f}  {text}"
        )
    print(
        "\nslots: offsets from the window start (2024-01-01T00:00:00Z); ms: best of"
        f" {args.repeat} runs;\nresv: busy reservations over the 4 resources of the 3 providers;"
        " load: booked share of the capacity;\nnarrow gaps: resources fully booked but for gaps"
        " of walltime + 0..119 s"
    )


if __name__ == "__main__":
    main()
