"""HTTP fault injection shared by every emulator: what can go wrong with a testbed API.

Knobs of :class:`FaultSettings` (settable at construction, with
:meth:`FaultInjector.update` at run time, or over HTTP: ``PUT /_emulator/faults``
with a JSON object; ``DELETE`` clears them):

==============================  =====================================================
``error_rate``/``error_code``   fraction of API requests answered with that HTTP code
``error_next``                  the next N API requests fail with ``error_code``
``error_methods``               methods the two knobs above apply to (default all)
``error_paths``                 regex the request path (after the prefix) must match
``latency``                     real seconds added before every API answer
``reset_rate``/``reset_next``   connections closed with a TCP reset, no answer
``down_until``                  API answers 503 until this virtual time
                                (:meth:`FaultInjector.down_for` is the friendly way;
                                ``down_for_real`` measures the window in real seconds)
``rules``                       per-route rules, see below
``seed``                        seeds the random draws (same seed, same faults)
==============================  =====================================================

A rule is ``{"path": REGEX, "method": "GET", "code": 500, "rate": 1.0,
"latency": 0.5, "reset": false, "next": 0}``: requests whose method (optional)
and path (``re.search``) match get ``latency`` extra seconds, then with
probability ``rate`` (or for the ``next`` N matching requests when ``next`` > 0)
a TCP reset (``reset``) or an HTTP ``code`` answer (no ``code``: latency only).

An emulator with its own knobs (failed jobs, failed deployments...) subclasses
both: a dataclass deriving from :class:`FaultSettings`, and a
:class:`FaultInjector` with ``settings_class`` set to it; :meth:`take` and
:meth:`draw` are the helpers for its own counters and rates.
"""

from __future__ import annotations

import dataclasses
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = ["FaultInjector", "FaultSettings", "HttpFault"]

_RULE_KEYS = {"path", "method", "code", "rate", "latency", "reset", "next"}


@dataclass
class FaultSettings:
    """The HTTP-level fault knobs; the defaults inject nothing."""

    error_rate: float = 0.0
    error_code: int = 503
    error_next: int = 0
    error_methods: list[str] = field(default_factory=lambda: ["GET", "POST", "PUT", "DELETE"])
    error_paths: str | None = None
    latency: float = 0.0
    reset_rate: float = 0.0
    reset_next: int = 0
    down_until: float | None = None
    down_until_real: float | None = None
    rules: list[dict[str, Any]] = field(default_factory=list)
    seed: int = 0


@dataclass(frozen=True)
class HttpFault:
    """What to do with one request: ``kind`` is ``error``, ``reset`` or ``down``."""

    kind: str
    code: int = 503


def _check_rules(rules: Any) -> list[dict[str, Any]]:
    if not isinstance(rules, list):
        raise ValueError("rules must be a list of objects")
    out = []
    for k, rule in enumerate(rules):
        if not isinstance(rule, dict) or "path" not in rule:
            raise ValueError(f"rules[{k}] must be an object with a 'path' regex")
        unknown = set(rule) - _RULE_KEYS
        if unknown:
            raise ValueError(f"rules[{k}]: unknown key(s) {', '.join(sorted(unknown))}")
        try:
            re.compile(str(rule["path"]))
        except re.error as exc:
            raise ValueError(f"rules[{k}].path: bad regex: {exc}") from None
        out.append(dict(rule))
    return out


