"""With real SSH nodes (the emulator's netns backend, root only): deploy into a vlan, wait for
SSH on the nodes' vlan names, check deployments over SSH on reload, run commands as root."""

from __future__ import annotations

import pytest
from g5k_helpers import active_jobs, following_ssh_config, make_client

from enoslib.emulators.g5k import G5kEmulator, legacy_dataset
from enoslib.emulators.g5k.backend import namespace_backend_available
from enoslib.infra.enos_g5k import G5k, G5kConf

available, why = namespace_backend_available()
pytestmark = [pytest.mark.root, pytest.mark.skipif(not available, reason=f"no netns backend: {why}")]


@pytest.fixture
def ssh_emu(tmp_path):
    """An emulator with real nodes, and an ssh_config that follows them (names move with vlans)."""
    with G5kEmulator(legacy_dataset(4), speed=0, backend="netns", nodes_per_cluster=4) as emu, \
            following_ssh_config(emu, tmp_path / "ssh_config"):
        yield emu


def test_deploy_in_a_vlan_then_ssh_as_root(ssh_emu, tmp_path):
    from enoslib.api.commands import run_command

    key = tmp_path / "id.pub"
    key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0xkQ test\n")
    conf = (G5kConf.from_settings(job_name="ssh", job_type=["deploy"], env_name="debian12-min", key=str(key),
                                  dhcp=False, ssh_jump="never", check_deployed_command="test -d /root")
            .add_network(id="v", type="kavlan", roles=["exp"], site="rennes")
            .add_machine(roles=["a"], cluster="paravance", nodes=2, primary_network="v"))
    provider = G5k(conf, client=make_client(ssh_emu))
    roles, networks = provider.init()  # wait_ssh: the nodes answered on their vlan names
    vid = provider.networks[0].vlan_id
    results = run_command("hostname; id -u", roles=roles)
    assert [r.stdout.split() for r in results] == [[f"paravance-{i}.rennes.grid5000.fr", "0"] for i in (1, 2)]
    assert all(h.address == f"paravance-{i}-kavlan-{vid}.rennes.grid5000.fr" for i, h in enumerate(roles["a"], 1))
    addresses = run_command("ip -4 -o addr show eth0", roles=roles)
    assert all(any(word.split("/")[0] in networks["exp"][0] for word in r.stdout.split()) for r in addresses)
    again = G5k(conf, client=make_client(ssh_emu))
    again.init()  # the API says deployed, the SSH check agrees: no second deployment
    assert len(make_client(ssh_emu).items("/sites/rennes/deployments")) == 1
    again.destroy()
    assert active_jobs(ssh_emu) == []
