"""Servers as real SSH hosts (network namespaces): commands run through the gateway's
floating IP, reload, destroy removes the hosts."""

from __future__ import annotations

import subprocess

import pytest

from enoslib.infra.enos_openstack import Openstack

from os_helpers import leaks, openstack_conf, provider_kwargs

pytestmark = pytest.mark.root


@pytest.fixture
def netns_cloud(tmp_path):
    from enoslib.config import config_context
    from enoslib.emulators.openstack import OpenstackEmulator

    with OpenstackEmulator(speed=0, backend="netns") as emu:
        path = tmp_path / "ssh_config"
        emu.ssh_config(path)
        with config_context(ssh_config_file=str(path)):
            yield emu


def test_commands_run_through_the_gateway(netns_cloud):
    import enoslib as en

    emu = netns_cloud
    conf = openstack_conf(servers=2, clients=1)
    provider = Openstack(conf, **provider_kwargs(emu, wait_ssh=True, public_key=emu.public_key()))
    roles, _ = provider.init()
    results = en.run_command("hostname; ip -4 -o addr show dev eth0", roles=roles)
    by_host = {r.host: r.stdout for r in results}
    for host in roles.all():
        assert host.alias in by_host[host.alias] and host.address in by_host[host.alias]
    # the floating IP is the first server's own address: ssh lands on it
    gateway = roles["server"][0]
    assert provider.gateway_ip in by_host[gateway.alias]
    # the servers are reached through the gateway: the ssh command line says so
    from enoslib.api.ssh import connection

    assert "ProxyCommand" in " ".join(connection(roles["client"][0]).options)
    again, _ = Openstack(conf, **provider_kwargs(emu, wait_ssh=True)).init()
    assert [h.address for h in again.all()] == [h.address for h in roles.all()]
    en.run_command("true", roles=again)
    provider.destroy()
    assert leaks(emu) == {}
    assert emu.cloud.backend.lab.nodes == {}
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
    assert provider.gateway_ip is None and "172.24.4." not in routes
