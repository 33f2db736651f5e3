"""EnOSlib's older module path for network emulation: re-exports :mod:`enoslib.services.netem`."""

from enoslib.service import *  # noqa: F401,F403
from enoslib.service import __all__  # noqa: F401
from enoslib.services.netem import NetemConstraint  # noqa: F401
