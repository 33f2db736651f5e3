"""Guests of emulated Grid'5000 nodes: the guest API, and libvirt commands run on nodes over SSH
(virsh, qemu-img, genisoimage shims talking to the emulator through the nodes' command channel)."""

from __future__ import annotations

import ipaddress
import json
import shlex
import subprocess

import pytest

grid5000 = pytest.importorskip("grid5000")

from enoslib.emulators.g5k import G5kEmulator, legacy_dataset
from enoslib.emulators.g5k.backend import namespace_backend_available
from enoslib.emulators.g5k.guests import CHANNEL_FILE, GuestError
from enoslib.emulators.g5k.libvirt import mac_to_ip

usable, why = namespace_backend_available()


def _job(emu, resources="slash_22=1+nodes=1", types=()):
    job = emu.client().sites["rennes"].jobs.create(
        {"resources": resources, "command": "sleep 3600", "types": list(types)})
    emu.advance(10)
    job.refresh()
    assert job.state == "running", job.state
    return job


def _vm_mac(subnet: str, k: int) -> str:
    ip = list(ipaddress.ip_network(subnet).hosts())[k]
    return "00:16:3e:" + ":".join(f"{b:02x}" for b in ip.packed[1:])


# ------------------------------------------------------------------ address-only: the guest API
def test_guest_api_accounts_memory_and_follows_the_job():
    with G5kEmulator(legacy_dataset(2, sites=["rennes"]), speed=0, backend="address") as emu:
        job = _job(emu)
        node = job.assigned_nodes[0]
        cap = emu.guests.capacity(node)
        assert cap["memory_mb"] > 0 and cap["cores"] > 0
        emu.guests.create("vm-a", node, ip="10.156.0.2", mac="00:16:3e:9c:00:02",
                          memory_mb=cap["memory_mb"] - 100, vcpus=2)
        with pytest.raises(GuestError, match="Cannot allocate memory"):
            emu.guests.create("vm-b", node, ip="10.156.0.3", memory_mb=200)
        with pytest.raises(GuestError, match="already used"):
            emu.guests.create("vm-c", node, ip="10.156.0.2", memory_mb=10)
        with pytest.raises(GuestError, match="not up"):
            emu.guests.create("vm-d", "paravance-2.rennes.grid5000.fr", ip="10.156.0.9")
        assert emu.guests.used(node) == {"vcpus": 2, "memory_mb": cap["memory_mb"] - 100, "guests": 1}
        assert [g.name for g in emu.guests.list(kind="vm")] == ["vm-a"]
        assert "10.156.0.2" in emu.ssh_config()
        job.delete()
        emu.advance(10)
        assert emu.guests.list() == []


def test_mac_to_ip_is_the_testbed_dhcp_convention():
    assert mac_to_ip("00:16:3E:9C:00:02") == "10.156.0.2"
    assert mac_to_ip("52:54:00:9c:00:02") is None


# ------------------------------------------------------------------ netns: libvirt over SSH
@pytest.fixture(scope="module")
def netns_emu():
    with G5kEmulator(legacy_dataset(2, sites=["rennes"]), speed=0, backend="netns", deploy_duration=10) as e:
        yield e


def _ssh(emu, tmp_path, host, command):
    config = tmp_path / "ssh_config"
    emu.ssh_config(config)
    return subprocess.run(["ssh", "-F", str(config), host, command], capture_output=True, text=True,
                          timeout=60, check=False)


DOMAIN = """<domain type='kvm'><name>{name}</name><memory unit='MiB'>{mem}</memory><vcpu>1</vcpu>
<devices><disk type='file' device='disk'><source file='/tmp/w/{name}.qcow2'/></disk>
<disk type='file' device='cdrom'><source file='/tmp/w/{name}.iso'/></disk>
<interface type='bridge'><source bridge='{bridge}'/><mac address='{mac}'/></interface></devices></domain>"""


