"""API logins as Unix accounts on the Grid'5000 emulator's gateways and nodes (netns backend)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

grid5000 = pytest.importorskip("grid5000")

from enoslib.emulators.g5k import G5kEmulator
from enoslib.emulators.g5k.__main__ import main
from enoslib.emulators.g5k.backend import namespace_backend_available

usable, why = namespace_backend_available()
netns = [pytest.mark.root, pytest.mark.skipif(not usable, reason=f"netns backend: {why}")]


def ssh(config, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ssh", "-F", str(config), *args], capture_output=True, text=True, timeout=60, check=False
    )


def run(config, *args: str) -> str:
    out = ssh(config, *args)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.root
@pytest.mark.skipif(not usable, reason=f"netns backend: {why}")
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


@pytest.mark.root
@pytest.mark.skipif(not usable, reason=f"netns backend: {why}")
def test_root_login_keeps_root_gateways(tmp_path):
    with G5kEmulator(["rennes"], speed=0, backend="netns", nodes_per_cluster=1,
                     users={"root": "r"}) as emu:
        assert emu.backend.accounts is None
        config = tmp_path / "ssh_config"
        emu.ssh_config(config)
        assert run(config, "rennes.grid5000.fr", "id -un") == "root"
    # a login that cannot be a Unix account: refused, nothing left running
    with pytest.raises(ValueError, match="not a valid Unix login"):
        G5kEmulator(["rennes"], backend="netns", users={"Bad Login": "x"}).start()


def test_bad_ssh_key_is_refused_before_serving(tmp_path, capsys):
    missing = tmp_path / "nope.pub"
    assert main(["--backend", "address", "--ssh-key", str(missing)]) == 2
    assert f"--ssh-key {missing}" in capsys.readouterr().err
    junk = tmp_path / "junk.pub"
    junk.write_text("hello")
    assert main(["--backend", "address", "--ssh-key", str(junk)]) == 2
    assert "not an OpenSSH public key" in capsys.readouterr().err
