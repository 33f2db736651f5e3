"""execo_g5k's get_hosts_metric against the emulator's Kwollect API (real reference data)."""

from __future__ import annotations

import pytest

from enoslib import g5k
from enoslib.infra.enos_g5k.client import set_api


@pytest.fixture
def lyon():
    """An emulator of lyon's real clusters, address-only nodes, stepped clock."""
    from enoslib.emulators.g5k import G5kEmulator

    with G5kEmulator(["lyon"], speed=0, backend="address") as e:
        yield e


def test_get_hosts_metric(lyon, private_cache):
    from g5k_helpers import make_client

    set_api(client=make_client(lyon))
    now = lyon.clock.now()
    first, second = g5k.get_cluster_hosts("nova")[:2]  # real node names (not every number exists)
    hosts = [first.split(".")[0], second]
    values = g5k.get_hosts_metric(hosts, "wattmetre_power_watt", from_ts=now - 60, to_ts=now)
    assert set(values) == set(hosts)
    for series in values.values():
        times = [t for t, _ in series]
        assert times == sorted(times) and len(times) >= 50  # one value a second
        assert all(now - 60 <= t <= now and isinstance(v, float) for t, v in series)
    coarse = g5k.get_hosts_metric(hosts[:1], "wattmetre_power_watt", from_ts=now - 60, to_ts=now,
                                  resolution=10)
    times = [t for t, _ in coarse[hosts[0]]]
    assert 5 <= len(times) <= 7 and all(b - a >= 10 for a, b in zip(times, times[1:]))
    assert g5k.get_hosts_metric(hosts[:1], "no_such_metric", from_ts=now - 60, to_ts=now) == {hosts[0]: []}
    with pytest.raises(ValueError, match="not a Grid'5000 node"):
        g5k.get_hosts_metric(["localhost"], "wattmetre_power_watt")
