"""LoopbackLab: sshd of the current user on 127.0.0.1; also run as a non-root user."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import textwrap
from pathlib import Path

import pytest

from enoslib.nodes import LabError, LoopbackLab

# sshd on 127.0.0.1 (no namespace, but not for a shared machine either)
pytestmark = pytest.mark.root

RUN = os.getpid() % 10000
REPO = Path(__file__).resolve().parents[2]
TEST_USER = "enostest"


def ssh(lab: LoopbackLab, node: str, command: str) -> subprocess.CompletedProcess[str]:
    info = lab.nodes[node]
    return subprocess.run(
        ["ssh", *lab.ssh_options(), "-p", str(info.port), f"{info.user}@{info.address}", command],
        capture_output=True, text=True, timeout=30, check=False)


def pgrep(pattern: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True, check=False).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def lab():
    with LoopbackLab(f"tl{RUN}") as lab:
        lab.add_bridge("net1", "10.200.0.0/24")
        lab.add_nodes(["h1", "h2", "h3"])
        yield lab


def test_nodes_are_local_sshd(lab: LoopbackLab) -> None:
    nodes = lab.nodes
    assert list(nodes) == ["h1", "h2", "h3"]
    assert {n.address for n in nodes.values()} == {"127.0.0.1"}
    assert len({n.port for n in nodes.values()}) == 3
    assert {n.user for n in nodes.values()} == {pwd.getpwuid(os.geteuid()).pw_name}
    assert nodes["h2"].interfaces["net1"]["address"] == "10.200.0.3/24"  # address-only network
    assert nodes["h1"].netns is None
    assert lab.bridges["net1"].ifname is None and lab.bridges["net1"].gateway == "10.200.0.1"
    lab.wait_ssh(timeout=5)


def test_ssh_hostname_and_private_dirs(lab: LoopbackLab) -> None:
    if lab.isolation == "none":
        pytest.skip("no mount namespaces available to this user")
    for name in lab.nodes:
        cp = ssh(lab, name, "hostname; cat ~/.bashrc")
        assert cp.returncode == 0, cp.stderr
        assert cp.stdout.splitlines()[0] == name
        assert "pyenv" not in cp.stdout
    marker = f"lb-{RUN}"
    assert ssh(lab, "h1", f"touch /tmp/{marker} ~/{marker}").returncode == 0
    assert ssh(lab, "h2", f"ls /tmp/{marker} ~/{marker}").returncode != 0
    assert not Path(f"/tmp/{marker}").exists()
    assert lab.exec("h1", ["ls", f"/tmp/{marker}"]).returncode == 0
    assert lab.exec("h3", ["hostname"], check=True).stdout == "h3\n"


def test_move_interface_needs_root(lab: LoopbackLab) -> None:
    lab.add_bridge("net2", "10.200.1.0/24")
    with pytest.raises(LabError, match="root"):
        lab.move_interface("h1", "net1", "net2")
    assert lab.nodes["h1"].interfaces["net1"]["address"] == "10.200.0.2/24"


def test_reset_node_kills_and_wipes(lab: LoopbackLab) -> None:
    isolated = lab.isolation != "none"  # without it /tmp is the machine's: leave it alone
    daemon = f"sleep {3000 + RUN}"
    command = ("touch /tmp/junk; " if isolated else "") + f"({daemon} >/dev/null 2>&1 &)"
    assert ssh(lab, "h2", command).returncode == 0
    assert pgrep(daemon)
    old = lab.nodes["h2"]
    info = lab.reset_node("h2")
    assert info.pid != old.pid and info.port == old.port
    assert not pgrep(daemon)
    if isolated:
        assert ssh(lab, "h2", "ls -A /tmp").stdout == ""


def test_load_reattaches(lab: LoopbackLab) -> None:
    again = LoopbackLab.load(lab.name)
    assert again is not None and again.nodes == lab.nodes
    with pytest.raises(LabError, match="already exists"):
        LoopbackLab(lab.name)


def test_destroy_leaves_nothing() -> None:
    lab = LoopbackLab(f"ld{RUN}")
    lab.add_nodes(["a", "b"])
    ports = [n.port for n in lab.nodes.values()]
    daemon = f"sleep {4000 + RUN}"
    ssh(lab, "a", f"({daemon} >/dev/null 2>&1 &)")
    assert pgrep(str(lab.state_dir)) and pgrep(daemon)
    lab.destroy()
    assert pgrep(str(lab.state_dir)) == [] and pgrep(daemon) == []
    assert not any(port_open(p) for p in ports)
    assert not lab.state_dir.exists()
    assert LoopbackLab.leftovers(lab.name) == []


class InterruptedLab(LoopbackLab):
    def _launch(self, rec):
        if rec["name"] == "n2":
            raise KeyboardInterrupt
        return super()._launch(rec)


def test_keyboard_interrupt_in_add_nodes_leaves_nothing() -> None:
    with pytest.raises(KeyboardInterrupt), InterruptedLab(f"lk{RUN}") as lab:
        lab.add_nodes(["n0", "n1", "n2", "n3"])
    assert pgrep(str(lab.state_dir)) == []
    assert not lab.state_dir.exists()
    assert LoopbackLab.leftovers(lab.name) == []


def test_cleanup_all_without_state_file() -> None:
    lab = LoopbackLab(f"lc{RUN}")
    lab.add_nodes(["a"])
    state_dir = lab.state_dir
    (state_dir / "state.json").unlink()
    assert LoopbackLab.load(lab.name) is None
    assert LoopbackLab.cleanup_all(f"lc{RUN}") == [f"lc{RUN}"]
    assert pgrep(str(state_dir)) == [] and not state_dir.exists()


UNPRIVILEGED_SCRIPT = textwrap.dedent("""
    import json, os, subprocess
    from enoslib.nodes import LoopbackLab, lab_for_current_user
    out = {}
    with lab_for_current_user("lu{run}") as lab:
        out["class"] = type(lab).__name__
        out["isolation"] = lab.isolation
        lab.add_bridge("n", "10.201.0.0/24")
        nodes = lab.add_nodes(["u1", "u2"])
        out["user"] = nodes[0].user
        out["hostnames"] = [
            subprocess.run(
                ["ssh", *lab.ssh_options(), "-p", str(n.port), f"{n.user}@{n.address}",
                 "hostname; ls -A ~"],
                capture_output=True, text=True, timeout=30, check=False).stdout.split()
            for n in nodes
        ]
        out["exec"] = lab.exec("u2", ["id", "-un"], check=True).stdout.strip()
        state_dir = str(lab.state_dir)
    out["leftovers"] = LoopbackLab.leftovers("lu{run}")
    out["state_dir_exists"] = os.path.exists(state_dir)
    print(json.dumps(out))
