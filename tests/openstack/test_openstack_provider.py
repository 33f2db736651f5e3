"""The OpenStack provider against the emulator, through the real openstacksdk."""

from __future__ import annotations

import pytest

from enoslib.errors import EnosProviderError
from enoslib.infra.enos_openstack import Openstack

from os_helpers import PUBLIC_KEY, leaks, openstack_conf, provider_kwargs


def posts(emu, what="/compute/v2.1/servers"):
    return emu.calls[f"POST /compute{what.removeprefix('/compute')}"]


def test_boot_servers_roles_networks_gateway_and_destroy(emu):
    provider = Openstack(openstack_conf(servers=3, clients=2), **provider_kwargs(emu))
    roles, networks = provider.init()
    assert [h.alias for h in roles["server"]] == ["exp-1", "exp-2", "exp-3"]
    assert [h.alias for h in roles["client"]] == ["exp-4", "exp-5"]
    conn = emu.connection()
    servers = {s.name: s for s in conn.compute.servers(details=True)}
    assert {s.status for s in servers.values()} == {"ACTIVE"}
    for host in roles.all():  # fixed IPs, every server reached through the gateway's floating IP
        assert host.address == servers[host.alias].addresses["enos-network"][0]["addr"]
        assert host.extra["gateway"] == provider.gateway_ip and host.extra["gateway_user"] == "root"
        assert host.user == "root"
    fips = list(conn.network.ips())
    assert [f.floating_ip_address for f in fips] == [provider.gateway_ip]
    assert fips[0].fixed_ip_address == roles["server"][0].address
    [net] = networks["lan"]
    assert (str(net.network), net.gateway) == ("10.87.23.0/24", "10.87.23.1")
    assert (net.ip_start, net.ip_end) == ("10.87.23.101", "10.87.23.254")  # after DHCP's pool
    assert provider.is_created()
    provider.destroy()
    assert leaks(emu) == {}
    assert not provider.is_created()
    provider.destroy()  # twice is fine


def test_servers_boot_in_parallel_and_one_listing_per_poll(emu):
    provider = Openstack(openstack_conf(servers=8, clients=0), **provider_kwargs(emu, poll_interval=5))
    provider.init()
    assert posts(emu) == 8
    # the wait polls one listing for all servers, not one GET per server
    assert emu.calls["GET /compute/v2.1/servers/detail"] <= 6
    provider.destroy()


def test_reload_reuses_the_servers_and_creates_nothing(emu):
    conf = openstack_conf()
    first, _ = Openstack(conf, **provider_kwargs(emu)).init()
    before = dict(emu.calls)
    again = Openstack(conf, **provider_kwargs(emu))
    roles, _ = again.init()
    assert [(h.alias, h.address) for h in roles.all()] == [(h.alias, h.address) for h in first.all()]
    created = {k: v - before.get(k, 0) for k, v in emu.calls.items() if k.startswith(("POST", "PUT")) and "/identity" not in k}
    assert not any(created.values()), created
    again.destroy()
    assert leaks(emu) == {}


def test_destroy_keeps_what_existed_before(emu):
    """The user's network, subnet, router and keypair are used, never deleted."""
    conn = emu.connection()
    net = conn.network.create_network(name="enos-network")
    sub = conn.network.create_subnet(network_id=net.id, name="enos-subnet", cidr="10.87.23.0/24", ip_version=4)
    ext = next(conn.network.networks(**{"router:external": True}))
    router = conn.network.create_router(name="exp-router", external_gateway_info={"network_id": ext.id})
    conn.network.add_interface_to_router(router, sub.id)
    conn.compute.create_keypair(name="exp-key", public_key=PUBLIC_KEY)
    other = conn.compute.create_server(name="exp-99", image_id=conn.image.find_image("debian-12").id,
                                       flavor_id=conn.compute.find_flavor("m1.tiny").id, networks=[{"uuid": net.id}])
    before = emu.inventory()
    provider = Openstack(openstack_conf(servers=2, clients=0), **provider_kwargs(emu))
    roles, _ = provider.init()
    assert len(roles.all()) == 2
    provider.destroy()
    after = emu.inventory()
    assert after == {**before, "security_groups": before["security_groups"]}
    assert conn.compute.get_server(other.id).name == "exp-99"  # same prefix, not ours: kept
    assert conn.compute.find_keypair("exp-key") is not None
    assert conn.network.find_router("exp-router") is not None


