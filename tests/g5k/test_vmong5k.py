"""VMonG5k: configuration and sizing offline / on the address-only emulator; VMs for real on the
netns emulator (root): reachable over SSH, run_command, reload by name, idempotent init,
destroy leaving no job, subnet or VM; randomized fault trials (API faults, VMs failing to start,
Ctrl-C at a random moment) with 0 leaks; the documentation's example script, unchanged."""

from __future__ import annotations

import _thread
import os
import random
import runpy
import threading
from pathlib import Path

import pytest
from g5k_helpers import active_jobs, make_client

from enoslib.api.commands import run_command
from enoslib.config import config_context
from enoslib.emulators.g5k import G5kEmulator, legacy_dataset
from enoslib.emulators.g5k.backend import namespace_backend_available
from enoslib.errors import EnosConfigError, EnosError
from enoslib.infra.enos_g5k.objects import G5kEnosSubnetNetwork
from enoslib.infra.enos_vmong5k import VMonG5k, VMonG5kConf, mac_range
from enoslib.infra.enos_vmong5k.provider import _distribute
from enoslib.objects import Host

usable, why = namespace_backend_available()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE = EXAMPLES / "vmong5k.py"


def conf(name="vms", **settings):
    settings.setdefault("walltime", "1:00:00")
    return VMonG5kConf.from_settings(job_name=name, **settings)


# ------------------------------------------------------------------ offline / address-only
def test_errors_name_the_path_and_come_before_any_reservation(emu):
    client = make_client(emu)
    with pytest.raises(EnosConfigError, match=r"\$\.resources\.machines\[0\]\.flavour_desc\.core"):
        conf().add_machine(roles=["a"], cluster="paravance", flavour_desc={"core": 0, "mem": 512})
    with pytest.raises(EnosConfigError, match=r"\$\.resources\.machines\[0\]: give flavour or flavour_desc"):
        VMonG5kConf.from_dictionary({"resources": {"machines": [
            {"roles": ["a"], "cluster": "paravance", "flavour": "tiny", "flavour_desc": {"core": 1, "mem": 1}}]}})
    with pytest.raises(EnosConfigError, match=r"\$\.resources\.machines\[1\]\.macs: 1 MACs for 2 VMs"):
        (conf().add_machine(roles=["a"], cluster="paravance")
         .add_machine(roles=["b"], cluster="paravance", number=2, macs=["00:16:3e:9c:00:02"]).finalize())
    with pytest.raises(EnosConfigError, match=r"\$\.resources\.machines\[0\]\.cluster"):
        VMonG5k(conf().add_machine(roles=["a"], undercloud=[Host("paravance-1.rennes.grid5000.fr")]))
    too_big = conf().add_machine(roles=["a"], cluster="paravance", flavour_desc={"core": 4096, "mem": 512})
    with pytest.raises(EnosConfigError, match=r"\$\.resources\.machines\[0\]\.flavour: a VM of 4096 vcpus"):
        VMonG5k(too_big, client=client).init()
    assert active_jobs(emu) == []


def test_nodes_are_sized_from_the_reference_api(emu):
    doc = emu.ref.node(next(n for n in emu.ref.node_refs() if n.cluster == "paravance"))
    threads = doc["architecture"]["nb_threads"]
    c = (conf().add_machine(roles=["big"], cluster="paravance", number=threads, flavour="large")  # 4 vcpus each
         .add_machine(roles=["tiny"], cluster="paravance", number=3))
    g5k = VMonG5k(c, client=make_client(emu)).g5k_provider.provider_conf
    assert [m.nodes for m in g5k.machines] == [4, 1]
    assert [(n.type, n.site) for n in g5k.networks] == [("slash_22", "rennes")]
    assert "deploy" not in g5k.job_types


def test_mac_range_and_round_robin_placement_honour_capacity():
    subnet = G5kEnosSubnetNetwork("10.158.0.0/22", "10.159.255.254")
    macs = list(mac_range([subnet]))
    assert macs[:2] == ["00:16:3e:9e:00:01", "00:16:3e:9e:00:02"] and len(macs) == 1022
    pms = [Host(f"paravance-{i}.rennes.grid5000.fr") for i in (2, 1, 10)]
    c = conf().add_machine(roles=["vm"], undercloud=pms, number=5, flavour="medium", macs=macs[:5])
    # paravance-1 has room for one medium VM only: passed over once full
    capacity = {"paravance-1.rennes.grid5000.fr": (2, 2048), "paravance-2.rennes.grid5000.fr": (64, 1 << 20),
                "paravance-10.rennes.grid5000.fr": (64, 1 << 20)}
    roles = _distribute(c.finalize(), capacity, {})
    placed = [(vm.alias, vm.pm.address.split(".")[0]) for vm in roles["vm"]]
    assert placed == [("virtual-158-0-1", "paravance-1"), ("virtual-158-0-2", "paravance-2"),
                      ("virtual-158-0-3", "paravance-10"), ("virtual-158-0-4", "paravance-2"),
                      ("virtual-158-0-5", "paravance-10")]


