"""Plan an experiment the execo_g5k way: planning, slots, the first slot with enough nodes,
job specifications, submission; exact slots (no time step) and a text Gantt chart.

Run on Grid'5000: ``python examples/providers_planning.py``
Run on the emulator: ``ENOSLIB_G5K_EMULATOR=1 python examples/providers_planning.py``
"""

from __future__ import annotations

from g5k_support import testbed
from rich.console import Console

from enoslib.g5k import oardel, oarsub
from enoslib.infra.slots import format_time
from enoslib.planning import (
    compute_slots,
    distribute_hosts,
    find_free_slot,
    get_jobs_specs,
    get_planning,
    text_gantt,
    text_slots,
)

console = Console()
WANTED = {"paravance": 2, "grisou": 1}


def main() -> None:
    with testbed():
        planning = get_planning(["paravance", "grisou"], vlan=False)
        console.print(text_gantt(planning, width=110), markup=False)
        slots = compute_slots(planning, "1:00:00")
        console.print(text_slots(slots[:5], ["grid5000", *WANTED]), markup=False)
        start, end, free = find_free_slot(slots, dict(WANTED))
        if start is None:
            console.print("no slot in the next 4 weeks")
            return
        console.print(f"first slot with {WANTED}: {format_time(start)} -> {format_time(end)}")
        specs = get_jobs_specs(distribute_hosts(free, WANTED), name="enoslib-planning")
        for spec, site in specs:
            spec.walltime, spec.reservation_date = "1:00:00", start
            console.print(f"  {site}: {spec.resources}")
        jobs = oarsub(specs)
        console.print("submitted:", jobs)
        oardel([(job_id, site) for job_id, site in jobs if job_id is not None])
        console.print("deleted")


if __name__ == "__main__":
    main()
