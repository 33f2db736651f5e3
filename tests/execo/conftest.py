"""Real SSH hosts for the execo process API tests (network namespaces + sshd, root only).

3 hosts on one network, plus ``ghost``: an address of that network nobody answers at.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from enoslib.objects import Host
from ssh_lab import ghost_host, lab_hosts, session_lab

LAB = "execotest"
NET = "10.84.0.0/24"


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    yield from session_lab(tmp_path_factory, LAB, {"n1": NET}, ["e1", "e2", "e3"], connect_timeout=2)


@pytest.fixture(scope="session")
def hosts(lab: object) -> list[Host]:
    return lab_hosts(lab)


@pytest.fixture(scope="session")
def ghost(lab: object) -> Host:
    """Nobody has this address: ssh gives up after the connect timeout."""
    return ghost_host(lab, "10.84.0.250")
