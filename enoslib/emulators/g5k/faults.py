"""Fault injection: what can go wrong with the real testbed, on demand.

Knobs (all settable at construction, with :meth:`FaultInjector.update` at
run time, or over HTTP: ``PUT /_emulator/faults`` with a JSON object):

- ``error_rate``/``error_code``: fraction of API requests answered with that HTTP code
- ``error_next``: the next N API requests fail with ``error_code``
- ``error_methods``: methods the two knobs above apply to (default all)
- ``error_paths``: regex the request path (after the prefix) must match
- ``latency``: real seconds added before every API answer
- ``reset_rate``/``reset_next``: connections closed with a TCP reset, no answer
- ``down_until``: API answers 503 until this virtual time (:meth:`down_for` is the friendly
  way; ``real=True`` measures the window in real seconds)
- ``job_error_rate``/``job_error_next``: launching jobs sent to ``error``
- ``deploy_fail_nodes``: node fqdns whose deployments end ``KO``
- ``deploy_failure_rate``: per-node probability of ``KO``
- ``deploy_error_next``: the next N deployments end in status ``error``
- ``fewer_nodes``: started jobs get this many nodes less than asked
- ``seed``: seeds the random draws (same seed, same faults)
"""

from __future__ import annotations

import dataclasses
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FaultInjector", "FaultSettings", "HttpFault"]


@dataclass
class FaultSettings:
    """Every fault knob; the defaults inject nothing."""

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
    job_error_rate: float = 0.0
    job_error_next: int = 0
    deploy_fail_nodes: list[str] = field(default_factory=list)
    deploy_failure_rate: float = 0.0
    deploy_error_next: int = 0
    fewer_nodes: int = 0
    seed: int = 0


@dataclass(frozen=True)
class HttpFault:
    """What to do with one request: ``kind`` is ``error``, ``reset`` or ``down``."""

    kind: str
    code: int = 503


class FaultInjector:
    """Thread-safe holder of :class:`FaultSettings` plus the seeded random draws."""

    def __init__(
        self,
        settings: FaultSettings | dict[str, Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.settings = FaultSettings()
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
        names = {f.name for f in dataclasses.fields(FaultSettings)}
        unknown = set(knobs) - names - {"down_for", "down_for_real"}
        if unknown:
            raise ValueError(f"unknown fault knob(s): {', '.join(sorted(unknown))}")
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
            self.settings = FaultSettings(seed=seed)
            self._rng = random.Random(seed)

    def down_for(self, seconds: float, real: bool = False) -> None:
        """Make the API answer 503 for ``seconds`` (virtual by default, or real)."""
        with self._lock:
            if real:
                self.settings.down_until_real = time.time() + seconds
            else:
                self.settings.down_until = self._clock() + seconds

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return dataclasses.asdict(self.settings)

    # ------------------------------------------------------------------ draws
    def _draw(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

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
        return self.settings.latency

    def take_job_error(self, job_uid: int) -> bool:
        """Should this launching job end in ``error``?"""
        with self._lock:
            if self.settings.job_error_next > 0:
                self.settings.job_error_next -= 1
                return True
            return self._draw(self.settings.job_error_rate)

    def take_fewer_nodes(self) -> int:
        with self._lock:
            return max(0, int(self.settings.fewer_nodes))

    def take_deploy_error(self) -> bool:
        with self._lock:
            if self.settings.deploy_error_next > 0:
                self.settings.deploy_error_next -= 1
                return True
            return False

    def deploy_fails(self, fqdn: str) -> bool:
        """Does the deployment of this node end ``KO``?"""
        with self._lock:
            short = fqdn.split(".")[0]
            if fqdn in self.settings.deploy_fail_nodes or short in self.settings.deploy_fail_nodes:
                return True
            return self._draw(self.settings.deploy_failure_rate)
