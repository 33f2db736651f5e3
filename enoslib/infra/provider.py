"""The Provider contract: what every testbed provider does.

>>> with en.Static(conf) as (roles, networks):   # init() on entry
...     en.run_command("uname -a", roles=roles)
... # destroy() on exit: on success, on error, on Ctrl-C

``init`` is idempotent: a second call, or a second run of the same script, reloads the
reservation made under the configuration's name instead of making a new one.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any, ClassVar, Mapping

from enoslib._signals import sigint_deferred
from enoslib.errors import EnosConfigError
from enoslib.infra.configuration import BaseConfiguration
# one conversion for every time a user gives: epoch seconds or an aware datetime (naive refused)
from enoslib.infra.slots import Interval, IntervalSet, to_timestamp
from enoslib.objects import Networks, Roles

logger = logging.getLogger(__name__)

Time = float | datetime



class Provider(ABC):
    """Base of every provider.

    Subclasses set ``configuration_class`` and implement the abstract methods. The
    configuration is validated in the constructor, so bad input fails before anything is
    reserved.
    """

    configuration_class: ClassVar[type[BaseConfiguration]]

    # -- what :class:`~enoslib.infra.providers.Providers` reads to plan a common start ---------
    # Class attributes with safe defaults; a provider overrides them on its class or instance.
    walltime_seconds: float | None = None
    """Length of the reservation in seconds. None: taken from ``provider_conf.walltime`` when
    the configuration has one, else unbounded (the resources are held until destroyed)."""

    slot_margin: float = 0.0
    """Free seconds the testbed needs after the walltime before it accepts a reservation (a
    scheduler's security time between jobs): a walltime ``w`` needs a free gap of
    ``w + slot_margin``."""

    movable_reservation: bool = False
    """True when ``set_reservation(t)`` + ``async_init(start_time=t)`` moves an existing
    reservation instead of making a second one; ``availability`` must then not count the
    provider's own reservation as busy."""

    concurrent_init: bool = True
    """False runs ``async_init``/``init`` in the calling thread instead of a worker thread
    (for clients that are not thread-safe)."""

    def start_times(self, start: Time, end: Time) -> IntervalSet | None:
        """The exact times in ``[start, end]`` at which this provider can start, or None (the
        default) to let :class:`~enoslib.infra.providers.Providers` derive them from
        :meth:`availability` and the walltime."""
        return None

    def availability_by_resource(self, start: Time, end: Time) -> Mapping[str, IntervalSet] | None:
        """The free windows of each resource the configuration needs (``{"paravance nodes":
        IntervalSet}``), or None (the default). When given, it replaces :meth:`availability`
        (their intersection) and lets a :class:`~enoslib.errors.NoSlotError` name the
        resource that blocks."""
        return None

    def __init__(self, provider_conf: BaseConfiguration | dict[str, Any], name: str | None = None) -> None:
        if isinstance(provider_conf, dict):
            provider_conf = self.configuration_class.from_dictionary(provider_conf)
        elif not isinstance(provider_conf, self.configuration_class):
            raise EnosConfigError(
                f"invalid {self.configuration_class.schema_name} configuration at $: {type(self).__name__} "
                f"needs a {self.configuration_class.__name__} or a dict, got {type(provider_conf).__name__}",
                rule="type",
            )
        self.provider_conf = provider_conf.finalize()
        self.name = name or type(self).__name__

    # -- lifecycle ------------------------------------------------------------------------
    @abstractmethod
    def init(self, force_deploy: bool = False, start_time: Time | None = None, **kwargs: Any) -> tuple[Roles, Networks]:
        """Reserve (or reload) the resources and return ``(roles, networks)``.

        ``start_time`` asks for a reservation starting then (epoch or datetime).
        ``force_deploy`` redoes the deployment steps on reloaded resources.
        """

    @abstractmethod
    def destroy(self, wait: bool = False, **kwargs: Any) -> None:
        """Release everything this provider reserved. Safe to call twice."""

    def async_init(self, start_time: Time | None = None, **kwargs: Any) -> None:
        """Submit the reservation without waiting for it (providers that schedule override)."""
        self.init(start_time=start_time, **kwargs)

    @abstractmethod
    def is_created(self) -> bool:
        """Whether a reservation made under this configuration exists right now."""

    # -- planning -------------------------------------------------------------------------
    @abstractmethod
    def availability(self, start: Time, end: Time) -> IntervalSet:
        """The windows between ``start`` and ``end`` when this configuration could run."""

    @abstractmethod
    def test_slot(self, start_time: Time, end_time: Time) -> bool:
        """Whether this configuration could run from ``start_time`` to ``end_time`` (EnOSlib's
        parameter names, so ``test_slot(start_time=..., end_time=...)`` works)."""

    @abstractmethod
    def set_reservation(self, timestamp: Time) -> None:
        """Make the next ``init`` reserve at ``timestamp``."""

    @abstractmethod
    def offset_walltime(self, offset: float) -> None:
        """Lengthen (or shorten, if negative) the walltime by ``offset`` seconds, before
        ``init``; raises :class:`~enoslib.errors.NegativeWalltime` when the walltime would not
        stay positive."""

    # -- context manager ------------------------------------------------------------------
    def __enter__(self) -> tuple[Roles, Networks]:
        try:
            return self.init()
        except BaseException:
            # __exit__ is not called when __enter__ fails: release what init got so far
            logger.info("%s: init failed, releasing what was reserved", self.name)
            self._release()
            raise

    def __exit__(self, *exc_info: Any) -> None:
        self._release()

    def _release(self) -> None:
        with sigint_deferred():
            self.destroy()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    def _repr_html_(self) -> str:
        return f"<b>{type(self).__name__}</b> {self.name}" + self.provider_conf._repr_html_()


class ImmediateProvider(Provider):
    """A provider whose resources are usable at once and at any time (no scheduler):
    Static, Local, Vagrant. Always available; a reservation time is recorded, not waited for."""

    reservation: float | None = None
    movable_reservation = True  # nothing is held on a scheduler: "moving" is recording a time

    def availability(self, start: Time, end: Time) -> IntervalSet:
        return IntervalSet([Interval(to_timestamp(start), to_timestamp(end))])

    def test_slot(self, start_time: Time, end_time: Time) -> bool:
        return True

    def set_reservation(self, timestamp: Time) -> None:
        self.reservation = to_timestamp(timestamp)

    def offset_walltime(self, offset: float) -> None:
        """No walltime: resources last until destroyed."""
