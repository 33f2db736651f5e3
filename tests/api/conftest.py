"""One lab of real SSH hosts for the whole api test session (network namespaces + sshd).

4 hosts on 2 networks (n1, n2), plus ``ghost``: a Host at an unused address of n1, which
never answers. Needs root; every test here is skipped otherwise.
"""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from enoslib.config import config_context
from enoslib.objects import DefaultNetwork, Host, Networks, Roles

N1, N2 = "10.77.0.0/24", "10.78.0.0/24"
LAB = "apitest"


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if os.geteuid() != 0:
        pytest.skip("the api tests need root (network namespaces)")
    from enoslib.nodes import NamespaceLab

    if NamespaceLab.load(LAB) is not None or NamespaceLab.leftovers(LAB):
        NamespaceLab.cleanup_all(LAB)  # a previous, interrupted run
    cache = tmp_path_factory.mktemp("cache")
    # ssh_connect_timeout: the ghost host costs this long per attempt
    with config_context(cache_dir=str(cache), ssh_connect_timeout=3), NamespaceLab(LAB) as lab:
        lab.add_bridge("n1", N1)
        lab.add_bridge("n2", N2)
        lab.add_nodes(["h1", "h2", "h3", "h4"], networks=["n1", "n2"])
        lab.wait_ssh()
        try:
            yield lab
        finally:
            from enoslib.api import close_connections

            close_connections(_hosts(lab))


# lab nodes get new host keys each run: what the Local provider marks its hosts with
DISPOSABLE = {"ansible_host_key_checking": False}


def _hosts(lab: object) -> list[Host]:
    return [
        Host(i.address, alias=i.name, user=i.user, port=i.port, keyfile=i.keyfile, extra=DISPOSABLE)
        for i in lab.nodes.values()  # type: ignore[attr-defined]
    ]


@pytest.fixture(scope="session")
def hosts(lab: object) -> list[Host]:
    return _hosts(lab)


@pytest.fixture(scope="session")
def ghost(lab: object) -> Host:
    """Nobody has this address: ssh times out."""
    return Host("10.77.0.250", alias="ghost", user="root", keyfile=lab.keyfile, extra=DISPOSABLE)  # type: ignore[attr-defined]


@pytest.fixture
def roles(hosts: list[Host]) -> Roles:
    h1, h2, h3, h4 = hosts
    return Roles(server=[h1, h2], client=[h3, h4], rack1=[h1, h3])


@pytest.fixture
def networks() -> Networks:
    return Networks(n1=[DefaultNetwork(N1)], n2=[DefaultNetwork(N2)])
