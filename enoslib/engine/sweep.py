"""Parameter sweeps, execo_engine style: ``sweep``, ``HashableDict``, ``geom``, ``igeom``,
``sweep_stats`` (and :class:`~enoslib.engine.sweeper.ParamSweeper`, re-exported here so that
``from enoslib.engine.sweep import ParamSweeper`` works as with ``execo_engine.sweep``).

>>> sweep({"size": [1, 2], "algo": ["reno", "cubic"]})
[{'size': 1, 'algo': 'reno'}, {'size': 1, 'algo': 'cubic'}, {'size': 2, 'algo': 'reno'}, {'size': 2, 'algo': 'cubic'}]

A factor whose levels are a dict explores sub-factors only for their level:

>>> sweep({"net": {"lan": {"delay": [0]}, "wan": {"delay": [10, 50]}}})
[{'net': 'lan', 'delay': 0}, {'net': 'wan', 'delay': 10}, {'net': 'wan', 'delay': 50}]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["HashableDict", "ParamSweeper", "geom", "igeom", "pretty_stats", "sweep", "sweep_stats"]


class HashableDict(dict):  # type: ignore[type-arg]
    """A dict usable as a set element or a dict key (hash of its items).

    Do not modify it once it is used as a key: its hash would change.
    """

    __slots__ = ("_hash",)

    def __hash__(self) -> int:  # type: ignore[override]
        try:
            return self._hash
        except AttributeError:
            self._hash: int = hash(frozenset(self.items()))
            return self._hash

    def _changed(self) -> None:
        try:
            del self._hash
        except AttributeError:
            pass

    def __setitem__(self, key: Any, value: Any) -> None:
        self._changed()
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        self._changed()
        super().__delitem__(key)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._changed()
        super().update(*args, **kwargs)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self._changed()
        return super().setdefault(key, default)

    def pop(self, *args: Any) -> Any:
        self._changed()
        return super().pop(*args)

    def popitem(self) -> Any:
        self._changed()
        return super().popitem()

    def clear(self) -> None:
        self._changed()
        super().clear()

    def __ior__(self, other: Any) -> HashableDict:
        self._changed()
        return super().__ior__(other)  # type: ignore[no-any-return]

    def __reduce__(self) -> Any:  # pickles (multiprocessing) carry the items, not a stale hash
        return (HashableDict, (dict(self),))

    def __repr__(self) -> str:
        return dict.__repr__(self)


def _levels(factor: Any, levels: Any) -> Any:
    if isinstance(levels, (str, bytes)) or not isinstance(levels, Iterable):
        raise TypeError(f"sweep: the levels of factor {factor!r} must be a list (or a dict of "
                        f"sub-sweeps), not {type(levels).__name__} {levels!r}")
    return levels


def sweep(parameters: Mapping[Any, Any]) -> list[HashableDict]:
    """All combinations (cartesian product) of the levels of ``parameters``.

    ``parameters`` maps each factor to the list of its levels; the first factor varies slowest.
    A factor with no levels is left out of the combinations. When a factor's levels are given
    as a dict ``{level: {sub factor: levels, ...}}``, the sub-factors are swept (recursively)
    only in the combinations having that level. Combinations are :class:`HashableDict`.
    """
    if not isinstance(parameters, Mapping):
        raise TypeError(f"sweep: expected a dict of factors, got {type(parameters).__name__}")
    combinations = [HashableDict()]
    for factor, levels in parameters.items():
        levels = _levels(factor, levels)
        if len(levels) == 0:
            continue
        extended = []
        for base in combinations:
            if isinstance(levels, Mapping):
                for level, sub in levels.items():
                    for sub_combination in sweep(sub if sub is not None else {}):
                        c = HashableDict(base)
                        c[factor] = level
                        c.update(sub_combination)
                        extended.append(c)
            else:
                for level in levels:
                    c = HashableDict(base)
                    c[factor] = level
                    extended.append(c)
        combinations = extended
    return combinations


def geom(range_min: float, range_max: float, num_steps: int) -> list[float]:
    """``num_steps`` floats in geometric progression from ``range_min`` to ``range_max``."""
    n = int(num_steps)
    if n <= 0:
        return []
    if n == 1:
        return [float(range_min)]
    ratio = (float(range_max) / float(range_min)) ** (1.0 / (n - 1))
    return [float(range_min)] + [float(range_min) * ratio**i for i in range(1, n - 1)] + [float(range_max)]


def igeom(range_min: int, range_max: int, num_steps: int) -> list[int]:
    """Integer geometric progression (rounded, deduplicated, sorted)."""
    points = geom(range_min, range_max, num_steps)
    if len(points) < 2:
        return [int(x) for x in points]
    return sorted({int(range_min), int(range_max), *(int(round(x)) for x in points)})


def _count(combinations: Iterable[Any]) -> dict[Any, dict[Any, int]]:
    counts: dict[Any, dict[Any, int]] = {}
    for c in combinations:
        if not isinstance(c, Mapping):
            continue
        for factor, level in c.items():
            per = counts.setdefault(factor, {})
            per[level] = per.get(level, 0) + 1
    return counts


def sweep_stats(stats: tuple[Any, Any, Any, Any, Any]) -> dict[str, dict[Any, dict[Any, Any]]]:
    """Per factor and level: counts and ratios of the states of a ``ParamSweeper.stats()`` tuple.

    Keys: ``total``, ``remaining``, ``skipped``, ``inprogress``, ``done`` (counts) and
    ``remaining_ratio``, ``skipped_ratio``, ``inprogress_ratio``, ``done_ratio``.
    """
    sweeps, remaining, skipped, inprogress, done = stats
    total = _count(sweeps)
    result: dict[str, dict[Any, dict[Any, Any]]] = {"total": total}
    for state, combinations in (("remaining", remaining), ("skipped", skipped),
                                ("inprogress", inprogress), ("done", done)):
        counts = _count(combinations)
        result[state] = counts
        result[f"{state}_ratio"] = {
            factor: {level: counts.get(factor, {}).get(level, 0) / n for level, n in levels.items()}
            for factor, levels in total.items()
        }
    return result


def pretty_stats(stats: tuple[Any, Any, Any, Any, Any]) -> str:
    """A text table of :func:`sweep_stats`: one line per factor level, counts per state."""
    s = sweep_stats(stats)
    states = ("done", "inprogress", "skipped", "remaining")
    sweeps, *by_state = stats
    header = ["factor", "level", "total", *states, "done %"]
    rows = [["(all)", "", str(len(sweeps)), *(str(len(x)) for x in (by_state[3], by_state[2], by_state[1],
                                                                     by_state[0])),
             _percent(len(by_state[3]), len(sweeps))]]
    for factor, levels in s["total"].items():
        for level, n in levels.items():
            counts = [s[state].get(factor, {}).get(level, 0) for state in states]
            rows.append([str(factor), repr(level), str(n), *map(str, counts), _percent(counts[0], n)])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths)))
             for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _percent(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.0f}%" if whole else "-"


def __getattr__(name: str) -> Any:
    if name == "ParamSweeper":  # no import cycle: the sweeper module imports this one
        from enoslib.engine.sweeper import ParamSweeper

        return ParamSweeper
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