""")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to a test user")
def test_as_unprivileged_user() -> None:
    """The non-root path for real: a plain user, its own sshd, a user namespace."""
    python = shutil.which("python3", path="/usr/bin:/bin")
    if not (python and shutil.which("runuser") and shutil.which("useradd")):
        pytest.skip("needs /usr/bin/python3, runuser and useradd")
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        if subprocess.run(["useradd", "-m", TEST_USER], capture_output=True, check=False).returncode != 0:
            pytest.skip(f"cannot create user {TEST_USER}")
    can_read = subprocess.run(
        ["runuser", "-u", TEST_USER, "--", "test", "-r", str(REPO / "enoslib/nodes/__init__.py")], check=False)
    if can_read.returncode != 0:
        pytest.skip(f"{TEST_USER} cannot read {REPO}")
    cp = subprocess.run(
        ["runuser", "-u", TEST_USER, "--", "env", f"PYTHONPATH={REPO}", python, "-c",
         UNPRIVILEGED_SCRIPT.replace("{run}", str(RUN))],
        capture_output=True, text=True, timeout=60, cwd="/", check=False)
    assert cp.returncode == 0, cp.stderr
    out = json.loads(cp.stdout.strip().splitlines()[-1])
    assert out["class"] == "LoopbackLab" and out["user"] == TEST_USER
    assert out["exec"] == TEST_USER
    assert out["leftovers"] == [] and not out["state_dir_exists"]
    if out["isolation"] == "userns":
        assert [h[0] for h in out["hostnames"]] == ["u1", "u2"]
        assert out["hostnames"][0][1:] == [".bashrc", ".profile", ".ssh"]
    else:
        assert out["isolation"] == "none"
        assert all(h for h in out["hostnames"])
