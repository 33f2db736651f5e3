"""Earliest common slot of 3 providers: our ``find_slot`` vs EnOSlib's, on the same schedules.

Run: ``python benchmarks/providers_bench.py [--seed 11] [--repeat 3] [--enoslib /tmp/cmp-venv/bin/python]``

Scenarios (EnOSlib's ``find_slot`` use case): three providers (a Grid'5000 cluster, an IoT-LAB
site, a Chameleon rack), each a pool of nodes with random reservations of other users (starts
and lengths to the second), a demand and a walltime of its own; the search window is 1 day,
1 week or 4 weeks. "narrow gaps" books everything except a few gaps of walltime + 0..119 s.

Both searches run through small provider doubles defined here (they hold the schedule, as a
testbed's status endpoint would):

- ours: :func:`enoslib.infra.providers.find_slot`, which asks each double's ``availability``
  once and intersects the start sets exactly;
- EnOSlib 10.9: its ``enoslib.infra.providers.find_slot``, run by the Python of the EnOSlib
  environment in a subprocess on the same schedules (as JSON). It calls ``test_slot`` every
  5 minutes; its doubles read the schedule once (as EnOSlib's G5k provider caches the cluster
  status) and answer each call from it.

"exact?" compares with a reference computed here without enoslib: the earliest start among the
window's start and the reservations' ends where every provider's demand fits for its walltime.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from enoslib.errors import NoSlotError
from enoslib.infra.provider import Provider
from enoslib.infra.providers import find_slot
from enoslib.infra.slots import CapacityTimeline, Interval, format_duration
from enoslib.infra.enos_static import StaticConf

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
DAY = 86_400
ENOSLIB_PYTHON = "/tmp/cmp-venv/bin/python"

# (name, capacity, demand, walltime)
SPECS = [("g5k", 32, 8, 3 * 3600), ("iotlab", 60, 10, 2 * 3600), ("chameleon", 8, 2, 3 * 3600)]


# --------------------------------------------------------------------------------------------
# schedules
# --------------------------------------------------------------------------------------------


def random_busy(rng: random.Random, capacity: int, start: int, end: int, load: float) -> list[list[int]]:
    mean_length, mean_amount = 4 * 3600, max(1, capacity // 6)
    count = int(load * capacity * (end - start) / (mean_length * mean_amount * 1.25))
    busy = []
    for _ in range(count):
        length = int(min(rng.expovariate(1 / mean_length) + 600, 3 * DAY))
        begin = rng.randrange(start, end)
        busy.append([begin, begin + length, rng.randint(1, max(1, capacity // 3))])
    return busy


def narrow_gaps(rng: random.Random, capacity: int, start: int, end: int, walltime: int,
                shared: list[int]) -> list[list[int]]:
    """Everything booked but a few gaps of walltime + 0..119 s (``shared`` ones in every provider)."""
    gaps = sorted(shared + [rng.randrange(start, end) for _ in range(3 * max(1, (end - start) // (3 * DAY)))])
    busy, cursor = [], start - DAY
    for g in gaps:
        if g > cursor:
            busy.append([cursor, g, capacity])
        cursor = max(cursor, g + walltime + rng.randrange(0, 120))
    busy.append([cursor, end + 2 * DAY, capacity])
    return busy


def scenario(rng: random.Random, label: str, window: int, kind: str) -> dict[str, Any]:
    start = T0 + rng.randrange(0, DAY)
    end = start + 2 * window + 2 * DAY  # what the searches may look at (ours looks beyond the window)
    providers = []
    shared = [rng.randrange(start, start + window) for _ in range(max(1, window // (2 * DAY)))]
    for name, capacity, demand, walltime in SPECS:
        busy = (narrow_gaps(rng, capacity, start, end, max(w for *_, w in SPECS), shared) if kind == "narrow"
                else random_busy(rng, capacity, start - DAY, end, load=0.8))
        providers.append({"name": name, "capacity": capacity, "demand": demand, "walltime": walltime, "busy": busy})
    return {"label": label, "start": start, "window": window, "providers": providers}


# --------------------------------------------------------------------------------------------
# reference (no enoslib code)
# --------------------------------------------------------------------------------------------


def fits(p: dict[str, Any], t: int) -> bool:
    end = t + p["walltime"]
    overlapping = [(s, e, a) for s, e, a in p["busy"] if s < end and t < e]
    probes = {t} | {s for s, _, _ in overlapping if s > t}
    return all(p["capacity"] - sum(a for s, e, a in overlapping if s <= u < e) >= p["demand"] for u in probes)


def reference(sc: dict[str, Any]) -> int | None:
    start, last = sc["start"], sc["start"] + sc["window"]
    candidates = sorted({start} | {e for p in sc["providers"] for _, e, _ in p["busy"] if start < e <= last})
    return next((t for t in candidates if all(fits(p, t) for p in sc["providers"])), None)


# --------------------------------------------------------------------------------------------
# ours
# --------------------------------------------------------------------------------------------


class PoolProvider(Provider):
    """A double: a pool of nodes with other users' reservations, answering ``availability``."""

    configuration_class = StaticConf

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(StaticConf.from_settings().add_machine(roles=["x"], address="127.0.0.1"), name=spec["name"])
        self.spec = spec
        self.walltime_seconds = spec["walltime"]
        self.fetches = 0
        self.test_slot_calls = 0

    def availability(self, start: Any, end: Any) -> Any:
        self.fetches += 1
        timeline = CapacityTimeline(self.spec["capacity"], [tuple(b) for b in self.spec["busy"]])
        return timeline.available(self.spec["demand"], Interval(float(start), float(end)))

    def test_slot(self, start: Any, end: Any) -> bool:
        self.test_slot_calls += 1
        return fits(self.spec, int(start))

    def init(self, force_deploy: bool = False, start_time: Any = None, **kwargs: Any) -> Any:
        raise NotImplementedError

    def destroy(self, wait: bool = False, **kwargs: Any) -> None:
        pass

    def is_created(self) -> bool:
        return False

    def set_reservation(self, timestamp: Any) -> None:
        pass

    def offset_walltime(self, offset: float) -> None:
        pass


