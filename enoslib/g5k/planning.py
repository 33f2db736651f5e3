"""execo_g5k.planning's names, from :mod:`enoslib.planning` (where they live)."""

from __future__ import annotations

from typing import Any

from enoslib.planning import compute_slots, distribute_hosts, find_first_slot, find_free_slot, find_max_slot

__all__ = ["compute_slots", "distribute_hosts", "draw_gantt", "draw_slots", "find_first_slot", "find_free_slot",
           "find_max_slot", "get_jobs_specs", "get_planning"]


def __getattr__(name: str) -> Any:  # the G5k client and matplotlib load on first use
    if name in ("get_planning", "get_jobs_specs", "draw_gantt", "draw_slots"):
        import enoslib.planning

        return getattr(enoslib.planning, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
