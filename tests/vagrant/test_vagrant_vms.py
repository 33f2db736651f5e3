"""Real virtual machines: the real python-vagrant, vagrant, vagrant-libvirt and libvirt/qemu.

One 2-machine deployment on two private networks is shared by the module (booting is the
slow part). Needs ``ensure_vagrant`` from scripts/setup.sh (it exports ENOSLIB_VAGRANT_BOX:
the locally built Debian box, and the libvirt driver that works on this machine).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import enoslib as en
from enoslib.errors import EnosProviderError

BOX = os.environ.get("ENOSLIB_VAGRANT_BOX")
PREFIX = "enostest"

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(not BOX or shutil.which("vagrant") is None or shutil.which("virsh") is None,
                       reason="no Vagrant box: run `source scripts/setup.sh && ensure_vagrant` as root"),
]


def virsh(*args: str) -> list[str]:
    out = subprocess.run(["virsh", "-q", *args], check=True, capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def libvirt_objects() -> dict[str, set[str]]:
    """Domains, networks and volumes a deployment named PREFIX could leave behind."""
    return {
        "domains": {d for d in virsh("list", "--all", "--name") if PREFIX in d},
        "networks": set(virsh("net-list", "--all", "--name")),
        "volumes": {v for v in virsh("vol-list", "default") if PREFIX in v},
    }


def configuration() -> en.VagrantConf:
    return (en.VagrantConf.from_settings(box=BOX, name_prefix=PREFIX,
                                         config_extra="config.vm.boot_timeout = 600")
            .add_machine(roles=["server"], flavour_desc={"core": 1, "mem": 256})
            .add_machine(roles=["client"], flavour_desc={"core": 1, "mem": 256})
            .add_network(roles=["n1"], cidr="192.168.70.0/24")
            .add_network(roles=["n2"], cidr="192.168.71.0/24"))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vagrant")


@pytest.fixture(scope="module")
def before() -> dict[str, set[str]]:
    return libvirt_objects()


@pytest.fixture(scope="module")
def deployment(workdir: Path, before: dict[str, set[str]]):
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        provider = en.Vagrant(configuration())
    finally:
        os.chdir(cwd)
    try:
        roles, networks = provider.init()
        yield provider, roles, networks
    finally:
        provider.destroy()  # also when a test failed: nothing may stay behind


def rtt_min(host: en.Host, address: str) -> float:
    """Smallest RTT (ms) of a few pings from ``host`` to ``address``."""
    out = en.run_command(f"ping -q -n -c 6 -i 0.2 {address}", roles=[host])[0].stdout
    return float(re.search(r"= ([0-9.]+)/", out).group(1))


def test_machines_roles_and_private_networks(deployment, workdir):
    provider, roles, networks = deployment
    server, client = roles["server"][0], roles["client"][0]
    assert (server.alias, client.alias) == (f"{PREFIX}-1", f"{PREFIX}-2")
    assert [networks[r][0].cidr for r in ("n1", "n2")] == ["192.168.70.0/24", "192.168.71.0/24"]
    # the configured static addresses, each on the device the guest gave it
    assert server.filter_addresses(networks["n1"]) == ["192.168.70.10/24"]
    assert client.filter_addresses(networks["n2"]) == ["192.168.71.11/24"]
    assert server.user == "root" and Path(server.keyfile).is_file()
    assert (workdir / ".enoslib_vagrant" / PREFIX / "Vagrantfile").is_file()
    assert provider.is_created()


def test_run_command_and_actions(deployment):
    _, roles, _ = deployment
    results = en.run_command("echo $(hostname) $(id -un)", roles=roles)
    assert sorted(r.stdout for r in results) == [f"{PREFIX}-1 root", f"{PREFIX}-2 root"]
    with en.actions(roles=roles["server"]) as a:
        a.copy(content="hello from enoslib\n", dest="/tmp/enoslib.txt")
    assert en.run_command("cat /tmp/enoslib.txt", roles=roles["server"])[0].stdout == "hello from enoslib"


def test_netem_between_the_machines(deployment):
    _, roles, networks = deployment
    server, client = roles["server"][0], roles["client"][0]
    target_n1 = server.filter_addresses(networks["n1"])[0].split("/")[0]
    target_n2 = server.filter_addresses(networks["n2"])[0].split("/")[0]
    netem = en.Netem().add_constraints("delay 25ms", [server, client], networks=networks["n1"])
    netem.deploy()
    try:
        shaped, free = rtt_min(client, target_n1), rtt_min(client, target_n2)
        # 25 ms out of each machine: a round trip on n1 takes at least 50 ms, n2 is untouched
        assert shaped >= 50.0 and free < shaped, (shaped, free)
        report = netem.validate(networks=networks["n1"], count=5)
        assert report.measured and all(rtt is not None and rtt >= 50.0 for rtt in report.measured.values()), \
            report.table()
    finally:
        netem.destroy()
    assert rtt_min(client, target_n1) < 50.0


def test_second_init_reuses_the_running_machines(deployment, workdir):
    provider, roles, _ = deployment
    boot_ids = {r.host: r.stdout for r in en.run_command("cat /proc/sys/kernel/random/boot_id", roles=roles)}
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        again = en.Vagrant(configuration())  # a second run of the same script
    finally:
        os.chdir(cwd)
    roles2, _ = en.Providers([again]).init()  # inside Providers too
    assert sorted(h.address for h in roles2.all()) == sorted(h.address for h in roles.all())
    after = {r.host: r.stdout for r in en.run_command("cat /proc/sys/kernel/random/boot_id", roles=roles2)}
    assert after == boot_ids  # not rebooted


def test_destroy_leaves_nothing_behind(deployment, workdir, before):
    provider, _, _ = deployment
    provider.destroy()
    assert not provider.is_created()
    assert not (workdir / ".enoslib_vagrant").exists()
    after = libvirt_objects()
    assert after["domains"] == set() and after["volumes"] == set()
    assert after["networks"] <= before["networks"], after["networks"] - before["networks"]
    provider.destroy()  # twice is fine


def test_failing_up_is_reported_and_cleaned(tmp_path, monkeypatch, before):
    monkeypatch.chdir(tmp_path)
    conf = configuration().set(name_prefix="enosfail", config_extra="config.vm.no_such_setting = 1")
    with pytest.raises(EnosProviderError, match="no_such_setting"):
        with en.Vagrant(conf):
            pass
    assert list(tmp_path.iterdir()) == []
    assert libvirt_objects()["networks"] <= before["networks"]
