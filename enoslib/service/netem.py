"""EnOSlib's older module path for network emulation: re-exports :mod:`enoslib.services.netem`."""

from enoslib.service import *  # noqa: F401,F403
from enoslib.service import __all__ as _classes
from enoslib.services.netem import NetemConstraint, netem, netem_htb  # noqa: F401

__all__ = [*_classes, "NetemConstraint", "netem", "netem_htb"]