class FaultInjector:
    """Thread-safe holder of the fault settings plus the seeded random draws.

    Args:
        settings: initial knobs, a dict or a ``settings_class`` instance.
        clock: the virtual time source ``down_until`` is measured against.
    """

    settings_class: ClassVar[type[FaultSettings]] = FaultSettings

    def __init__(
        self,
        settings: FaultSettings | dict[str, Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.settings = self.settings_class()
        self._rng = random.Random(0)
        self.update(
            **(
                dataclasses.asdict(settings)
                if isinstance(settings, FaultSettings)
                else settings or {}
            )
        )

    # ------------------------------------------------------------------ settings
    def update(self, **knobs: Any) -> FaultSettings:
        """Change some knobs (unknown names raise ``ValueError``); returns the settings."""
        names = {f.name for f in dataclasses.fields(self.settings_class)}
        unknown = set(knobs) - names - {"down_for", "down_for_real"}
        if unknown:
            raise ValueError(f"unknown fault knob(s): {', '.join(sorted(unknown))}")
        if "rules" in knobs:
            knobs["rules"] = _check_rules(knobs["rules"] or [])
        with self._lock:
            for key, value in knobs.items():
                if key in ("down_for", "down_for_real"):
                    continue
                if key == "error_methods" and value is not None:
                    value = [str(m).upper() for m in value]
                if key == "seed":
                    self._rng = random.Random(value)
                setattr(self.settings, key, value)
        if knobs.get("down_for") is not None:
            self.down_for(float(knobs["down_for"]))
        if knobs.get("down_for_real") is not None:
            self.down_for(float(knobs["down_for_real"]), real=True)
        return self.settings

    def reset(self) -> None:
        """Back to no faults at all (the seed is kept)."""
        seed = self.settings.seed
        with self._lock:
            self.settings = self.settings_class(seed=seed)
            self._rng = random.Random(seed)

    def down_for(self, seconds: float, real: bool = False) -> None:
        """Make the API answer 503 for ``seconds`` (virtual by default, or real)."""
        with self._lock:
            if real:
                self.settings.down_until_real = time.time() + seconds
            else:
                self.settings.down_until = self._clock() + seconds

    def as_dict(self) -> dict[str, Any]:
        """The current knobs as a JSON-able dict (what ``GET /_emulator/faults`` shows)."""
        with self._lock:
            return dataclasses.asdict(self.settings)

    # ------------------------------------------------------------------ draws
    def _draw(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    def draw(self, rate: float) -> bool:
        """One seeded Bernoulli draw (True with probability ``rate``)."""
        with self._lock:
            return self._draw(rate)

    def take(self, counter: str, rate_knob: str | None = None) -> bool:
        """Consume one unit of the ``counter`` knob if positive, else draw ``rate_knob``.

        E.g. ``take("job_error_next", "job_error_rate")``: the shape of every
        "the next N fail / a fraction fail" pair of knobs.
        """
        with self._lock:
            if getattr(self.settings, counter) > 0:
                setattr(self.settings, counter, getattr(self.settings, counter) - 1)
                return True
            return rate_knob is not None and self._draw(getattr(self.settings, rate_knob))

    def _rules_for(self, method: str, path: str) -> list[dict[str, Any]]:
        return [
            r
            for r in self.settings.rules
            if (not r.get("method") or str(r["method"]).upper() == method.upper())
            and re.search(str(r["path"]), path) is not None
        ]

    def latency_for(self, method: str, path: str) -> float:
        """Real seconds to wait before answering this request (global + matching rules)."""
        with self._lock:
            extra = sum(float(r.get("latency") or 0) for r in self._rules_for(method, path))
            return float(self.settings.latency or 0) + extra

    def http(self, method: str, path: str) -> HttpFault | None:
        """Decide the fate of one API request (called by the HTTP server)."""
        with self._lock:
            s = self.settings
            if (s.down_until is not None and self._clock() < s.down_until) or (
                s.down_until_real is not None and time.time() < s.down_until_real
            ):
                return HttpFault("down", 503)
            if s.reset_next > 0:
                s.reset_next -= 1
                return HttpFault("reset")
            if self._draw(s.reset_rate):
                return HttpFault("reset")
            for rule in self._rules_for(method, path):
                if not rule.get("reset") and not rule.get("code"):
                    continue
                if "next" in rule:  # a countdown rule: then only its explicit rate
                    hit = int(rule["next"] or 0) > 0
                    if hit:
                        rule["next"] = int(rule["next"]) - 1
                    else:
                        hit = self._draw(float(rule.get("rate", 0.0)))
                else:
                    hit = self._draw(float(rule.get("rate", 1.0)))
                if hit:
                    return HttpFault("reset") if rule.get("reset") else HttpFault(
                        "error", int(rule["code"])
                    )
            targeted = method.upper() in s.error_methods and (
                not s.error_paths or re.search(s.error_paths, path) is not None
            )
            if targeted and s.error_next > 0:
                s.error_next -= 1
                return HttpFault("error", s.error_code)
            if targeted and self._draw(s.error_rate):
                return HttpFault("error", s.error_code)
        return None

    @property
    def latency(self) -> float:
        """The global latency knob (real seconds)."""
        return self.settings.latency
