"""EnOSlib's module path for services (``enoslib.service``, singular).

The implementation lives in :mod:`enoslib.services`; this package only re-exports it, so
``from enoslib.service import Netem`` works as in EnOSlib. (The functions ``netem`` and
``netem_htb`` are in the submodules: ``enoslib.service.netem`` is a module.)
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
)

__all__ = ["AccurateNetemHTB", "HTBConstraint", "HTBSource", "Netem", "NetemHTB", "NetemInConstraint",
           "NetemInOutSource", "NetemOutConstraint"]
