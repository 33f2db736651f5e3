"""Fixtures of the Distem tests: a Grid'5000 emulator (address-only nodes, stepped clock, the
real python-grid5000 client) and a Distem coordinator emulator (the real distem client)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("grid5000")
pytest.importorskip("distem")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "g5k"))

from g5k_helpers import active_jobs, emu, make_client, private_cache  # noqa: E402,F401 - shared fixtures


@pytest.fixture
def key(tmp_path):
    """A public key file for deploying (never used to log in)."""
    path = tmp_path / "id.pub"
    path.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0xkQ test\n")
    return str(path)


@pytest.fixture
def coordinator():
    """A Distem REST API with address-only vnodes."""
    from enoslib.emulators.distem import DistemEmulator

    with DistemEmulator(backend="address") as emulator:
        yield emulator
