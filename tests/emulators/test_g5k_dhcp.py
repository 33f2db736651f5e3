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
        out = ssh(config, node, "echo 'timeout 1;' > /tmp/dh.conf; dhclient -1 -cf /tmp/dh.conf eno2; echo rc=$?")
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
        # released: the address goes; with the vlan's DHCP server stopped by its owner
        # (PUT /vlans/{id}/dhcpd), nothing answers any more
        emu.client().http_request("put", f"/sites/rennes/vlans/{vid}/dhcpd", post_data={"action": "stop"})
        out = ssh(config, node, "dhclient -r eno2; ip -4 -o addr show dev eno2; "
                  "dhclient -1 -cf /tmp/dh.conf eno2; echo rc=$?")
        assert f"inet {wanted}/" not in out.stdout and "rc=2" in out.stdout, out


@on_real_nodes
def test_local_vlans_of_two_sites_at_once(tmp_path):
    """rennes and nancy local vlan 1 are the same 192.168.192.0/20 on the testbed: both in use,
    each site's nodes get the API's addresses, reach their own site's kavlan gateway only."""
    with G5kEmulator(["rennes", "nancy"], speed=0, backend="netns", nodes_per_cluster=1) as emu:
        gk = emu.client()
        jobs = {}
        for site, cluster in (("rennes", "parasilo"), ("nancy", "gros")):
            jobs[site] = gk.sites[site].jobs.create({
                "resources": f"{{cluster='{cluster}'}}/nodes=1+{{type='kavlan-local'}}/vlan=1",
                "command": "sleep 3600", "types": ["deploy"],
            })
        emu.advance(5)
        for job in jobs.values():
            job.refresh()
            assert job.state == "running", job.state
        (r1,), (g1,) = jobs["rennes"].assigned_nodes, jobs["nancy"].assigned_nodes
        rv, gv = (jobs[s].resources_by_type["vlans"][0] for s in ("rennes", "nancy"))
        assert gk.sites["rennes"].kavlans[rv]["network"] == gk.sites["nancy"].kavlans[gv]["network"]
        # rennes: the primary NIC into the vlan (as a deployment in it); nancy: the second NIC
        assert gk.sites["rennes"].vlans[rv].nodes.submit([r1])[r1]["status"] == "success"
        g1_nic = g1.replace(".", "-eth1.", 1)
        assert gk.sites["nancy"].vlans[gv].nodes.submit([g1_nic])[g1_nic]["status"] == "success"
        assert not emu.backend_errors
        r_api = gk.sites["rennes"].clusters["parasilo"].nodes[r1.split(".")[0]].kavlan["eth0"][f"kavlan-{rv}"]
        g_api = gk.sites["nancy"].clusters["gros"].nodes[g1.split(".")[0]].kavlan["eth1"][f"kavlan-{gv}"]
        config = tmp_path / "ssh_config"
        emu.ssh_config(config)

        r_vlan = r1.replace(".", f"-kavlan-{rv}.", 1)
        # EnOSlib's way into a local vlan: access.grid5000.fr, then kavlan-N.<site>
        out = ssh(config, "-J", f"access.grid5000.fr,kavlan-{rv}.rennes.grid5000.fr", r_vlan,
                  "hostname; ip -4 -o addr show dev eno1")
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines()[0] == r1 and f"inet {r_api}/20 " in out.stdout

        out = ssh(config, g1, "dhclient -r eno2; dhclient eno2; ip -4 -o addr show dev eno2")
        assert out.returncode == 0 and f"inet {g_api}/20 " in out.stdout, out.stdout + out.stderr
        gateway = gk.sites["nancy"].kavlans[gv]["gateway"]
        assert gateway == gk.sites["rennes"].kavlans[rv]["gateway"]
        # each reaches its own site's gateway (same address); nancy's node is not in rennes' vlan
        assert ssh(config, g1, f"ping -c1 -W2 -I eno2 {gateway}").returncode == 0
        assert ssh(config, r_vlan, f"ping -c1 -W2 {gateway}").returncode == 0
        assert ssh(config, r_vlan, f"ping -c1 -W1 {g_api}").returncode != 0
