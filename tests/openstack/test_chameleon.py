"""Chameleon: bare metal with Blazar leases (python-blazarclient), KVM, and Providers with
Grid'5000 on emulators sharing one virtual clock."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone

import pytest

from enoslib.errors import EnosProviderError, InvalidReservationTime
from enoslib.infra.enos_chameleonbaremetal import Chameleonbaremetal
from enoslib.infra.enos_chameleonkvm import Chameleonkvm, ChameleonkvmConf

from os_helpers import baremetal_conf, leaks, provider_kwargs


def date(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M")


def hold(emu, node_type, count, start, end, name="other"):
    """Another project member's lease (through python-blazarclient)."""
    return emu.blazar().lease.create(name, start if isinstance(start, str) else date(start), date(end), [
        {"resource_type": "physical:host", "min": count, "max": count, "hypervisor_properties": "",
         "resource_properties": f'["=", "$node_type", "{node_type}"]'}], [])


def test_lease_servers_on_its_reservation_and_release(chameleon):
    provider = Chameleonbaremetal(baremetal_conf(haswell=2), **provider_kwargs(chameleon))
    roles, networks = provider.init()
    assert provider.lease["status"] == "ACTIVE"
    rid = provider.lease["reservations"][0]["id"]
    servers = chameleon.cloud.servers.values()
    assert {s["hints"]["reservation"] for s in servers} == {rid}
    assert {s["flavor_id"] for s in servers} == {"baremetal"} and all(s["host"] for s in servers)
    assert [h.address.startswith("10.140.") for h in roles.all()] == [True, True]  # sharednet1
    assert all(h.extra["gateway"] == provider.gateway_ip for h in roles.all())
    # reload: the live lease of that name and the servers are reused
    again = Chameleonbaremetal(baremetal_conf(haswell=2), **provider_kwargs(chameleon))
    assert again.is_created()
    roles2, _ = again.init()
    assert again.lease["id"] == provider.lease["id"] and roles2.all() == roles.all()
    assert chameleon.inventory()["leases"] == 1
    again.destroy()
    assert leaks(chameleon) == {}


def test_lease_waits_for_a_future_start(chameleon):
    now = chameleon.clock.now()
    provider = Chameleonbaremetal(baremetal_conf(haswell=1, walltime="0:30:00"), **provider_kwargs(chameleon))
    provider.set_reservation(now + 3600)
    provider.async_init(start_time=now + 3600)
    lease = provider.lease
    wanted = -(-(now + 3600) // 60) * 60  # Blazar dates are whole minutes: the next one
    assert lease["status"] == "PENDING" and lease["start_date"].startswith(date(wanted).replace(" ", "T"))
    roles, _ = provider.init()
    assert chameleon.clock.now() >= now + 3600  # the wait moved the virtual clock
    assert len(roles.all()) == 1
    provider.destroy()
    assert leaks(chameleon) == {}


def test_start_times_are_whole_minutes_after_other_leases(chameleon):
    now = chameleon.clock.now()
    end = hold(chameleon, "compute_haswell", 7, "now", now + 5400)["end_date"]
    busy_until = datetime.strptime(end, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()
    provider = Chameleonbaremetal(baremetal_conf(haswell=2, walltime="1:00:00"), **provider_kwargs(chameleon))
    starts = provider.start_times(now, now + 6 * 3600)
    assert starts.earliest() == busy_until and busy_until % 60 == 0
    assert all(iv.start % 60 == 0 and iv.is_point for iv in starts)
    free = provider.availability_by_resource(now, now + 6 * 3600)
    assert list(free) == ["compute_haswell hosts"]
    assert not provider.test_slot(now + 60, now + 3660) and provider.test_slot(busy_until, busy_until + 3600)


def test_a_refused_lease_is_an_invalid_reservation_time(chameleon):
    now = chameleon.clock.now()
    hold(chameleon, "gpu_p100", 2, "now", now + 3600)
    conf = baremetal_conf(haswell=1).add_machine(roles=["gpu"], flavour="gpu_p100", number=1)
    with pytest.raises(InvalidReservationTime, match="Not enough hosts"):
        Chameleonbaremetal(conf, **provider_kwargs(chameleon)).init()
    assert leaks(chameleon) == {"leases": 1}  # only the other user's


def test_a_lease_in_error_fails_init_and_is_released(chameleon):
    chameleon.faults.update(lease_error_rate=1.0)
    with pytest.raises(EnosProviderError, match="is ERROR"):
        Chameleonbaremetal(baremetal_conf(), **provider_kwargs(chameleon)).init()
    assert leaks(chameleon) == {}


def test_chameleon_kvm_needs_no_lease(chameleon):
    conf = ChameleonkvmConf.from_settings(key_name="k", user="cc").add_machine(roles=["a"], flavour="m1.small",
                                                                                number=2)
    provider = Chameleonkvm(conf, **provider_kwargs(chameleon))
    roles, _ = provider.init()
    assert len(roles.all()) == 2 and chameleon.inventory()["leases"] == 0
    assert provider.availability(0, 100).total() == 100
    provider.destroy()
    assert leaks(chameleon) == {}


# -- with Grid'5000 -------------------------------------------------------------------------------

@pytest.fixture
def g5k_and_chameleon(tmp_path):
    pytest.importorskip("grid5000")
    from enoslib.config import config_context
    from enoslib.emulators.g5k import G5kEmulator
    from enoslib.emulators.openstack import OpenstackEmulator
    from enoslib.infra.enos_g5k.client import reset_api

    with config_context(cache_dir=str(tmp_path / "g5k-cache"), display="noop"), \
            G5kEmulator(speed=0, backend="address", nodes_per_cluster=4, launch_delay=3,
                        users={"alice": secrets.token_urlsafe(12)}) as g5k, \
            OpenstackEmulator(chameleon=True, clock=g5k.clock, backend="address") as chi:
        yield g5k, chi
    reset_api()


def test_providers_find_the_common_slot_with_grid5000(g5k_and_chameleon):
    """Every compute_haswell host is taken for 90 min: the Grid'5000 job and the lease both start
    at the first whole minute after that, found with one availability read each."""
    from enoslib.infra.enos_g5k import G5k, G5kConf
    from enoslib.infra.enos_g5k.client import G5kClient
    from enoslib.infra.providers import Providers

    g5k_emu, chi = g5k_and_chameleon
    now = chi.clock.now()
    other = hold(chi, "compute_haswell", 8, "now", now + 5400)
    busy_until = datetime.strptime(other["end_date"], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()
    client = G5kClient(g5k_emu.uri, "alice", g5k_emu.users["alice"], sleep=g5k_emu.advance, now=g5k_emu.clock.now)
    g5k = G5k(G5kConf.from_settings(job_name="with-chi", walltime="1:00:00", root_access=False)
              .add_machine(roles=["server"], cluster="parasilo", nodes=1), name="g5k", client=client)
    bm = Chameleonbaremetal(baremetal_conf(lease="with-g5k", haswell=2), name="chameleon", **provider_kwargs(chi))
    group = Providers([g5k, bm], clock=chi.clock.now)
    roles, _ = group.init(time_window=6 * 3600)
    lease = bm.lease
    start = datetime.strptime(lease["start_date"], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()
    assert group.start_time == start == busy_until
    assert len(roles["server"]) == 3 and lease["status"] == "ACTIVE"
    assert len(group.roles_by_provider["chameleon"]["server"]) == 2
    group.destroy()
    assert leaks(chi) == {"leases": 1}  # the other user's lease only
