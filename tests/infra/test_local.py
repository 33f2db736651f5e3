"""The Local provider on real namespaces (root only)."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import enoslib as en
from enoslib.errors import EnosConfigError
from enoslib.nodes import NamespaceLab

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="namespaces need root")


def conf(name, clients=2):
    return (
        en.LocalConf.from_settings(name=name)
        .add_network(id="n1", roles=["lan"], cidr="10.71.0.0/24")
        .add_network(id="n2", roles=["data"], cidr="10.72.0.0/24")
        .add_machine(roles=["server"], number=1)
        .add_machine(roles=["client"], number=clients, networks=["n1"])
    )


@pytest.mark.root
def test_roles_networks_and_real_ssh():
    with en.Local(conf("loc-a")) as (roles, networks):
        assert [h.alias for h in roles["server"]] == ["server-1"]
        assert [h.alias for h in roles["client"]] == ["client-1", "client-2"]
        assert [n.cidr for n in networks["lan"]] == ["10.71.0.0/24"]
        server = roles["server"][0]
        assert sorted(d.name for d in server.net_devices) == ["eth0", "eth1"]
        assert server.filter_addresses(networks["data"])[0].startswith("10.72.0.")
        out = en.run_command("hostname", roles=roles)
        assert sorted(r.stdout for r in out) == ["client-1", "client-2", "server-1"]
        # hosts reach each other on both networks
        peer = roles["server"][0].filter_addresses(networks["lan"])[0].split("/")[0]
        en.run_command(f"ping -c1 -W2 {peer}", roles=roles["client"])
    assert NamespaceLab.leftovers("loc-a") == []


@pytest.mark.root
def test_rerun_reuses_hosts_and_shape_change_recreates():
    first = en.Local(conf("loc-b"))
    try:
        roles, _ = first.init()
        en.run_command("touch /root/marker", roles=roles)
        # a second run of the same script: same hosts, same files
        again = en.Local(conf("loc-b"))
        roles2, _ = again.init()
        assert [h.address for h in roles2.all()] == [h.address for h in roles.all()]
        en.run_command("test -f /root/marker", roles=roles2)
        assert again.is_created()
        # a different shape under the same name: recreated cleanly
        bigger = en.Local(conf("loc-b", clients=3))
        roles3, _ = bigger.init()
        assert len(roles3["client"]) == 3
        res = en.run_command("test -f /root/marker", roles=roles3, on_error_continue=True)
        assert len(res.failed) == 3 + 1
    finally:
        first.destroy()
    assert NamespaceLab.leftovers("loc-b") == []
    assert not en.Local(conf("loc-b")).is_created()


def test_bad_configuration_fails_before_anything_is_made():
    bad = en.LocalConf.from_settings(name="loc-c").add_machine(roles=["x"], networks=["nope"])
    with pytest.raises(EnosConfigError, match=r"machines\[0\]\.networks\[0\].*no network with id 'nope'"):
        en.Local(bad)
    with pytest.raises(EnosConfigError, match=r"\$\.name.*pattern"):
        en.LocalConf.from_settings(name="Bad Name!")
    assert NamespaceLab.leftovers("loc-c") == []


@pytest.mark.root
def test_ctrl_c_during_init_leaves_nothing():
    script = textwrap.dedent(
        """
        import time, enoslib as en
        conf = en.LocalConf.from_settings(name="loc-int").add_machine(roles=["x"], number=30)
        with en.Local(conf):
            time.sleep(60)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    # interrupt as soon as the first namespace exists: init is under way
    while time.monotonic() < deadline and not NamespaceLab.leftovers("loc-int"):
        time.sleep(0.005)
    assert NamespaceLab.leftovers("loc-int"), "init never started"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    assert NamespaceLab.leftovers("loc-int") == []
