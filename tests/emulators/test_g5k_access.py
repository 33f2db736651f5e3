"""Real SSH side of the Grid'5000 emulator on real data: gateways, deployed images, side-by-side
instances, the API logins as Unix accounts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

grid5000 = pytest.importorskip("grid5000")

from enoslib.emulators.g5k import G5kEmulator
from enoslib.emulators.g5k.backend import namespace_backend_available

usable, why = namespace_backend_available()
pytestmark = [pytest.mark.root, pytest.mark.skipif(not usable, reason=f"netns backend: {why}")]


def ssh(config, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ssh", "-F", str(config), *args], capture_output=True, text=True, timeout=60, check=False
    )


def running_job(emu, site: str, resources: str):
    job = emu.client().sites[site].jobs.create(
        {"resources": resources, "command": "sleep 3600", "types": ["deploy"]}
    )
    emu.advance(5)
    job.refresh()
    assert job.state == "running" and not emu.backend_errors, (job.state, emu.backend_errors)
    return job


def test_gateway_jump_and_deployed_image_on_real_nodes(tmp_path):
    with G5kEmulator(["rennes"], speed=0, backend="netns", nodes_per_cluster=2, deploy_duration=10) as emu:
        job = running_job(emu, "rennes", "{cluster='parasilo'}/nodes=1")
        node = job.assigned_nodes[0]
        config = tmp_path / "ssh_config"
        emu.ssh_config(config)
        # from outside, as EnOSlib does: through access.grid5000.fr; frontends answer too
        out = ssh(config, "-J", "access.grid5000.fr", node, "hostname; ip -4 -o addr show dev eno1")  # the reference NIC name
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines()[0] == node and "172.16.97.1/" in out.stdout
        assert ssh(config, "rennes.grid5000.fr", "true").returncode == 0
        assert ssh(config, "kavlan-1.rennes.grid5000.fr", "true").returncode == 0
        # names not in the config resolve on the gateway, as the testbed's DNS does
        bare = tmp_path / "gateways_only"
        bare.write_text(emu.backend.gateway_config() + emu.backend.fallback_config())
        out = ssh(bare, node, "hostname")
        assert out.returncode == 0 and out.stdout.strip() == node, out.stderr

        key = tmp_path / "user_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        dep = emu.client().sites["rennes"].deployments.create(
            {"nodes": [node], "environment": "almalinux9-min", "key": Path(f"{key}.pub").read_text()}
        )
        emu.advance(15)
        dep.refresh()
        assert dep.status == "terminated" and not emu.backend_errors
        out = ssh(config, node, "cat /etc/grid5000/release; . /etc/os-release; echo $ID $VERSION_ID")
        assert out.returncode == 0, out.stderr
        release, os_line = out.stdout.splitlines()
        assert release.startswith("almalinux9-x64-min-") and os_line == "almalinux 9.5"
        assert not Path("/etc/grid5000/release").exists()  # the machine's /etc is untouched
        # the key given to kadeploy opens root on the deployed node
        mine = ssh(config, "-o", "IdentitiesOnly=yes", "-i", str(key), node, "whoami")
        assert mine.stdout.strip() == "root", mine.stderr


def test_two_netns_emulators_side_by_side(tmp_path):
    with G5kEmulator(["rennes"], speed=0, backend="netns", nodes_per_cluster=1) as a, \
            G5kEmulator(["rennes"], speed=0, backend="netns", nodes_per_cluster=1) as b:
        ja = running_job(a, "rennes", "{cluster='paradoxe'}/nodes=1")
        jb = running_job(b, "rennes", "{cluster='paradoxe'}/nodes=1")
        node = ja.assigned_nodes[0]
        assert jb.assigned_nodes == [node]  # same name, same API address...
        assert {a.backend.instance, b.backend.instance} == {0, 1}
        addresses = {a.node_address(node), b.node_address(node)}
        assert len(addresses) == 2  # ...but each instance has its own range
        for emu in (a, b):
            config = tmp_path / f"ssh_config{emu.backend.instance}"
            emu.ssh_config(config)
            out = ssh(config, node, "ip -4 -o addr show dev ens10f0np0")
            assert out.returncode == 0 and f"{emu.node_address(node)}/" in out.stdout, out.stderr


def test_execo_remote_on_frontends_by_site_name(tmp_path):
    """execo_g5k's tutorial: ``Remote(cmd, sites, connection_params=default_frontend_connection_params)``."""
    from enoslib.execo import Remote
    from enoslib.g5k import default_frontend_connection_params

    with G5kEmulator(["rennes", "lyon"], speed=0, backend="netns", nodes_per_cluster=1) as emu:
        config = tmp_path / "ssh_config"
        emu.ssh_config(config)
        params = dict(default_frontend_connection_params, ssh_options=("-F", str(config)))
        remote = Remote("echo on {{{host}}}", ["rennes", "lyon"], connection_params=params).run()
        assert remote.ok, [p.stderr for p in remote.processes]
        # the processes keep the hosts as given ("rennes" is no host name the SSH
        # configuration knows: the rewrite to frontend.rennes.grid5000.fr reached it)
        by_site = {p.host.address: p.stdout.split()[0] for p in remote.processes}
        assert by_site == {"rennes": "on", "lyon": "on"}


