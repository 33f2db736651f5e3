"""execo_engine's experiment tools, with execo's names: parameter sweeps, a persistent
process-safe sweeper, and the ``Engine`` canvas.

>>> from enoslib.engine import sweep, ParamSweeper, HashableDict, Engine, slugify
>>> combinations = sweep({"algo": ["reno", "cubic"], "flows": [1, 10]})
>>> len(combinations), combinations[0]
(4, {'algo': 'reno', 'flows': 1})

- :mod:`enoslib.engine.sweep`: ``sweep``, ``HashableDict``, ``geom``, ``igeom``, ``sweep_stats``,
  ``pretty_stats``;
- :mod:`enoslib.engine.sweeper`: ``ParamSweeper`` (plain-text state: ``done.jsonl``,
  ``inprogress.json``);
- :mod:`enoslib.engine.engine`: ``Engine``;
- :mod:`enoslib.engine.utils`: ``slugify``, ``redirect_outputs``, ``copy_outputs``.

Standard library only.
"""

from __future__ import annotations

import logging

# submodules first, then the names: ``sweep`` and ``engine`` stay the function and the class
from enoslib.engine import engine as _engine_module  # noqa: F401
from enoslib.engine import sweep as _sweep_module  # noqa: F401
from enoslib.engine.engine import Engine, run_meth_on_engine_ancestors
from enoslib.engine.sweep import HashableDict, geom, igeom, pretty_stats, sweep, sweep_stats
from enoslib.engine.sweeper import ParamSweeper
from enoslib.engine.utils import copy_outputs, redirect_outputs, slugify

logger = logging.getLogger("enoslib.engine")

__all__ = [
    "Engine", "HashableDict", "ParamSweeper", "copy_outputs", "geom", "igeom", "logger", "pretty_stats",
    "redirect_outputs", "run_meth_on_engine_ancestors", "slugify", "sweep", "sweep_stats",
]
