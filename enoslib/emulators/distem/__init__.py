"""A local Distem coordinator (``distemd``'s REST API on port 4567) for the real ``distem`` client.

* :class:`DistemEmulator` -- the REST API on a loopback port, vnodes backed by SSH hosts with the
  addresses Distem assigns (:mod:`.guests`), fault knobs (:mod:`.faults`).
* ``enos emulate distem`` -- the same from the command line.
"""

from .emulator import DistemEmulator
from .faults import DistemFaults, DistemFaultSettings

__all__ = ["DistemEmulator", "DistemFaultSettings", "DistemFaults"]
