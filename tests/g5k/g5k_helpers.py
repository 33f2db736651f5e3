"""Helpers shared by the Grid'5000 tests (importable as ``g5k_helpers``)."""

from __future__ import annotations

import pytest

from enoslib.config import config_context
from enoslib.infra.enos_g5k.client import G5kClient, reset_api
from enoslib.infra.enos_g5k.oar import ACTIVE_STATES


@pytest.fixture(autouse=True)
def private_cache(tmp_path):
    """A private reference cache and no display; the default API connection forgotten after."""
    with config_context(cache_dir=str(tmp_path / "cache"), display="noop"):
        yield
    reset_api()


@pytest.fixture
def emu():
    """The emulator on a stepped clock, address-only nodes."""
    from enoslib.emulators.g5k import G5kEmulator

    with G5kEmulator(speed=0, backend="address", nodes_per_cluster=4, launch_delay=3, deploy_duration=20) as e:
        yield e


def make_client(emu, **options):
    """A client on the emulator whose waits move the emulator's virtual clock."""
    options.setdefault("sleep", emu.advance)
    options.setdefault("now", emu.clock.now)
    return G5kClient(emu.uri, emu.username, emu.password, **options)


def active_jobs(emu, user=None):
    """Jobs holding (or about to hold) resources, seen through a fresh real client."""
    probe = G5kClient(emu.uri, emu.username, emu.password, retries=0)
    found = []
    for site in [s["uid"] for s in probe.items("/sites")]:
        for job in probe.items(f"/sites/{site}/jobs", state=",".join(ACTIVE_STATES), limit=500):
            if user is None or job.get("user") == user:
                found.append((site, job["uid"], job["state"], job.get("name")))
    return found


def basic_conf(**settings):
    from enoslib.infra.enos_g5k import G5kConf

    settings.setdefault("job_name", "test")
    settings.setdefault("walltime", "1:00:00")
    settings.setdefault("root_access", False)
    return G5kConf.from_settings(**settings)