def run(config, *args: str) -> str:
    out = ssh(config, *args)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


# -- the API logins as Unix accounts on gateways and nodes -----------------------------------
def test_accounts_homes_sudo_g5k_and_deployed_environments(tmp_path):
    with G5kEmulator(["rennes", "nancy"], speed=0, backend="netns", nodes_per_cluster=1,
                     users={"alice": "a", "bob": "b"}, deploy_duration=10) as emu:
        config = tmp_path / "ssh_config"
        emu.ssh_config(config)
        # the first login is the gateways' user; a key registered for the account opens them
        key = tmp_path / "laptop"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        emu.add_ssh_key(Path(f"{key}.pub").read_text())
        mine = ["-o", "IdentitiesOnly=yes", "-i", str(key)]
        uid = run(config, *mine, "access.grid5000.fr", "id -un; id -u; id -gn; echo $HOME")
        login, number, group, home = uid.splitlines()
        assert (login, group, home) == ("alice", "g5k-users", "/home/alice") and int(number) >= 1000
        # a site's home is shared by its frontend and nodes, not by the other sites or access
        run(config, "rennes.grid5000.fr", "echo rennes-data > ~/data")
        assert run(config, "nancy.grid5000.fr", "ls ~") == ""
        assert run(config, "access.grid5000.fr", "ls ~") == ""
        job = emu.client().sites["rennes"].jobs.create(
            {"resources": "{cluster='parasilo'}/nodes=1", "command": "sleep 3600", "types": ["deploy"]}
        )
        emu.advance(5)
        node = emu.client().sites["rennes"].jobs[job.uid].assigned_nodes[0]
        emu.ssh_config(config)
        as_alice = ["-l", "alice", "-J", "access.grid5000.fr", node]
        assert run(config, *as_alice, "id -u; cat ~/data; sudo-g5k id -un").splitlines() == [
            number, "rennes-data", "root"
        ]
        # from the frontend, the account's own key pair (in the shared home) opens the node
        hop = "ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
        assert run(config, "rennes.grid5000.fr", f"{hop} {node} id -un") == "alice"
        # bob has an account but the job is alice's: no sudo-g5k for him
        out = ssh(config, "-l", "bob", "-J", "access.grid5000.fr", node, "sudo-g5k id -un")
        assert out.returncode != 0 and "root" not in out.stdout
        # a -min environment knows root only; a -nfs one has the accounts and the home again
        for env, alice_there in (("debian12-min", False), ("debian12-nfs", True)):
            dep = emu.client().sites["rennes"].deployments.create(
                {"nodes": [node], "environment": env}
            )
            emu.advance(15)
            dep.refresh()
            assert dep.status == "terminated" and not emu.backend_errors, emu.backend_errors
            seen = run(config, node, "id -un alice 2>/dev/null || echo none; ls /home")
            assert seen.splitlines() == (["alice", "alice", "bob"] if alice_there else ["none"])
        accounts = emu.backend.accounts.root
        assert accounts.exists()
    # nothing left: homes, keys and the machine's own accounts untouched
    assert not accounts.exists()
    assert "alice" not in Path("/etc/passwd").read_text()


def test_root_login_keeps_root_gateways(tmp_path):
    stale = Path("/run/enoslib-g5k-emulator/accounts-killed-emulator")  # its process died
    (stale / "homes").mkdir(parents=True, exist_ok=True)
    (stale / ".alive").touch()
    with G5kEmulator(["rennes"], speed=0, backend="netns", nodes_per_cluster=1,
                     users={"root": "r"}) as emu:
        assert not stale.exists()  # swept by the next emulator
        assert emu.backend.accounts is None
        config = tmp_path / "ssh_config"
        emu.ssh_config(config)
        assert run(config, "rennes.grid5000.fr", "id -un") == "root"
    # a login that cannot be a Unix account: refused, nothing left running
    with pytest.raises(ValueError, match="not a valid Unix login"):
        G5kEmulator(["rennes"], backend="netns", users={"Bad Login": "x"}).start()
