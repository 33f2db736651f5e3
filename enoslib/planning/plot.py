"""Charts of plannings and slots (matplotlib, imported only when a chart is drawn).

Without matplotlib: :class:`~enoslib.errors.EnosMissingExtraError` (``pip install 'enoslib[plot]'``);
:func:`~enoslib.planning.text_gantt` / :func:`~enoslib.planning.text_slots` need nothing.
Figures are built without pyplot (no GUI, no global state) unless ``show=True``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from enoslib.errors import EnosMissingExtraError
from enoslib.planning.core import SPECIAL, Slot

__all__ = ["draw_gantt", "draw_slots"]

logger = logging.getLogger(__name__)

BUSY = "#666666"
PALETTE = ["#ff7a7a", "#ffcc7a", "#e0e07a", "#ccff7a", "#7aff7a", "#7affff", "#7accff", "#ccbcff", "#ffbcff",
           "#c8a07a"]


def _figure(figsize: tuple[float, float], show: bool) -> Any:
    """A new figure: through pyplot only when it is to be shown."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise EnosMissingExtraError("matplotlib", "plot", feature="drawing charts") from exc
    if show:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=figsize)
    return Figure(figsize=figsize)


def _x(t: float) -> Any:
    """Epochs become datetimes (dates on the axis); small relative times stay numbers."""
    return datetime.fromtimestamp(t, timezone.utc) if abs(t) >= 1e8 else t


def _colors(names: Iterable[str], colors: Mapping[str, Any] | None) -> dict[str, Any]:
    chosen = dict(colors or {})
    for i, name in enumerate(n for n in names if n not in chosen):
        chosen[name] = PALETTE[i % len(PALETTE)]
    chosen.setdefault("busy", BUSY)
    return chosen


def _finish(fig: Any, show: bool, save: bool, outfile: str | None, default: str) -> Any:
    if save:
        path = outfile or default
        fig.savefig(path, dpi=150)
        logger.info("chart saved to %s", path)
    if show:
        import matplotlib.pyplot as plt

        plt.show()
    return fig


def draw_gantt(planning: Mapping[str, Any], colors: Mapping[str, Any] | None = None, show: bool = False,
               save: bool = True, outfile: str | None = None) -> Any:
    """One chart per site, one bar per host: free periods in the cluster's color, busy in grey.
    Saved to ``outfile`` (default ``gantt_<sites>.png``) when ``save``; returns the Figure."""
    sites = [s for s, kinds in planning.items() if any(k not in SPECIAL and hosts for k, hosts in kinds.items())]
    clusters = [c for s in sites for c in planning[s] if c not in SPECIAL]
    palette = _colors(clusters, colors)
    rows = sum(len(planning[s][c]) for s in sites for c in planning[s] if c not in SPECIAL)
    fig = _figure((12, 3 + 0.25 * rows), show)
    for i, site in enumerate(sites, start=1):
        ax = fig.add_subplot(len(sites), 1, i)
        ax.set_title(site)
        labels = []
        row = 0
        for cluster, hosts in planning[site].items():
            if cluster in SPECIAL:
                continue
            for host in sorted(hosts, key=_natural):
                for kind, color in (("free", palette[cluster]), ("busy", palette["busy"])):
                    for start, end in hosts[host].get(kind, ()):
                        x0, x1 = _x(start), _x(end)
                        ax.barh(row, x1 - x0, left=x0, height=0.8, color=color, edgecolor="none")
                labels.append(host.split(".")[0])
                row += 1
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels, fontsize=7)
        ax.invert_yaxis()
        ax.grid(axis="x", linestyle="dashed")
    fig.tight_layout()
    return _finish(fig, show, save, outfile, f"gantt_{'_'.join(sites) or 'empty'}.png")


def _natural(name: str) -> tuple[Any, ...]:
    import re

    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def draw_slots(slots: Iterable[Slot], colors: Mapping[str, Any] | None = None, show: bool = False,
               save: bool = True, outfile: str | None = None) -> Any:
    """Free hosts per cluster over time (stacked), and the total: the slots of
    :func:`~enoslib.planning.compute_slots` as a step chart. Returns the Figure."""
    slots = list(slots)
    if not slots:
        raise ValueError("no slots to draw")
    topology = slots[0].resources.topology
    clusters = topology.clusters if topology else [k for k in slots[0].resources if k != "grid5000"]
    palette = _colors(clusters, colors)
    xs: list[Any] = []
    series: dict[str, list[int]] = {c: [] for c in clusters}
    for i, slot in enumerate(slots):  # steps: each count holds until the next slot starts
        nxt = slots[i + 1].start if i + 1 < len(slots) else slot.end
        for t in (slot.start, nxt):
            xs.append(_x(t))
            for c in clusters:
                series[c].append(slot.resources.get(c, 0))
    fig = _figure((12, 6), show)
    ax = fig.add_subplot(1, 1, 1)
    ax.stackplot(xs, [series[c] for c in clusters], labels=clusters, colors=[palette[c] for c in clusters])
    top = max((s.resources.get("grid5000", 0) for s in slots), default=0)
    ax.axhline(top, color="black", linewidth=1.5, label="most free")
    ax.set_xlabel("time")
    ax.set_ylabel("free hosts")
    ax.set_ylim(0, max(top, 1) * 1.1)
    ax.legend(loc="upper right", fontsize=7)
    ax.grid(axis="y", linestyle="dashed")
    fig.tight_layout()
    return _finish(fig, show, save, outfile, "slots.png")