def test_missing_image_or_flavor_fails_before_anything_is_made(emu):
    with pytest.raises(EnosProviderError, match=r"no image 'nope'.*\$\.image"):
        Openstack(openstack_conf(image="nope"), **provider_kwargs(emu)).init()
    conf = openstack_conf()
    conf.machines[1].flavour = "m9.huge"
    with pytest.raises(EnosProviderError, match=r"no flavor 'm9.huge'.*machines\[1\]\.flavour"):
        Openstack(conf, **provider_kwargs(emu)).init()
    assert leaks(emu) == {}


def test_quota_exceeded_releases_everything(emu):
    emu.cloud.quotas.instances = 3
    with pytest.raises(EnosProviderError, match="Quota exceeded for instances"):
        Openstack(openstack_conf(servers=3, clients=2), **provider_kwargs(emu)).init()
    assert leaks(emu) == {}


def test_a_server_in_error_is_replaced(emu):
    emu.faults.update(boot_error_rate=1.0)
    provider = Openstack(openstack_conf(servers=1, clients=0), **provider_kwargs(emu, boot_retries=2))
    with pytest.raises(EnosProviderError, match=r"exp-1 failed to boot 3 times.*No valid host"):
        provider.init()
    assert leaks(emu) == {}
    emu.faults.update(boot_error_rate=0.5, seed=3)
    roles, _ = Openstack(openstack_conf(servers=4, clients=0), **provider_kwargs(emu, boot_retries=8)).init()
    assert len(roles.all()) == 4
    assert posts(emu) > 4 + 3  # some were booted again


def test_prefixes_are_independent(emu):
    a = Openstack(openstack_conf(prefix="a", servers=1, clients=0), **provider_kwargs(emu))
    b = Openstack(openstack_conf(prefix="b", servers=1, clients=0, network={"name": "b-net"},
                                 subnet={"name": "b-sub", "cidr": "10.88.0.0/24"},
                                 allocation_pool={"start": "10.88.0.10", "end": "10.88.0.20"}),
                  **provider_kwargs(emu))
    ra, _ = a.init()
    rb, _ = b.init()
    a.destroy()
    assert b.is_created() and not a.is_created()
    assert [s.name for s in emu.connection().compute.servers()] == ["b-1"]
    b.destroy()
    assert leaks(emu) == {}


def test_shrinking_the_configuration_deletes_the_extra_servers(emu):
    Openstack(openstack_conf(servers=3, clients=0), **provider_kwargs(emu)).init()
    roles, _ = Openstack(openstack_conf(servers=1, clients=0), **provider_kwargs(emu)).init()
    assert [h.alias for h in roles.all()] == ["exp-1"]
    assert sorted(s.name for s in emu.connection().compute.servers()) == ["exp-1"]


def test_context_manager_releases_on_error(emu):
    provider = Openstack(openstack_conf(), **provider_kwargs(emu))
    with pytest.raises(RuntimeError):
        with provider as (roles, _):
            assert len(roles.all()) == 3
            raise RuntimeError("experiment failed")
    assert leaks(emu) == {}


def test_without_gateway_hosts_are_reached_directly(emu):
    provider = Openstack(openstack_conf(gateway=False), **provider_kwargs(emu))
    roles, _ = provider.init()
    assert all("gateway" not in h.extra for h in roles.all()) and provider.gateway_ip is None
    assert emu.inventory()["floating_ips"] == 0
    provider.destroy()


def test_existing_network_only_when_configure_network_is_off(emu):
    with pytest.raises(EnosProviderError, match=r"no network 'enos-network'.*configure_network"):
        Openstack(openstack_conf(configure_network=False), **provider_kwargs(emu)).init()
    assert leaks(emu) == {}