def test_inside_providers_it_plans_with_grid5000(emu):
    p = VMonG5k(conf().add_machine(roles=["a"], cluster="paravance", number=2), client=make_client(emu))
    now = emu.clock.now()
    assert p.test_slot(now + 60, now + 3600)
    p.set_reservation(now + 7200)
    assert p.provider_conf.reservation and p.g5k_provider.provider_conf.reservation
    p.offset_walltime(600)
    assert p.provider_conf.walltime == "01:10:00"


# ------------------------------------------------------------------ netns: real VMs
@pytest.fixture(scope="module")
def vm_emu(tmp_path_factory):
    """Real nodes and VMs; the API user is root, so the SSH logins of the provider work."""
    tmp = tmp_path_factory.mktemp("vmong5k")
    path = tmp / "ssh_config"
    path.write_text("")
    with G5kEmulator(legacy_dataset(4, sites=["rennes"]), speed=0, backend="netns", nodes_per_cluster=4,
                     users={"root": "vm-test-password"}) as emu, config_context(ssh_config_file=str(path)):
        stop = threading.Event()

        def follow():
            while not stop.is_set():
                (tmp / "next").write_text(emu.ssh_config())
                os.replace(tmp / "next", path)
                stop.wait(0.05)

        thread = threading.Thread(target=follow, daemon=True)
        thread.start()
        try:
            yield emu
        finally:
            stop.set()
            thread.join()


def _nothing_left(emu):
    emu.advance(30)
    assert active_jobs(emu) == []
    assert emu.guests.list() == [] and emu.libvirt.running() == []
    assert all(j.state in ("error", "terminated") for j in emu.jobs())
    assert not emu.channel.errors and not emu.backend_errors


@pytest.mark.root
@pytest.mark.skipif(not usable, reason=f"netns backend: {why}")
def test_vms_are_reachable_reloaded_by_name_and_destroyed(vm_emu):
    emu = vm_emu
    c = (conf("vm-life", image="/grid5000/virt-images/debian12-x64-base.qcow2")
         .add_machine(roles=["server"], cluster="paravance", number=3, flavour="large")
         .add_machine(roles=["client", "all"], cluster="paravance", number=2, flavour_desc={"core": 1, "mem": 700,
                                                                                           "disk": 2}))
    provider = VMonG5k(c, client=make_client(emu))
    roles, networks = provider.init()
    assert len(roles["server"]) == 3 and len(roles["client"]) == 2
    subnet = networks["enos_network"][0]
    assert all(vm.address in subnet.network for vm in roles.all())
    results = {r.host: r.stdout.split() for r in run_command("hostname; . /etc/os-release; echo $VERSION_ID",
                                                           roles=roles)}
    assert results == {vm.alias: [vm.alias, "12"] for vm in roles.all()}
    guests = {g.name: g for g in emu.guests.list()}
    assert {g.memory_mb for g in guests.values()} == {4096, 700}
    assert len({g.host for g in guests.values()}) == 2  # one node per group here

    # reload by name: the same VMs, none started again
    again, _ = VMonG5k(c, client=make_client(emu)).init()
    assert [vm.address for vm in again.all()] == [vm.address for vm in roles.all()]
    assert len(active_jobs(emu)) == 1
    # a VM gone (destroyed on its node): init starts that one only
    victim = roles["client"][0]
    out = run_command(f"virsh destroy {victim.alias}", roles=[victim.pm])
    assert out[0].rc == 0
    VMonG5k(c, client=make_client(emu)).init()
    assert sorted(g.name for g in emu.guests.list()) == sorted(guests)
    assert run_command("true", roles=[victim])[0].rc == 0
    # force_deploy: every VM started again (fresh guests, same names and addresses)
    before = {g.name: id(g) for g in emu.guests.list()}
    VMonG5k(c, client=make_client(emu)).init(force_deploy=True)
    after = {g.name: id(g) for g in emu.guests.list()}
    assert sorted(after) == sorted(before) and not set(after.values()) & set(before.values())

    provider.destroy()
    _nothing_left(emu)


TRIALS = 50
OUTCOMES: dict[str, int] = {}