def _prepare(name, mac, mem=1024, bridge="br0", base="/grid5000/virt-images/debian12-x64-base.qcow2",
             key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0xkQ user@laptop"):
    xml = DOMAIN.format(name=name, mac=mac, mem=mem, bridge=bridge)
    user = f"#cloud-config\nssh_authorized_keys:\n  - {key}\n"
    q = shlex.quote
    return " && ".join([
        "mkdir -p /tmp/w/seed-" + name, "cd /tmp/w",
        f"printf %s {q(xml)} > {name}.xml",
        f"printf %s {q(user)} > seed-{name}/user-data",
        f"printf %s {q('local-hostname: ' + name + chr(10))} > seed-{name}/meta-data",
        f"genisoimage -output {name}.iso -volid cidata -joliet -rock seed-{name}/user-data seed-{name}/meta-data",
        f"qemu-img create -f qcow2 -F qcow2 -b {base} {name}.qcow2",
    ])


@pytest.mark.root
@pytest.mark.skipif(not usable, reason=f"netns backend: {why}")
def test_virsh_on_a_node_starts_a_reachable_vm(netns_emu, tmp_path):
    emu = netns_emu
    job = _job(emu)
    node, subnet = job.assigned_nodes[0], job.resources_by_type["subnets"][0]
    mac = _vm_mac(subnet, 1)
    ip = mac_to_ip(mac)
    out = _ssh(emu, tmp_path, node, _prepare("vm1", mac) + " && virsh create vm1.xml && virsh list --name")
    assert out.returncode == 0, out.stderr
    assert "Domain 'vm1' created from vm1.xml" in out.stdout and "vm1\n" in out.stdout
    vm = _ssh(emu, tmp_path, ip, "hostname; . /etc/os-release; echo $VERSION_ID; cat /sys/class/net/enp1s0/address;"
              " tail -1 /root/.ssh/authorized_keys")
    assert vm.returncode == 0, vm.stderr
    assert vm.stdout.split("\n")[:4] == ["vm1", "12", mac, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0xkQ user@laptop"]
    assert _ssh(emu, tmp_path, node, f"ping -c1 -W5 {ip}").returncode == 0  # routed from the node

    # failures as libvirt reports them
    again = _ssh(emu, tmp_path, node, "cd /tmp/w && virsh create vm1.xml")
    assert again.returncode == 1 and "domain 'vm1' already exists" in again.stderr
    assert "failed to get domain 'nope'" in _ssh(emu, tmp_path, node, "virsh destroy nope").stderr
    missing = _ssh(emu, tmp_path, node, _prepare("vm2", _vm_mac(subnet, 2), base="/grid5000/virt-images/nope.qcow2"))
    assert missing.returncode == 1 and "Could not open backing file" in missing.stderr
    huge = emu.guests.capacity(node)["memory_mb"]
    oom = _ssh(emu, tmp_path, node, _prepare("vm3", _vm_mac(subnet, 3), mem=huge) + " && virsh create vm3.xml")
    assert oom.returncode == 1 and "Cannot allocate memory" in oom.stderr
    nobr = _ssh(emu, tmp_path, node, _prepare("vm4", _vm_mac(subnet, 4), bridge="virbr9") + " && virsh create vm4.xml")
    assert nobr.returncode == 1 and "No such device" in nobr.stderr
    assert [g.name for g in emu.guests.list(node)] == ["vm1"]

    gone = _ssh(emu, tmp_path, node, "virsh destroy vm1 && virsh list --all --name")
    assert gone.returncode == 0 and gone.stdout.strip() == "Domain 'vm1' destroyed"
    assert emu.guests.list() == []
    job.delete()
    emu.advance(10)


@pytest.mark.root
@pytest.mark.skipif(not usable, reason=f"netns backend: {why}")
def test_guests_die_with_the_job_and_nodes_only_act_as_themselves(netns_emu, tmp_path):
    emu = netns_emu
    job = _job(emu, "slash_22=1+nodes=2")
    a, b = job.assigned_nodes
    subnet = job.resources_by_type["subnets"][0]
    start = _prepare("vmx", _vm_mac(subnet, 5)) + " && virsh create vmx.xml"
    assert _ssh(emu, tmp_path, a, start).returncode == 0
    assert [(g.name, g.host) for g in emu.guests.list()] == [("vmx", a)]
    assert _ssh(emu, tmp_path, b, "virsh list --name").stdout.strip() == ""  # a's VMs are a's
    # b using a's token is refused: the channel checks the caller's namespace
    token_a = json.loads(_ssh(emu, tmp_path, a, f"cat {CHANNEL_FILE}").stdout)
    forged = _ssh(emu, tmp_path, b, f"printf %s {shlex.quote(json.dumps(token_a))} > /tmp/c.json && "
                  f"sed 's#{CHANNEL_FILE}#/tmp/c.json#' /usr/local/bin/virsh > /tmp/virsh && "
                  "python3 /tmp/virsh destroy vmx")
    assert forged.returncode == 126 and "permission denied" in forged.stderr
    assert [g.name for g in emu.guests.list()] == ["vmx"]
    job.delete()
    emu.advance(10)
    assert emu.guests.list() == [] and emu.libvirt.running() == []
    assert not emu.channel.errors
