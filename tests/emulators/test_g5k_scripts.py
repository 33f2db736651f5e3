"""Grid'5000 experiment scripts written for the real testbed run unchanged on the emulator.

The scripts in ``g5k_scripts/`` are plain EnOSlib experiments (reserve real clusters,
deploy, KaVLAN, reload, run commands over SSH, release). Each runs in a fresh process
whose only Grid'5000 setup is what a user has on a laptop: ``~/.python-grid5000.yaml``
pointing at the emulator and ``~/.ssh/config`` from ``emu.ssh_config()`` (the emulated
``access.grid5000.fr`` gateway). The API login is a regular account (``alice``), a Unix user of
the gateways, frontends and nodes as on the testbed. Nodes are real SSH hosts (netns backend); the library
jumps through the gateway as from outside Grid'5000 (the script's ``/root/.ssh`` is that
laptop's ``~/.ssh``, in a private mount namespace). Run with our enoslib and with
EnOSlib 10.x (``$REFERENCE_ENOSLIB_VENV``, made by scripts/test.sh). A ``sitecustomize``
turns the library's ``time.sleep`` into clock advances of the emulator (harness only).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

grid5000 = pytest.importorskip("grid5000")

from enoslib.emulators.g5k import G5kEmulator
from enoslib.emulators.g5k.backend import namespace_backend_available

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).with_name("g5k_scripts")
REFERENCE = Path(os.environ.get("REFERENCE_ENOSLIB_VENV") or REPO / ".venv-enoslib")
usable, why = namespace_backend_available()

SITECUSTOMIZE = r"""
import base64, json, os, time, urllib.request
_TOKEN = base64.b64encode(os.environ["EMU_ADMIN_AUTH"].encode()).decode()
def _sleep(seconds):
    req = urllib.request.Request(os.environ["EMU_ADMIN"] + "/clock", method="POST",
                                 data=json.dumps({"advance": max(0.0, seconds)}).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": "Basic " + _TOKEN})
    urllib.request.urlopen(req, timeout=30).read()
time.sleep = _sleep
"""

LIBRARIES = {
    "ours": (Path(sys.executable), str(REPO)),
    "enoslib10": (REFERENCE / "bin" / "python", None),
}

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(not usable, reason=f"netns backend: {why}"),
]


def run_script(emu, script: str, library: str, tmp_path: Path) -> str:
    python, path = LIBRARIES[library]
    if not python.exists():
        pytest.skip(f"no {library} interpreter at {python}")
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(home / ".ssh" / "id_rsa")],
        check=True,
    )
    emu.write_client_config(home / ".python-grid5000.yaml")
    (home / ".ssh" / "config").write_text(emu.ssh_config())
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join(p for p in (str(site), path) if p),
        "EMU_ADMIN": emu.admin_url,
        "EMU_ADMIN_AUTH": ":".join(emu.admin_auth),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
    }
    # ssh reads the passwd home's ~/.ssh, not $HOME's: the script gets a private mount
    # namespace where /root/.ssh is the laptop's ~/.ssh above (the machine's is untouched)
    wrapper = 'mkdir -p /root/.ssh && mount --bind "$HOME/.ssh" /root/.ssh && exec "$@"'
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", wrapper, "sh",
         str(python), str(SCRIPTS / script)],
        env=env, cwd=str(home), capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == 0, f"{library} {script}:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    assert not emu._server.errors and not emu.backend_errors
    return proc.stdout


@pytest.fixture()
def emu():
    # a login as on the testbed: a Unix account on the gateways, frontends and nodes
    with G5kEmulator(["rennes"], speed=0, backend="netns", nodes_per_cluster=4,
                     users={"alice": "dry-run"}, deploy_duration=60) as e:
        yield e


def lines(out: str, tag: str) -> str:
    return next(x for x in out.splitlines() if x.startswith(tag + " "))[len(tag) + 1 :]


@pytest.mark.parametrize("library", ["ours", "enoslib10"])
def test_basic_reservation(emu, library, tmp_path):
    out = run_script(emu, "basic.py", library, tmp_path)
    assert lines(out, "HOSTS") == str(["paradoxe-1.rennes.grid5000.fr", "parasilo-1.rennes.grid5000.fr"])
    emu.advance(5)
    assert [j.state for j in emu.jobs()] == ["error"]  # released


@pytest.mark.parametrize("library", ["ours", "enoslib10"])
def test_deploy_in_kavlan_and_reload(emu, library, tmp_path):
    out = run_script(emu, "deploy_kavlan.py", library, tmp_path)
    assert lines(out, "RELEASE").count("debian12-x64-min-") == 2
    deployments = len(emu.client().sites["rennes"].deployments.list())
    if library == "ours":
        # the reload found the environment in place: one deployment only
        assert deployments == 1
    else:
        # EnOSlib 10.9's reload reads /etc/grid5000/release over SSH at the node's production
        # name (parasilo-1.rennes.grid5000.fr), before it knows about the vlan; with the node in
        # a routed KaVLAN that address is gone (on the testbed too: the name still resolves, to
        # an address nobody answers), so it concludes "Environment deployment missing" and
        # redeploys: one deployment per init() of the script (first run and two reloads). On
        # the production network it reuses the deployment (test_tunnel_to_a_web_service_...).
        assert deployments == 3


@pytest.mark.parametrize("library", ["ours", "enoslib10"])
def test_global_vlan_subnet_and_firewall(emu, library, tmp_path):
    out = run_script(emu, "global_subnet_firewall.py", library, tmp_path)
    host, in_global = lines(out, "ADDR").split()
    assert host == "parasilo-1.rennes.grid5000.fr" and in_global == "True"  # rennes' global vlan 16
    assert lines(out, "SUBNET").startswith("10.")


@pytest.mark.parametrize("library", ["ours", "enoslib10"])
def test_tunnel_to_a_web_service_after_reload(emu, library, tmp_path):
    out = run_script(emu, "tunnel.py", library, tmp_path)
    assert lines(out, "LOCAL") == "127.0.0.1"
    assert lines(out, "PAGE") == "paradoxe-1.rennes.grid5000.fr"  # served by the node itself
    # the reload found the environment in place (production network): no second deployment
    assert len(emu.client().sites["rennes"].deployments.list()) == 1


@pytest.mark.parametrize("library", ["ours", "enoslib10"])
def test_home_and_sudo_g5k_as_a_regular_user(emu, library, tmp_path):
    out = run_script(emu, "home_sudo.py", library, tmp_path)
    user, uid, data, root = lines(out, "NODE").split(" | ")
    assert (user, data, root) == ("alice", "input data", "root")
    assert lines(out, "ROOT") == "root"  # the library granted itself root with sudo-g5k
    f_uid, size, host = lines(out, "FRONTEND").split(" | ")
    # the node wrote in the same home the frontend reads, as the same uid
    assert (f_uid, size, host) == (uid, "11", "frontend.rennes.grid5000.fr")


@pytest.mark.parametrize("library", ["ours", "enoslib10"])
def test_kavlan_secondary_nic_by_dhcp(emu, library, tmp_path):
    out = run_script(emu, "kavlan_dhcp.py", library, tmp_path)
    site = emu.client().sites["rennes"]
    rows = [line.split()[1:] for line in out.splitlines() if line.startswith("DHCP ")]
    assert len(rows) == 2, out
    vlan = next(j for j in emu.jobs() if j.alloc and j.alloc.vlans).alloc.vlans[0]
    for host, first, renewed, in_vlan in rows:
        node = site.clusters["parasilo"].nodes[host.split(".")[0].split("-kavlan")[0]]
        wanted = f"{node.kavlan['eth1'][f'kavlan-{vlan}']}/18"  # the API's address for eno2
        assert (first, renewed, in_vlan) == (wanted, wanted, "True"), (host, first, renewed)
    assert emu.backend.dhcp.answered >= 8  # 2 nodes x 2 leases x (OFFER + ACK)
