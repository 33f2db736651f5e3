"""Emulated OpenStack and Chameleon clouds (see :class:`OpenstackEmulator`)."""

from .emulator import OpenstackEmulator
from .faults import OpenstackFaultSettings, OpenstackFaults
from .state import Quotas

__all__ = ["OpenstackEmulator", "OpenstackFaultSettings", "OpenstackFaults", "Quotas"]
