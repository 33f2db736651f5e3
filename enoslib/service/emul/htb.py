"""``enoslib.service.emul.htb``: the per-destination (HTB) classes, from :mod:`enoslib.services.netem`."""

from enoslib.services.netem import (  # noqa: F401
    DEFAULT_LOSS,
    DEFAULT_RATE,
    AccurateNetemHTB,
    HTBConstraint,
    HTBSource,
    NetemHTB,
    netem_htb,
)

__all__ = ["AccurateNetemHTB", "DEFAULT_LOSS", "DEFAULT_RATE", "HTBConstraint", "HTBSource", "NetemHTB", "netem_htb"]
