"""Namespace-backed nodes: a running job's nodes are real SSH hosts named like Grid'5000 nodes."""

from __future__ import annotations

import subprocess

import pytest

grid5000 = pytest.importorskip("grid5000")

from enoslib.emulators.g5k import G5kEmulator, legacy_dataset
from enoslib.emulators.g5k.backend import namespace_backend_available

usable, why = namespace_backend_available()
pytestmark = [pytest.mark.root, pytest.mark.skipif(not usable, reason=f"netns backend: {why}")]


def ssh(config, host: str, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ssh", "-F", str(config), host, command],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture()
def emu():
    with G5kEmulator(
        legacy_dataset(4, sites=["rennes"]), speed=0, backend="netns", nodes_per_cluster=4, deploy_duration=10
    ) as e:
        yield e


def test_running_nodes_are_ssh_hosts(emu, tmp_path):
    site = emu.client().sites["rennes"]
    job = site.jobs.create(
        {
            "resources": "{cluster='paravance'}/nodes=2+{type='kavlan'}/vlan=1",
            "command": "sleep 3600",
            "types": ["deploy"],
        }
    )
    emu.advance(5)
    job.refresh()
    assert job.state == "running" and not emu.backend_errors
    config = tmp_path / "ssh_config"
    emu.ssh_config(config)
    for fqdn in job.assigned_nodes:
        api_ip = site.clusters["paravance"].nodes[fqdn.split(".")[0]].network_adapters[0]["ip"]
        assert emu.node_address(fqdn) == api_ip
        out = ssh(config, fqdn, "hostname; ip -4 -o addr show dev eth0")
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines()[0] == fqdn
        assert f"{api_ip}/" in out.stdout

    # KaVLAN: the primary NIC moves to the vlan bridge, with its kavlan address
    first = job.assigned_nodes[0]
    vid = job.resources_by_type["vlans"][0]
    assert site.vlans[vid].nodes.submit([first])[first]["status"] == "success"
    in_vlan = first.replace(".", f"-kavlan-{vid}.", 1)
    emu.ssh_config(config)
    out = ssh(config, in_vlan, "hostname; ip -4 -o addr show dev eth0")
    assert out.returncode == 0 and out.stdout.splitlines()[0] == first
    assert emu.node_address(in_vlan) in out.stdout

    # a deployment resets the node: what was in /root is gone
    assert ssh(config, in_vlan, "touch /root/leftover && ls /root").stdout.strip() == "leftover"
    dep = site.deployments.create({"nodes": job.assigned_nodes, "environment": "debian12-min"})
    emu.advance(10)
    dep.refresh()
    assert dep.status == "terminated" and not emu.backend_errors
    assert ssh(config, in_vlan, "ls /root").stdout.strip() == ""

    # the job ends: nodes are destroyed
    job.delete()
    emu.advance(2)
    assert list(emu.backend.lab.nodes) == ["kavlan.rennes.grid5000.fr"]  # the site's KaVLAN server stays
    # (the KaVLAN server keeps the production network up: a gone node times out, as on the testbed)
    gone = ["ssh", "-F", str(config), "-o", "ConnectTimeout=3", job.assigned_nodes[1], "true"]
    assert subprocess.run(gone, capture_output=True, timeout=30, check=False).returncode != 0


def test_stop_destroys_every_node():
    emu = G5kEmulator(legacy_dataset(2, sites=["lyon"]), speed=0, backend="netns", nodes_per_cluster=2).start()
    try:
        site = emu.client().sites["lyon"]
        site.jobs.create({"resources": "nodes=2", "command": "sleep 3600"})
        emu.advance(5)
        lab = emu.backend.lab
        assert len(lab.nodes) == 3  # and kavlan.lyon.grid5000.fr, the local vlans' gateway
        name = lab.name
    finally:
        emu.stop()
    namespaces = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True
    ).stdout
    assert f"enos-{name}." not in namespaces
    assert not type(lab).leftovers(name)


def test_global_vlan_is_one_network_across_sites(tmp_path):
    """rennes and nancy nodes in nancy's kavlan-global vlan share one bridge and reach each other."""
    with G5kEmulator(
        legacy_dataset(2, sites=["rennes", "nancy"]), speed=0, backend="netns", nodes_per_cluster=2, deploy_duration=10
    ) as emu:
        gk = emu.client()
        nancy, rennes = gk.sites["nancy"], gk.sites["rennes"]
        njob = nancy.jobs.create(
            {
                "resources": "{cluster='grisou'}/nodes=1+{type='kavlan-global'}/vlan=1",
                "command": "sleep 3600",
                "types": ["deploy"],
            }
        )
        rjob = rennes.jobs.create(
            {
                "resources": "{cluster='paravance'}/nodes=1",
                "command": "sleep 3600",
                "types": ["deploy"],
            }
        )
        emu.advance(5)
        njob.refresh(), rjob.refresh()
        assert njob.state == rjob.state == "running" and not emu.backend_errors
        vid = njob.resources_by_type["vlans"][0]
        (g1,), (r1,) = njob.assigned_nodes, rjob.assigned_nodes
        assert rennes.vlans[vid].nodes.submit([r1])[r1]["status"] == "success"
        assert nancy.vlans[vid].nodes.submit([g1])[g1]["status"] == "success"
        assert not emu.backend_errors
        r_vlan, g_vlan = (n.replace(".", f"-kavlan-{vid}.", 1) for n in (r1, g1))
        config = tmp_path / "ssh_config"
        emu.ssh_config(config)
        out = ssh(config, r_vlan, "hostname; ip -4 -o addr show dev eth0")
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines()[0] == r1 and f"{emu.node_address(r_vlan)}/" in out.stdout
        # the rennes node reaches the nancy node's sshd on the shared vlan bridge
        target = emu.node_address(g_vlan)
        probe = "timeout 5 bash -c '</dev/tcp/{}/22' && echo open"
        assert ssh(config, r_vlan, probe.format(target)).stdout.strip() == "open"
        njob.delete()
        emu.advance(2)
        emu.ssh_config(config)
        assert ssh(config, r1, "hostname").stdout.strip() == r1
