"""EnOSlib's module path ``enoslib.service.emul`` (submodules ``netem`` and ``htb``): re-exports
:mod:`enoslib.services.netem`."""

from enoslib.service import *  # noqa: F401,F403
from enoslib.service import __all__  # noqa: F401
