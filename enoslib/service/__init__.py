"""EnOSlib's module path for services (``enoslib.service``, singular).

The implementation lives in :mod:`enoslib.services`; this package only re-exports it, so
``from enoslib.service import Netem`` works as in EnOSlib.
"""

from enoslib.services.netem import (  # noqa: F401
    AccurateNetemHTB,
    HTBConstraint,
    HTBSource,
    Netem,
    NetemHTB,
    NetemInConstraint,
    NetemInOutSource,
    NetemOutConstraint,
    netem,
    netem_htb,
)

__all__ = ["AccurateNetemHTB", "HTBConstraint", "HTBSource", "Netem", "NetemHTB", "NetemInConstraint",
           "NetemInOutSource", "NetemOutConstraint", "netem", "netem_htb"]
