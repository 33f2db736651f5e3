"""A local emulator of FIT/IoT-LAB for the real ``iotlabcli`` client (and the Iotlab provider).

>>> from enoslib.emulators.iotlab import IotlabEmulator
>>> with IotlabEmulator(speed=0, backend="address") as emu:      # doctest: +SKIP
...     os.environ.update(emu.env())                              # IOTLAB_API_URL, IOTLAB_PASSWORD_FILE
...     emu.advance(60)

See :class:`IotlabEmulator` for the knobs and ``enos emulate iotlab --help`` for the command line.
"""

from .emulator import IotlabEmulator, IotlabFaults, IotlabFaultSettings
from .testbed import ARCHIS, DEFAULT_LAYOUT, Node, Testbed

__all__ = ["ARCHIS", "DEFAULT_LAYOUT", "IotlabEmulator", "IotlabFaultSettings", "IotlabFaults", "Node", "Testbed"]
