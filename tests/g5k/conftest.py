"""Fixtures for the Grid'5000 tests: an in-process emulator driven by the real python-grid5000
client, on a stepped clock (every wait of our code advances the emulator's virtual time
instead of sleeping), with a private reference cache per test."""

from __future__ import annotations

import pytest

pytest.importorskip("grid5000")

from g5k_helpers import emu, make_client, private_cache  # noqa: F401 - fixtures shared with tests/compat


@pytest.fixture
def client(emu):
    return make_client(emu)


@pytest.fixture
def key(tmp_path):
    """A public key file for deploying configurations (never used to log in)."""
    path = tmp_path / "id.pub"
    path.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0xkQ test\n")
    return str(path)
