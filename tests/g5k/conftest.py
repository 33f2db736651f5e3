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
