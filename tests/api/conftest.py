"""One lab of real SSH hosts for the whole api test session (network namespaces + sshd).

4 hosts on 2 networks (n1, n2), plus ``ghost``: a Host at an unused address of n1, which
never answers. Needs root; every test here is skipped otherwise.
"""

from __future__ import annotations

import subprocess
from typing import Iterator

import pytest

from enoslib.objects import DefaultNetwork, Host, Networks, Roles
from ssh_lab import ghost_host, lab_hosts, session_lab

N1, N2 = "10.77.0.0/24", "10.78.0.0/24"
LAB = "apitest"


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    # ssh_connect_timeout: the ghost host costs this long per attempt
    yield from session_lab(tmp_path_factory, LAB, {"n1": N1, "n2": N2}, ["h1", "h2", "h3", "h4"])


@pytest.fixture(scope="session")
def hosts(lab: object) -> list[Host]:
    return lab_hosts(lab)


@pytest.fixture(scope="session")
def ghost(lab: object) -> Host:
    """Nobody has this address: ssh times out."""
    return ghost_host(lab, "10.77.0.250")


@pytest.fixture
def roles(hosts: list[Host]) -> Roles:
    h1, h2, h3, h4 = hosts
    return Roles(server=[h1, h2], client=[h3, h4], rack1=[h1, h3])


@pytest.fixture
def networks() -> Networks:
    return Networks(n1=[DefaultNetwork(N1)], n2=[DefaultNetwork(N2)])


@pytest.fixture(scope="module")
def become_user() -> Iterator[str]:
    """A user with a home of its own (on the lab's hosts: they share the users), for one
    test module (removed after)."""
    name = "enoscold"
    if subprocess.run(["id", name], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "-m", "-s", "/bin/sh", name], check=True, capture_output=True)
    yield name
    subprocess.run(["userdel", "-r", name], capture_output=True)
