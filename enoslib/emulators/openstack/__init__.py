"""Emulated OpenStack and Chameleon clouds (see :class:`OpenstackEmulator`)."""

from .emulator import OpenstackEmulator
from .state import Faults, Quotas

__all__ = ["Faults", "OpenstackEmulator", "Quotas"]
