"""Fixtures of the IoT-LAB tests: an in-process emulator driven by the real ``iotlabcli``, on a
frozen clock that only our waits move (every sleep of the provider advances virtual time)."""

from __future__ import annotations

import pytest

pytest.importorskip("iotlabcli")
pytest.importorskip("enoslib.emulators.kit")  # the shared emulator parts

from enoslib.emulators.iotlab import IotlabEmulator  # noqa: E402
from iotlab_helpers import make_client  # noqa: E402

LAYOUT = {"grenoble": {"m3": 6, "a8": 2, "nrf52dk": 1}, "lille": {"m3": 3, "a8": 1}}


@pytest.fixture
def emu():
    """Address-only emulator (no SSH hosts): safe in tests not marked root."""
    with IotlabEmulator(LAYOUT, speed=0, backend="address", launch_seconds=20) as e:
        yield e


@pytest.fixture
def client(emu):
    return make_client(emu)


@pytest.fixture
def firmware(tmp_path):
    path = tmp_path / "hello.elf"
    path.write_bytes(b"\x7fELF emulated firmware")
    return str(path)


@pytest.fixture
def api(emu):
    """A bare iotlabcli API object pointed at the emulator."""
    import iotlabcli.rest

    a = iotlabcli.rest.Api(emu.username, emu.password)
    a.url = emu.url
    return a