def run_ours(sc: dict[str, Any], repeat: int) -> dict[str, Any]:
    best, slot, fetches, calls = float("inf"), None, 0, 0
    for _ in range(repeat):
        providers = [PoolProvider(p) for p in sc["providers"]]
        began = time.perf_counter()
        try:
            slot = find_slot(providers, sc["window"], sc["start"])
        except NoSlotError:
            slot = None
        best = min(best, time.perf_counter() - began)
        fetches = sum(p.fetches for p in providers)
        calls = sum(p.test_slot_calls for p in providers)
    return {"slot": slot, "fetches": fetches, "test_slot": calls, "seconds": best}


# --------------------------------------------------------------------------------------------
# EnOSlib's, in its own environment
# --------------------------------------------------------------------------------------------

ENOSLIB_SCRIPT = r'''
import json, logging, sys, time
logging.disable(logging.CRITICAL)
from enoslib.errors import NoSlotError
from enoslib.infra.providers import find_slot

def fits(p, t):
    end = t + p["walltime"]
    overlapping = [(s, e, a) for s, e, a in p["busy"] if s < end and t < e]
    probes = {t} | {s for s, _, _ in overlapping if s > t}
    return all(p["capacity"] - sum(a for s, e, a in overlapping if s <= u < e) >= p["demand"] for u in probes)

class PoolDouble:
    """What find_slot needs of a provider: test_slot(start, end); the status is read once."""
    def __init__(self, spec):
        self.spec, self.status, self.fetches, self.calls = spec, None, 0, 0
    def test_slot(self, start_time, end_time):
        self.calls += 1
        if self.status is None:
            self.fetches += 1
            self.status = self.spec  # EnOSlib's G5k provider caches the clusters' status
        return fits(self.status, int(start_time))
    def __str__(self):
        return self.spec["name"]

scenarios, repeat = json.load(open(sys.argv[1])), int(sys.argv[2])
out = []
for sc in scenarios:
    best, slot = float("inf"), None
    for _ in range(repeat):
        providers = [PoolDouble(p) for p in sc["providers"]]
        began = time.perf_counter()
        try:
            slot = find_slot(providers, sc["window"], sc["start"])
        except NoSlotError:
            slot = None
        best = min(best, time.perf_counter() - began)
    out.append({"slot": slot, "fetches": sum(p.fetches for p in providers),
                "test_slot": sum(p.calls for p in providers), "seconds": best})
print(json.dumps(out))
'''


def run_enoslib(scenarios: list[dict[str, Any]], repeat: int, python: str) -> list[dict[str, Any]] | str:
    if not os.path.exists(python):
        return f"EnOSlib's Python not found at {python}"
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "scenarios.json"
        data.write_text(json.dumps(scenarios))
        script = Path(tmp) / "enoslib_find_slot.py"
        script.write_text(ENOSLIB_SCRIPT)
        done = subprocess.run([python, str(script), str(data), str(repeat)], capture_output=True, text=True,
                              cwd=tmp, timeout=3600, check=False)
    if done.returncode != 0:
        return f"EnOSlib run failed: {done.stderr.strip().splitlines()[-1:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


def verdict(found: int | None, exact: int | None) -> str:
    if found == exact:
        return "yes"
    if found is None:
        return "no (missed)"
    if exact is None or found < exact:
        return "BUG"
    return f"no (+{format_duration(found - exact)})"


RUN_ALL_ARGS = ["--enoslib", "{compare_python}"]  # benchmarks/run_all.py's quick run

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--repeat", type=int, default=3, help="runs per search (the fastest is kept)")
    parser.add_argument("--enoslib", default=ENOSLIB_PYTHON, help="Python of an environment with EnOSlib")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    scenarios = []
    for kind in ("random", "narrow"):
        for label, window in (("1 day", DAY), ("1 week", 7 * DAY), ("4 weeks", 28 * DAY)):
            scenarios.append(scenario(rng, f"{kind}, {label}", window, kind))
    exact = [reference(sc) for sc in scenarios]
    ours = [run_ours(sc, args.repeat) for sc in scenarios]
    theirs = run_enoslib(scenarios, args.repeat, args.enoslib)

    head = ["scenario", "impl", "slot found", "exact earliest?", "availability fetches", "test_slot calls", "time"]
    rows = []
    for i, sc in enumerate(scenarios):
        results = [("ours", ours[i])] + ([("EnOSlib", theirs[i])] if isinstance(theirs, list) else [])
        for impl, r in results:
            slot = "none" if r["slot"] is None else "+" + format_duration(r["slot"] - sc["start"])
            rows.append([sc["label"], impl, slot, verdict(r["slot"], exact[i]), str(r["fetches"]),
                         str(r["test_slot"]), f"{r['seconds'] * 1000:.1f} ms"])
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    print(" | ".join(h.ljust(w) for h, w in zip(head, widths)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths)))
    if isinstance(theirs, str):
        print(f"\n(EnOSlib not run: {theirs})")
    print("\nslot found: offset from the window's start; time: fastest of", args.repeat, "runs")


if __name__ == "__main__":
    main()
