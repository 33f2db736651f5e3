"""The virtual clock lives in the shared emulator kit (:mod:`enoslib.emulators.kit.clock`)."""

from ..kit.clock import Ticker, VirtualClock

__all__ = ["Ticker", "VirtualClock"]
