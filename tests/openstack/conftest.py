"""Fixtures for the OpenStack/Chameleon tests: an in-process emulator driven by the real
openstacksdk and python-blazarclient, on a stepped clock (every wait of the providers moves
the emulator's virtual time instead of sleeping), with address-only servers."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items):
    # openstacksdk's deprecation notices about its own internals, by the thousand
    here = __file__.rsplit("/", 1)[0]
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"))

pytest.importorskip("openstack")
pytest.importorskip("blazarclient")


@pytest.fixture(autouse=True)
def quiet(tmp_path):
    from enoslib.config import config_context

    with config_context(display="noop", cache_dir=str(tmp_path / "cache")):
        yield


@pytest.fixture
def emu():
    from enoslib.emulators.openstack import OpenstackEmulator

    with OpenstackEmulator(speed=0, backend="address") as e:
        yield e


@pytest.fixture
def chameleon():
    from enoslib.emulators.openstack import OpenstackEmulator

    with OpenstackEmulator(speed=0, backend="address", chameleon=True) as e:
        yield e
