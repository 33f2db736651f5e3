"""NamespaceLab against the real machine: namespaces, bridges, sshd, ssh. Needs root."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from enoslib.nodes import BridgeInfo, LabError, NamespaceLab, NodeInfo, lab_for_current_user

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="NamespaceLab needs root")]

# Unique per test run: several runs (or several engineers) may share the machine.
RUN = os.getpid() % 10000
OCTET = 100 + os.getpid() % 100
REPO = Path(__file__).resolve().parents[2]


def net(k: int) -> str:
    return f"10.{OCTET}.{k}.0/24"


def host(k: int, last: int) -> str:
    return f"10.{OCTET}.{k}.{last}"


def ssh(lab: NamespaceLab, node: str, command: str, **kw) -> subprocess.CompletedProcess[str]:
    info = lab.nodes[node]
    return subprocess.run(
        ["ssh", *lab.ssh_options(), "-p", str(info.port), f"{info.user}@{info.address}", command],
        capture_output=True, text=True, timeout=30, **kw, check=False)


def traces(lab_name: str, state_dir: Path) -> list[str]:
    """What `ip netns list`, `ip -o link` and `pgrep -f` show of a lab."""
    found = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    found += [f"netns {line}" for line in netns.splitlines() if f"enos-{lab_name}." in line]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=False).stdout
    from enoslib.nodes._names import lab_tag

    tag = lab_tag(lab_name)
    found += [
        f"link {line.split(':')[1].strip()}"
        for line in links.splitlines()
        if f"enb{tag}" in line or f"env{tag}" in line or f"enoslib:{lab_name}" in line
    ]
    pg = subprocess.run(["pgrep", "-af", str(state_dir)], capture_output=True, text=True, check=False).stdout
    found += [f"process {line}" for line in pg.splitlines()]
    if state_dir.exists():
        found.append(f"dir {state_dir}")
    return found


@pytest.fixture(scope="module")
def lab():
    with NamespaceLab(f"tn{RUN}") as lab:
        lab.add_bridge("net1", net(1))
        lab.add_bridge("net2", net(2))
        lab.add_bridge("net3", net(3))
        lab.add_nodes(["h1", "h2"], networks=["net1", "net2"])
        lab.add_node("h3", networks=["net1", "net2"])
        yield lab


# ----------------------------------------------------------------------------- basics


def test_layout_and_addresses(lab: NamespaceLab) -> None:
    assert lab.bridges["net1"] == BridgeInfo(
        name="net1", cidr=net(1), ifname=lab.bridges["net1"].ifname, gateway=host(1, 1)
    )
    assert all(len(b.ifname) <= 15 for b in lab.bridges.values())
    h1 = lab.nodes["h1"]
    assert isinstance(h1, NodeInfo)
    assert (h1.address, h1.port, h1.user, h1.netns) == (host(1, 2), 22, "root", f"enos-{lab.name}.h1")
    assert list(h1.interfaces) == ["net1", "net2"]
    assert h1.interfaces["net2"]["ifname"] == "eth1"
    assert h1.interfaces["net2"]["address"] == f"{host(2, 2)}/24"
    assert [n.address for n in lab.nodes.values()] == [host(1, 2), host(1, 3), host(1, 4)]
    macs = [i["mac"] for n in lab.nodes.values() for i in n.interfaces.values()]
    assert len(set(macs)) == len(macs)
    assert all(int(m.split(":")[0], 16) & 0b11 == 0b10 for m in macs)  # local, unicast
    addr = lab.exec("h1", ["ip", "-o", "-4", "addr", "show", "dev", "eth1"], check=True).stdout
    assert f"{host(2, 2)}/24" in addr
    link = lab.exec("h1", ["cat", "/sys/class/net/eth1/address"], check=True).stdout
    assert link.strip() == h1.interfaces["net2"]["mac"]


def test_ssh_hostname_and_clean_shell(lab: NamespaceLab) -> None:
    for name in lab.nodes:
        cp = ssh(lab, name, "hostname; echo $HOME; cat ~/.bashrc; command -v pyenv || echo no-pyenv")
        assert cp.returncode == 0, cp.stderr
        lines = cp.stdout.splitlines()
        assert lines[0] == name
        assert lines[1] == "/root"
        assert lines[-1] == "no-pyenv"
        assert "pyenv" not in cp.stdout.replace("no-pyenv", "")
    cp = ssh(lab, "h1", "/usr/bin/python3 -c 'print(1)'")
    assert (cp.returncode, cp.stdout, cp.stderr) == (0, "1\n", "")


def test_private_tmp_and_home(lab: NamespaceLab) -> None:
    marker = f"private-{RUN}"
    assert ssh(lab, "h1", f"echo {marker} > /tmp/{marker} && echo x > ~/{marker}").returncode == 0
    assert lab.exec("h1", ["cat", f"/tmp/{marker}"]).stdout == f"{marker}\n"
    assert ssh(lab, "h2", f"ls /tmp/{marker} ~/{marker}").returncode != 0
    assert not Path(f"/tmp/{marker}").exists()
    assert not Path(f"/root/{marker}").exists()


def test_ping_on_both_networks(lab: NamespaceLab) -> None:
    for target in (host(1, 3), host(2, 3), host(1, 1)):
        cp = lab.exec("h1", ["ping", "-c1", "-W2", target])
        assert cp.returncode == 0, cp.stdout + cp.stderr
    # and the machine reaches every node directly through the bridges
    cp = subprocess.run(["ping", "-c1", "-W2", host(2, 4)], capture_output=True, check=False)
    assert cp.returncode == 0
    hosts = lab.exec("h1", ["getent", "hosts", "h3"], check=True).stdout
    assert hosts.split()[0] == host(1, 4)


def test_exec_errors_name_the_command(lab: NamespaceLab) -> None:
    with pytest.raises(LabError, match="false"):
        lab.exec("h1", ["false"], check=True)
    with pytest.raises(LabError, match="no node"):
        lab.exec("nope", ["true"])


def test_multiplexed_ssh_is_fast(lab: NamespaceLab) -> None:
    info = lab.nodes["h2"]
    argv = ["ssh", *lab.ssh_options(multiplex=True), f"root@{info.address}", "true"]
    subprocess.run(argv, check=True, timeout=30)  # opens the master
    times = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run(argv, check=True, timeout=30)
        times.append(time.perf_counter() - t)
    # the master is what makes it fast: check it is used, then a bound loose enough for a
    # loaded machine (~10 ms normally; a full handshake costs far more under load)
    check = subprocess.run([*argv[:-2], "-O", "check", argv[-2]], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0 and "Master running" in check.stderr, check.stderr
    assert min(times) < 1.0, times


# ----------------------------------------------------------------------------- changes


def test_move_interface(lab: NamespaceLab) -> None:
    info = lab.move_interface("h3", "net2", "net3")
    assert list(info.interfaces) == ["net1", "net3"]
    assert info.interfaces["net3"] == {
        "ifname": "eth1", "address": f"{host(3, 2)}/24", "mac": lab.nodes["h3"].interfaces["net3"]["mac"]
    }
    assert lab.exec("h3", ["ping", "-c1", "-W2", host(3, 1)]).returncode == 0
    assert lab.exec("h1", ["ping", "-c1", "-W1", host(2, 4)]).returncode != 0  # gone from net2
    with pytest.raises(LabError, match="no interface"):
        lab.move_interface("h3", "net2", "net3")
    info = lab.move_interface("h3", "net3", "net2", address=host(2, 50))
    assert info.interfaces["net2"]["address"] == f"{host(2, 50)}/24"
    assert lab.exec("h1", ["ping", "-c1", "-W2", host(2, 50)]).returncode == 0
    # moving the first NIC moves the ssh address and the default route with it
    info = lab.move_interface("h3", "net1", "net3")
    assert info.address == host(3, 3)  # .2 was just freed: not reused at once
    assert ssh(lab, "h3", "hostname").stdout == "h3\n"
    route = lab.exec("h3", ["ip", "route", "show", "default"], check=True).stdout
    assert host(3, 1) in route
    info = lab.move_interface("h3", "net3", "net1", address=host(1, 4))
    assert ssh(lab, "h3", "hostname").stdout == "h3\n"


def node_commands(netns: str) -> set[str]:
    pids = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True, check=False).stdout
    comms = set()
    for pid in pids.split():
        try:
            comms.add(Path(f"/proc/{pid}/comm").read_text().strip())
        except OSError:
            pass
    return comms


def test_reset_node(lab: NamespaceLab) -> None:
    assert ssh(lab, "h2", "touch /tmp/junk ~/junk; (setsid sleep 300 >/dev/null 2>&1 &)").returncode == 0
    old = lab.nodes["h2"]
    assert "sleep" in node_commands(old.netns)
    info = lab.reset_node("h2")
    assert info.pid != old.pid and info.interfaces == old.interfaces
    cp = ssh(lab, "h2", "ls -A /tmp; ls -A ~; hostname")
    assert cp.stdout.split() == [".bashrc", ".profile", ".ssh", "h2"]
    assert node_commands(info.netns) == {"sshd"}


def test_load_reattaches(lab: NamespaceLab) -> None:
    again = NamespaceLab.load(lab.name)
    assert again is not None
    assert again.nodes == lab.nodes and again.bridges == lab.bridges
    assert again.exec("h1", ["hostname"], check=True).stdout == "h1\n"
    assert NamespaceLab.load("tn-absent") is None
    with pytest.raises(LabError, match="already exists"):
        NamespaceLab(lab.name)
    with pytest.raises(LabError, match="already exists"):
        lab_for_current_user(lab.name)
    assert lab_for_current_user(lab.name, reuse=True).nodes == lab.nodes


def test_add_and_remove_node(lab: NamespaceLab) -> None:
    info = lab.add_node("h4", networks=["net2"])
    assert info.address == host(2, 5)  # next after h3's .4, which h3 left for .50
    assert ssh(lab, "h4", "hostname").stdout == "h4\n"
    lab.remove_node("h4")
    assert "h4" not in lab.nodes
    assert f"enos-{lab.name}.h4" not in subprocess.run(["ip", "netns"], capture_output=True, text=True, check=False).stdout
    with pytest.raises(LabError):
        lab.remove_node("h4")
    # an explicit address may be reused at once: the machine forgets the old MAC
    info = lab.add_node("h5", networks=["net2"], addresses={"net2": host(2, 5)})
    assert info.interfaces["net2"]["address"] == f"{host(2, 5)}/24"
    assert ssh(lab, "h5", "hostname").stdout == "h5\n"
    with pytest.raises(LabError, match="already used"):
        lab.add_node("h6", networks=["net2"], addresses={"net2": host(2, 5)})
    lab.remove_node("h5")


def test_invalid_requests(lab: NamespaceLab) -> None:
    with pytest.raises(LabError, match="invalid lab name"):
        NamespaceLab("Bad_Name")
    with pytest.raises(LabError, match="overlaps"):
        lab.add_bridge("bad", net(1).replace(".0/24", ".128/25"))
    with pytest.raises(LabError, match="not a private"):
        lab.add_bridge("bad", "8.8.8.0/24")
    with pytest.raises(LabError, match="already has a node"):
        lab.add_node("h1", networks=["net1"])
    with pytest.raises(LabError, match="no network"):
        lab.add_node("h9", networks=["nope"])
    with pytest.raises(LabError, match="invalid node name"):
        lab.add_node("bad name", networks=["net1"])
    for line in Path("/etc/resolv.conf").read_text().splitlines():
        if line.startswith("nameserver") and "." in line and line.split()[1].startswith("10."):
            with pytest.raises(LabError, match="DNS server"):
                lab.add_bridge("bad", line.split()[1].rsplit(".", 1)[0] + ".0/24")
    main_route = subprocess.run(["ip", "-j", "-4", "route", "show"], capture_output=True, text=True, check=False).stdout
    machine = [r["dst"] for r in json.loads(main_route) if r.get("dst", "default") != "default"]
    if machine:
        with pytest.raises(LabError, match="overlaps"):
            lab.add_bridge("bad", machine[0] if "/" in machine[0] else machine[0] + "/32")


# ----------------------------------------------------------------------------- teardown


def test_destroy_leaves_nothing() -> None:
    lab = NamespaceLab(f"td{RUN}")
    lab.add_bridge("a", net(10))
    lab.add_nodes([f"n{i}" for i in range(4)], networks=["a"])
    ssh(lab, "n1", "(setsid sleep 300 >/dev/null 2>&1 &)")  # an experiment's daemon
    # something started in a node by hand, not through its sshd
    manual = subprocess.Popen(["ip", "netns", "exec", f"enos-{lab.name}.n2", "sleep", "300"],
                              start_new_session=True)
    assert traces(lab.name, lab.state_dir)
    t = time.monotonic()
    lab.destroy()
    assert time.monotonic() - t < 10  # ~0.1 s normally; loose for loaded CI machines
    assert manual.wait(timeout=5) is not None
    assert traces(lab.name, lab.state_dir) == []
    assert NamespaceLab.leftovers(lab.name) == []
    lab.destroy()  # idempotent
    with pytest.raises(LabError, match="destroyed"):
        lab.add_node("x", networks=["a"])


class InterruptedLab(NamespaceLab):
    """Ctrl-C arrives while the third sshd is being started."""

    def _launch(self, rec):
        if rec["name"] == "n2":
            raise KeyboardInterrupt
        return super()._launch(rec)


def test_keyboard_interrupt_in_add_nodes_leaves_nothing() -> None:
    name = f"tk{RUN}"
    with pytest.raises(KeyboardInterrupt), InterruptedLab(name) as lab:
        lab.add_bridge("a", net(11))
        lab.add_nodes([f"n{i}" for i in range(5)], networks=["a"])
    assert traces(name, lab.state_dir) == []


def test_failed_batch_is_rolled_back_and_lab_stays_usable() -> None:
    with InterruptedLab(f"tr{RUN}") as lab:
        lab.add_bridge("a", net(12))
        with pytest.raises(KeyboardInterrupt):
            lab.add_nodes(["n0", "n1", "n2"], networks=["a"])
        assert lab.nodes == {}
        assert not [n for n in subprocess.run(["ip", "netns"], capture_output=True, text=True, check=False)
                    .stdout.split() if n.startswith(f"enos-{lab.name}.")]
        info = lab.add_node("n0", networks=["a"])
        assert info.address == host(12, 5)  # after the rolled back batch's, not reusing them
        assert ssh(lab, "n0", "hostname").stdout == "n0\n"


def test_crashed_owner_then_load_and_cleanup_all() -> None:
    """The process that built a lab is SIGKILLed: load() and cleanup_all() recover."""
    name = f"tc{RUN}"
    script = textwrap.dedent(f"""
        import os, signal
        from enoslib.nodes import NamespaceLab
        lab = NamespaceLab({name!r})
        lab.add_bridge("a", {net(13)!r})
        lab.add_nodes(["n0", "n1"], networks=["a"])
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    cp = subprocess.run([sys.executable, "-c", script], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    assert cp.returncode == -signal.SIGKILL
    lab = NamespaceLab.load(name)
    assert lab is not None and sorted(lab.nodes) == ["n0", "n1"]
    assert ssh(lab, "n1", "hostname").stdout == "n1\n"
    # damage it as a crash in the middle of a teardown would: load() repairs what it can
    subprocess.run(["ip", "link", "del", lab.bridges["a"].ifname], check=True)
    subprocess.run(["ip", "netns", "del", lab.nodes["n0"].netns], check=True)
    lab = NamespaceLab.load(name)
    assert lab is not None and sorted(lab.nodes) == ["n1"]
    assert ssh(lab, "n1", "hostname").stdout == "n1\n"
    # now lose the state file too: only names are left to find the lab by
    state_dir = lab.state_dir
    (state_dir / "state.json").unlink()
    assert NamespaceLab.load(name) is None
    assert traces(name, state_dir)
    assert NamespaceLab.cleanup_all(name) == [name]
    assert traces(name, state_dir) == []


def test_real_ctrl_c_during_add_nodes_leaves_nothing() -> None:
    """SIGINT, as a terminal sends it, while 20 nodes are being created."""
    name = f"ts{RUN}"
    script = textwrap.dedent(f"""
        import signal
        from enoslib.nodes import NamespaceLab
        # a background job may have inherited SIGINT ignored: restore Ctrl-C
        signal.signal(signal.SIGINT, signal.default_int_handler)
        with NamespaceLab({name!r}) as lab:
            lab.add_bridge("a", {net(14)!r})
            print("adding", flush=True)
            lab.add_nodes([f"n{{i}}" for i in range(20)], networks=["a"])
            print("added", flush=True)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "adding"
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=60)[0]
    assert "KeyboardInterrupt" in out and "added" not in out, out
    assert traces(name, Path(f"/run/enoslib-nodes/{name}")) == []
