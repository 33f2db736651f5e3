"""Vnodes as real SSH hosts (the Distem emulator's netns guests, root only): reachable at the
addresses Distem assigned, run_command on them, and on them through the distem client."""

from __future__ import annotations

import distem
import pytest
from g5k_helpers import active_jobs, make_client

from enoslib.config import config_context
from enoslib.emulators.kit import netns_available
from enoslib.infra.enos_distem import Distem, DistemConf

available, why = netns_available()
pytestmark = [pytest.mark.root, pytest.mark.skipif(not available, reason=f"no netns backend: {why}")]


def test_vnodes_answer_over_ssh(emu, key, tmp_path):
    from enoslib.api.commands import run_command
    from enoslib.emulators.distem import DistemEmulator

    with DistemEmulator(backend="netns") as coordinator:
        conf = (DistemConf.from_settings(job_name="ssh", key=key, ssh_jump="never")
                .add_machine(roles=["a"], cluster="paravance", number=2)
                .add_machine(roles=["b"], cluster="paravance", number=1, flavour="medium"))
        provider = Distem(conf, client=make_client(emu), coordinator=("127.0.0.1", coordinator.port))
        roles, networks = provider.init()
        hosts = [*roles["a"], *roles["b"]]
        ssh_config = tmp_path / "ssh_config"
        ssh_config.write_text(coordinator.guests.ssh_config([([h.address], h.address) for h in hosts]))
        with config_context(ssh_config_file=str(ssh_config)):
            results = run_command("hostname; id -u; ip -4 -o addr show", roles=roles)
        by_host = {r.host: r.stdout.split("\n") for r in results}
        for h in hosts:
            name, uid, *addrs = by_host.get(h.alias) or by_host[h.address]
            assert (name, uid) == (h.alias, "0") and any(f" {h.address}/" in a for a in addrs)
        # the same through Distem's own command API
        api = distem.Distem(serveraddr="127.0.0.1", port=coordinator.port)
        assert api.vnode_execute("vnode-1-0", "hostname").strip() == "vnode-1-0"
        provider.destroy()
        assert active_jobs(emu) == [] and coordinator.state()["vnodes"] == {}
        assert coordinator.guests.hosts.names == []
