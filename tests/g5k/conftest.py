"""Fixtures for the Grid'5000 tests: an in-process emulator driven by the real python-grid5000
client, on a stepped clock (every wait of our code advances the emulator's virtual time
instead of sleeping), with a private reference cache per test."""

from __future__ import annotations

import pytest

from enoslib.config import config_context

pytest.importorskip("grid5000")

from g5k_helpers import make_client

from enoslib.emulators.g5k import G5kEmulator
from enoslib.infra.enos_g5k.client import reset_api


@pytest.fixture(autouse=True)
def private_cache(tmp_path):
    with config_context(cache_dir=str(tmp_path / "cache"), display="noop"):
        yield
    reset_api()


@pytest.fixture
def emu():
    with G5kEmulator(speed=0, backend="address", nodes_per_cluster=4, launch_delay=3, deploy_duration=20) as e:
        yield e


@pytest.fixture
def client(emu):
    return make_client(emu)


@pytest.fixture
def key(tmp_path):
    """A public key file for deploying configurations (never used to log in)."""
    path = tmp_path / "id.pub"
    path.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0xkQ test\n")
    return str(path)
