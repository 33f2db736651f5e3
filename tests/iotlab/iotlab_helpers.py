"""Helpers shared by the IoT-LAB tests (importable as ``iotlab_helpers``; ``conftest`` is not a
unique module name across test packages)."""

from __future__ import annotations

from enoslib.emulators.iotlab import IotlabEmulator
from enoslib.infra.enos_iotlab.client import IotlabClient


def make_client(emu: IotlabEmulator, **kw) -> IotlabClient:
    """A client whose waits and backoffs advance the emulator's clock instead of sleeping."""
    return IotlabClient(emu.username, emu.password, emu.url, sleep=emu.advance, now=emu.clock.now, **kw)
