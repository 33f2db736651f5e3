"""A local emulator of the Grid'5000 REST API, for the real python-grid5000 client.

>>> from enoslib.emulators.g5k import G5kEmulator
>>> with G5kEmulator(speed=0, backend="address") as emu:       # doctest: +SKIP
...     gk = emu.client()
...     gk.sites["rennes"].clusters["paravance"].nodes.list()

See :class:`G5kEmulator` for the knobs, :mod:`.faults` for fault injection,
and ``python -m enoslib.emulators.g5k --help`` for the command line.
"""

from .backend import AddressOnlyBackend, NamespaceBackend, NodeBackend
from .clock import VirtualClock
from .emulator import G5kEmulator
from .faults import FaultInjector, FaultSettings
from .realdata import default_dataset, real_dataset
from .reference import DEFAULT_LAYOUT, ReferenceData, legacy_dataset, make_dataset

__all__ = [
    "DEFAULT_LAYOUT",
    "AddressOnlyBackend",
    "FaultInjector",
    "FaultSettings",
    "G5kEmulator",
    "NamespaceBackend",
    "NodeBackend",
    "ReferenceData",
    "VirtualClock",
    "default_dataset",
    "legacy_dataset",
    "make_dataset",
    "real_dataset",
]
