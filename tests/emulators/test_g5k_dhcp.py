"""DHCP in the Grid'5000 emulator: a NIC put in a KaVLAN obtains its address from the vlan's
DHCP server with the real ``dhclient``, as on the testbed; secondary NICs outside vlans
have no address."""

from __future__ import annotations

import shutil
import subprocess

import pytest

grid5000 = pytest.importorskip("grid5000")

from enoslib.emulators.g5k import G5kEmulator
from enoslib.emulators.g5k.backend import namespace_backend_available, shift_address
from enoslib.emulators.g5k.dhcp import ACK, DISCOVER, NAK, REQUEST, Scope, answer, build_request

usable, why = namespace_backend_available()
real_nodes = [
    pytest.mark.root,
    pytest.mark.skipif(not usable, reason=f"netns backend: {why}"),
    pytest.mark.skipif(shutil.which("dhclient") is None, reason="isc-dhcp-client not installed"),
]


def on_real_nodes(test):
    for mark in reversed(real_nodes):
        test = mark(test)
    return test


def ssh(config, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ssh", "-F", str(config), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_fixed_leases_only():
    mac = "02:00:00:00:00:01"
    scope = Scope("br0", "10.24.63.254", "10.24.0.0/18", routers=["10.24.63.254"],
                  lease=lambda m: "10.24.1.1" if m == mac else None)
    reply, options = answer(scope, build_request(7, mac, REQUEST, requested="10.24.1.1"))
    assert options[53][0] == ACK and reply.yiaddr == "10.24.1.1" and options[3] == bytes([10, 24, 63, 254])
    _, options = answer(scope, build_request(8, mac, REQUEST, requested="10.24.1.2"))
    assert options[53][0] == NAK  # not the address Grid'5000 gives this NIC
    # a REQUEST for another server's offer, an unknown MAC: no answer
    assert answer(scope, build_request(9, mac, REQUEST, requested="10.24.1.1", server="10.0.0.1")) is None
    assert answer(scope, build_request(10, "02:00:00:00:00:09", DISCOVER)) is None


def running_job(emu, resources: str):
    job = emu.client().sites["rennes"].jobs.create(
        {"resources": resources, "command": "sleep 3600", "types": ["deploy"]}
    )
    emu.advance(5)
    job.refresh()
    assert job.state == "running" and not emu.backend_errors, (job.state, emu.backend_errors)
    return job


@on_real_nodes
def test_secondary_nic_in_kavlan_gets_its_address_by_dhcp(tmp_path):
    with G5kEmulator(["rennes"], speed=0, backend="netns", nodes_per_cluster=1) as emu:
        job = running_job(emu, "{cluster='parasilo'}/nodes=1+{type='kavlan'}/vlan=1")
        node, vid = job.assigned_nodes[0], job.resources_by_type["vlans"][0]
        config = tmp_path / "ssh_config"
        emu.ssh_config(config)
        # outside vlans the second NIC is up, without address; nobody answers its DHCP
        out = ssh(config, node, "ip -4 -o addr show dev eno2; ip -o link show dev eno2")
        assert out.returncode == 0 and "inet " not in out.stdout and "eno2" in out.stdout, out
        out = ssh(config, node, "echo 'timeout 3;' > /tmp/dh.conf; dhclient -1 -cf /tmp/dh.conf eno2; echo rc=$?")
        assert "rc=2" in out.stdout, out  # dhclient -1: no lease

        site = emu.client().sites["rennes"]
        nic = node.replace(".", "-eth1.", 1)  # what the kavlan API takes for the second NIC
        assert site.vlans[vid].nodes.submit([nic])[nic]["status"] == "success"
        api = site.clusters["parasilo"].nodes[node.split(".")[0]]
        # the reference's address (moved by the instance offset when emulators run side by side)
        wanted = shift_address(api.kavlan["eth1"][f"kavlan-{vid}"], emu.backend.instance)
        gateway = shift_address(site.kavlans[vid]["gateway"], emu.backend.instance)
        # what EnOSlib and users run on the node
        out = ssh(config, node, "dhclient -r eno2; dhclient eno2; ip -4 -o addr show dev eno2")
        assert out.returncode == 0, out.stderr
        assert f"inet {wanted}/18 " in out.stdout, out.stdout
        assert emu.backend.dhcp.answered >= 2  # OFFER + ACK from the emulator's server
        # the vlan's gateway answers on the new address
        out = ssh(config, node, f"ping -c1 -W2 -I eno2 {gateway}")
        assert out.returncode == 0, out.stdout + out.stderr
        # released: the address goes, the lease stays the node's
        out = ssh(config, node, "dhclient -r eno2; ip -4 -o addr show dev eno2")
        assert f"inet {wanted}/" not in out.stdout