@pytest.mark.root
@pytest.mark.skipif(not usable, reason=f"netns backend: {why}")
@pytest.mark.parametrize("seed", range(TRIALS))
def test_fault_trial(vm_emu, seed):
    """Random API faults, VMs failing to start, Ctrl-C at a random moment: nothing leaks."""
    emu = vm_emu
    rng = random.Random(9100 + seed)
    emu.faults.update(seed=seed, error_rate=rng.choice([0.0, 0.05, 0.1]), error_code=rng.choice([500, 503]),
                      reset_rate=rng.choice([0.0, 0.05]), job_error_rate=rng.choice([0.0, 0.0, 0.2]),
                      guest_start_failure_rate=rng.choice([0.0, 0.0, 0.3]))
    c = conf(f"vt{seed}").add_machine(roles=["vm"], cluster="paravance", number=rng.randint(1, 3))
    timer = None
    if rng.random() < 0.4:  # Ctrl-C somewhere in init
        timer = threading.Timer(rng.uniform(0.0, 0.6), _thread.interrupt_main)
        timer.start()
    outcome = "ok"
    try:
        with config_context(g5k_api_deadline=60, g5k_backoff=1, g5k_release_deadline=1800):
            provider = VMonG5k(c, client=make_client(emu, retries=6))
            try:
                roles, _ = provider.init()
                assert len(roles["vm"]) == c.machines[0].number
            finally:
                if timer is not None:
                    timer.cancel()
                    timer.join()
            provider.destroy()
    except KeyboardInterrupt:
        outcome = "interrupted"
    except EnosError:
        outcome = "failed"
    finally:
        if timer is not None:
            timer.cancel()
        emu.faults.reset()
    OUTCOMES[outcome] = OUTCOMES.get(outcome, 0) + 1
    try:
        _nothing_left(emu)
    except AssertionError as exc:
        raise AssertionError(f"trial {seed} ({outcome}): {exc}") from None


def test_fault_trials_saw_every_outcome():
    """The trials above (when they ran) ended in success, documented errors and Ctrl-C alike."""
    if sum(OUTCOMES.values()) < TRIALS:
        pytest.skip("the fault trials did not all run")
    assert set(OUTCOMES) == {"ok", "failed", "interrupted"}, OUTCOMES


@pytest.mark.root
@pytest.mark.skipif(not usable, reason=f"netns backend: {why}")
def test_the_documented_example_runs_unchanged(vm_emu, tmp_path, monkeypatch, capsys):
    """examples/vmong5k.py (the documentation's script) with the client configuration pointing
    at the emulator (G5K_API_CONF); the clock runs (the script's client sleeps for real)."""
    from enoslib.infra.enos_g5k.client import reset_api

    emu = vm_emu
    emu.clock.speed = 30
    monkeypatch.setenv("G5K_API_CONF", str(emu.write_client_config(tmp_path / "g5k.yaml")))
    reset_api()
    try:
        runpy.run_path(str(EXAMPLE), run_name="__main__")
    finally:
        emu.clock.speed = 0
        reset_api()
    out = capsys.readouterr().out
    assert "'vms': 16" in out or "vms" in out
    vms = emu.guests.list(kind="vm")
    assert len(vms) == 16 and len({g.host for g in vms}) == 1
    assert all(run_command("true", roles=[Host(g.ip, user="root")])[0].rc == 0 for g in vms[:2])
    for site, uid, _, _ in active_jobs(emu):
        emu.client().sites[site].jobs[str(uid)].delete()
    _nothing_left(emu)


@pytest.mark.root
@pytest.mark.skipif(not usable, reason=f"netns backend: {why}")
def test_the_provider_example_runs_and_releases(vm_emu, tmp_path, monkeypatch, capsys):
    from enoslib.infra.enos_g5k.client import reset_api

    emu = vm_emu
    emu.clock.speed = 30
    monkeypatch.setenv("G5K_API_CONF", str(emu.write_client_config(tmp_path / "g5k.yaml")))
    reset_api()
    try:
        runpy.run_path(str(EXAMPLES / "vmong5k_provider.py"), run_name="__main__")
    finally:
        emu.clock.speed = 0
        reset_api()
    out = capsys.readouterr().out
    assert "2 servers and 6 clients in 10.156.0.0/22" in out and "virtual-156-0-1: virtual-156-0-1" in out
    assert out.strip().endswith("released")
    _nothing_left(emu)


@pytest.mark.root
@pytest.mark.skipif(not usable, reason=f"netns backend: {why}")
def test_inside_providers_with_grid5000_nodes(vm_emu):
    """A common start with a G5k provider, found from both availabilities; one release."""
    import enoslib as en
    from enoslib.infra.enos_g5k import G5k, G5kConf

    emu = vm_emu
    vms = VMonG5k(conf("vm-providers").add_machine(roles=["vm"], cluster="paravance", number=2),
                  client=make_client(emu))
    nodes = G5k(G5kConf.from_settings(job_name="nodes-providers", walltime="1:00:00", root_access=False)
                .add_machine(roles=["node"], cluster="parasilo", nodes=1), client=make_client(emu))
    providers = en.Providers([vms, nodes])
    roles, _ = providers.init(start_time=emu.clock.now() + 60)
    assert len(roles["vm"]) == 2 and len(roles["node"]) == 1
    assert all(r.rc == 0 for r in run_command("true", roles=roles["vm"]))
    providers.destroy()
    _nothing_left(emu)
