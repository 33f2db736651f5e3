"""Experiment planning with execo_g5k.planning's API, exact (no time step).

>>> from enoslib.planning import get_planning, compute_slots, find_free_slot, distribute_hosts, get_jobs_specs
>>> planning = get_planning(["rennes", "nancy"], vlan=True)        # doctest: +SKIP
>>> start, end, free = find_free_slot(compute_slots(planning, "1:00:00"), {"grid5000": 20})  # doctest: +SKIP
>>> specs = get_jobs_specs(distribute_hosts(free, {"grid5000": 20}), name="exp")            # doctest: +SKIP
>>> print(text_gantt(planning))                                     # doctest: +SKIP

- :mod:`enoslib.planning.core`: plannings and slots (offline, standard library + enoslib.infra.slots);
- :mod:`enoslib.planning.g5k`: ``get_planning``, ``get_jobs_specs``, ``get_hosts_jobs`` from the
  Grid'5000 API (the G5k client is imported on first use);
- :mod:`enoslib.planning.plot`: ``draw_gantt``, ``draw_slots`` (matplotlib, imported on first use).

For several testbeds at once (Grid'5000 + IoT-LAB + ...), see :class:`enoslib.infra.providers.Providers`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from enoslib.planning.core import (
    FreeResources,
    Slot,
    Topology,
    compute_slots,
    distribute_hosts,
    find_first_slot,
    find_free_slot,
    find_max_slot,
    make_planning,
    max_resources,
    text_gantt,
    text_slots,
)

_LAZY = {
    "get_planning": "enoslib.planning.g5k",
    "get_jobs_specs": "enoslib.planning.g5k",
    "get_hosts_jobs": "enoslib.planning.g5k",
    "g5k_topology": "enoslib.planning.g5k",
    "draw_gantt": "enoslib.planning.plot",
    "draw_slots": "enoslib.planning.plot",
}

__all__ = [
    "FreeResources", "Slot", "Topology", "compute_slots", "distribute_hosts", "draw_gantt", "draw_slots",
    "find_first_slot", "find_free_slot", "find_max_slot", "g5k_topology", "get_hosts_jobs", "get_jobs_specs",
    "get_planning", "make_planning", "max_resources", "text_gantt", "text_slots",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'enoslib.planning' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from enoslib.planning.g5k import g5k_topology, get_hosts_jobs, get_jobs_specs, get_planning
    from enoslib.planning.plot import draw_gantt, draw_slots
