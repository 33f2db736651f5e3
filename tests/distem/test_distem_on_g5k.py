"""Distem on the Grid'5000 emulator's real nodes (netns backend, root only), end to end: the
provider deploys the nodes, runs distem-bootstrap on the coordinator over SSH (answered through
the node-command channel), reaches the REST API on the coordinator's port 4567 over an SSH
forward, and gets vnodes that are guests of their pnodes on the site's subnet."""

from __future__ import annotations

import pytest
from g5k_helpers import active_jobs, following_ssh_config, make_client

from enoslib.emulators.g5k.backend import namespace_backend_available
from enoslib.infra.enos_distem import Distem, DistemConf

available, why = namespace_backend_available()
pytestmark = [pytest.mark.root, pytest.mark.skipif(not available, reason=f"no netns backend: {why}")]


@pytest.fixture
def g5k_distem(tmp_path):
    """A G5k emulator with real nodes, distem-bootstrap installed, and an ssh_config following it."""
    from enoslib.emulators.distem.on_g5k import attach
    from enoslib.emulators.g5k import G5kEmulator, legacy_dataset

    with G5kEmulator(legacy_dataset(4), speed=0, backend="netns", nodes_per_cluster=4) as emu, \
            following_ssh_config(emu, tmp_path / "ssh_config"):
        distem = attach(emu)
        try:
            yield emu, distem
        finally:
            distem.close()


def test_end_to_end_on_emulated_nodes(g5k_distem, key):
    from enoslib.api.commands import run_command

    emu, distem = g5k_distem
    conf = (DistemConf.from_settings(job_name="e2e", key=key, ssh_jump="never")
            .add_machine(roles=["server"], cluster="paravance", number=2, flavour="large")
            .add_machine(roles=["client"], cluster="paravance", number=1))
    provider = Distem(conf, client=make_client(emu))
    roles, networks = provider.init()
    coordinator = provider.coordinator_host.extra["g5k_fqdn"]
    assert distem.running() == [coordinator]
    guests = {g.name: g for g in emu.guests.list(kind="distem-vnode")}
    assert sorted(guests) == ["vnode-0-0", "vnode-0-1", "vnode-1-0"]
    results = run_command("hostname", roles=roles)
    assert sorted(r.stdout.strip() for r in results) == sorted(guests)
    assert {guests[h.alias].ip for h in roles["server"]} == {h.address for h in roles["server"]}
    # reload by name: the coordinator answers, nothing is created again
    again = Distem(conf, client=make_client(emu))
    roles2, _ = again.init()
    assert [h.address for h in roles2["client"]] == [h.address for h in roles["client"]]
    assert again.requests < 12
    provider.destroy()
    again.destroy()
    assert active_jobs(emu) == [] and emu.guests.list() == []
