"""Real SSH hosts for the execo process API tests (network namespaces + sshd, root only).

3 hosts on one network, plus ``ghost``: an address of that network nobody answers at.
"""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from enoslib.config import config_context
from enoslib.objects import Host

LAB = "execotest"
NET = "10.84.0.0/24"
# lab nodes get new host keys each run: what the Local provider marks its hosts with
DISPOSABLE = {"ansible_host_key_checking": False}


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if os.geteuid() != 0:
        pytest.skip("the execo ssh tests need root (network namespaces)")
    from enoslib.nodes import NamespaceLab

    if NamespaceLab.load(LAB) is not None or NamespaceLab.leftovers(LAB):
        NamespaceLab.cleanup_all(LAB)  # a previous, interrupted run
    cache = tmp_path_factory.mktemp("cache")
    with config_context(cache_dir=str(cache), ssh_connect_timeout=2), NamespaceLab(LAB) as lab:
        lab.add_bridge("n1", NET)
        lab.add_nodes(["e1", "e2", "e3"], networks=["n1"])
        lab.wait_ssh()
        try:
            yield lab
        finally:
            from enoslib.api import close_connections

            close_connections(_hosts(lab))


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
    """Nobody has this address: ssh gives up after the connect timeout."""
    return Host("10.84.0.250", alias="ghost", user="root", keyfile=lab.keyfile, extra=DISPOSABLE)  # type: ignore[attr-defined]
