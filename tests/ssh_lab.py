"""A session lab of real SSH hosts for a test package (network namespaces + sshd, root only).

Importable as ``ssh_lab`` (``tests/`` is on the path through its conftest)::

    @pytest.fixture(scope="session")
    def lab(tmp_path_factory):
        yield from session_lab(tmp_path_factory, "apitest", {"n1": "10.77.0.0/24"}, ["h1", "h2"])
"""

from __future__ import annotations

import os
from typing import Iterator, Mapping, Sequence

import pytest

from enoslib.config import config_context
from enoslib.objects import Host

# lab nodes get new host keys each run: what the Local provider marks its hosts with
DISPOSABLE = {"ansible_host_key_checking": False}


def session_lab(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    bridges: Mapping[str, str],
    nodes: Sequence[str],
    *,
    connect_timeout: int = 3,
) -> Iterator[object]:
    """Yield a started lab ``name``: ``nodes`` on every bridge of ``bridges`` (name -> cidr),
    SSH ready; skips without root; cleans what an interrupted earlier run left; closes the
    connections and removes everything on exit. ``connect_timeout`` bounds each ssh attempt
    (what a host that never answers costs)."""
    if os.geteuid() != 0:
        pytest.skip(f"the {name} tests need root (network namespaces)")
    from enoslib.nodes import NamespaceLab

    if NamespaceLab.load(name) is not None or NamespaceLab.leftovers(name):
        NamespaceLab.cleanup_all(name)  # a previous, interrupted run
    cache = tmp_path_factory.mktemp("cache")
    with config_context(cache_dir=str(cache), ssh_connect_timeout=connect_timeout), NamespaceLab(name) as lab:
        for bridge, cidr in bridges.items():
            lab.add_bridge(bridge, cidr)
        lab.add_nodes(list(nodes), networks=list(bridges))
        lab.wait_ssh()
        try:
            yield lab
        finally:
            from enoslib.api import close_connections

            close_connections(lab_hosts(lab))


def lab_hosts(lab: object) -> list[Host]:
    """The lab's nodes as enoslib Hosts (alias = node name)."""
    return [
        Host(i.address, alias=i.name, user=i.user, port=i.port, keyfile=i.keyfile, extra=DISPOSABLE)
        for i in lab.nodes.values()  # type: ignore[attr-defined]
    ]


def ghost_host(lab: object, address: str) -> Host:
    """A Host at ``address``, where nobody answers: ssh gives up after the connect timeout."""
    return Host(address, alias="ghost", user="root", keyfile=lab.keyfile, extra=DISPOSABLE)  # type: ignore[attr-defined]
