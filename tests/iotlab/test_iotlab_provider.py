"""The Iotlab provider against the emulator (address-only hosts: no SSH here)."""

from __future__ import annotations

import random

import pytest

from enoslib.errors import EnosFilePathError, EnosProviderError, EnosReservationError
from enoslib.infra.enos_iotlab import (ConsumptionConfiguration, Iotlab, IotlabConf, IotlabHost, IotlabNetwork,
                                       IotlabSensor, RadioConfiguration)

from iotlab_helpers import make_client

M3, A8 = "m3:at86rf231", "a8:at86rf231"


def conf_for(firmware=None, name="enos", m3=2, a8=1, profile=True):
    conf = IotlabConf.from_settings(job_name=name, walltime="00:30")
    board = {"image": firmware} if firmware else {}
    if profile:
        board["profile"] = "energy"
    conf.add_machine(roles=["sensor"], archi=M3, site="grenoble", number=m3, **board)
    if a8:
        conf.add_machine(roles=["linux"], archi=A8, site="grenoble", number=a8)
    conf.add_network(roles=["lan"], site="grenoble")
    if profile:
        conf.add_profile(name="energy", archi="m3", consumption=ConsumptionConfiguration(power=True, period=1100,
                                                                                           average=64),
                         radio=RadioConfiguration(mode="sniffer", channels=[15]))
    return conf


def live(emu):
    return [e for e in emu.running_experiments() if e.state != "Finishing"]


def test_init_roles_networks_reload_destroy(emu, client, firmware):
    provider = Iotlab(conf_for(firmware), client=client)
    roles, networks = provider.init()
    sensors, linux = roles["sensor"], roles["linux"]
    assert [s.alias for s in sensors] == ["m3-1", "m3-2"] and all(isinstance(s, IotlabSensor) for s in sensors)
    host = linux[0]
    assert isinstance(host, IotlabHost) and host.address == "node-a8-1.grenoble.iot-lab.info"
    assert host.user == "root" and host.extra["gateway"] == "grenoble.iot-lab.info"
    assert host.extra["gateway_user"] == emu.username
    assert {str(n.network) for n in networks["lan"]} == {"2001:660:5307:3100::/57", "172.16.0.0/16"}
    assert all(isinstance(n, IotlabNetwork) for n in networks["lan"])
    board = emu.testbed.by_address["m3-1.grenoble.iot-lab.info"]
    assert board.firmware == "hello.elf" and board.profile["radio"]["mode"] == "sniffer"
    sensors[0].stop()
    assert board.powered is False
    sensors[0].start()
    sensors[0].reset()
    boots = board.boots
    sensors[0].flash(firmware)
    assert board.boots == boots + 1
    # a second run of the same configuration reloads the experiment, never submits twice
    again = Iotlab(conf_for(firmware), client=make_client(emu))
    roles2, _ = again.init()
    assert again.exp_id == provider.exp_id and again.reloaded
    assert [s.address for s in roles2["sensor"]] == [s.address for s in sensors]
    assert again.is_created()
    again.destroy()
    again.destroy()  # safe twice
    emu.advance(10)
    assert live(emu) == [] and not provider.is_created()


def test_force_deploy_reflashes_and_failed_flashes_are_retried(emu, client, firmware):
    emu.faults.update(flash_fail_next=1)  # the first board's flash at start fails
    provider = Iotlab(conf_for(firmware, a8=0), client=client)
    provider.init()
    assert all(emu.testbed.by_address[f"m3-{i}.grenoble.iot-lab.info"].firmware == "hello.elf" for i in (1, 2))
    before = emu.testbed.by_address["m3-2.grenoble.iot-lab.info"].boots
    Iotlab(conf_for(firmware, a8=0), client=client).init(force_deploy=True)
    assert emu.testbed.by_address["m3-2.grenoble.iot-lab.info"].boots == before + 1
    emu.faults.update(flash_failure_rate=1.0)
    with pytest.raises(EnosProviderError, match="could not be flashed"):
        Iotlab(conf_for(firmware, a8=0), client=client).init(force_deploy=True)
    emu.advance(10)
    assert live(emu) == []  # the failure released the experiment


def test_nodes_by_name_and_errors_before_reserving(emu, client, tmp_path):
    conf = IotlabConf.from_settings(job_name="byname").add_machine(
        roles=["r"], hostname=["m3-2.lille.iot-lab.info", "a8-1.lille.iot-lab.info"])
    with Iotlab(conf, client=client) as (roles, _):
        assert [h.alias for h in roles["r"]] == ["m3-2", "a8-1"]
    emu.advance(10)
    assert live(emu) == []
    submitted = len(emu.scheduler.experiments)
    missing = IotlabConf.from_settings().add_machine(roles=["r"], archi=M3, site="lille",
                                                     image=str(tmp_path / "nope.elf"))
    with pytest.raises(EnosFilePathError, match=r"machines\[0\]\.image"):
        Iotlab(missing, client=client).init()
    assert len(emu.scheduler.experiments) == submitted  # nothing was submitted
    with pytest.raises(EnosProviderError, match="Not enough"):
        Iotlab(conf_for(m3=40, profile=False), client=client).init()


def test_experiment_error_and_ctrl_c_release(emu, client):
    emu.faults.update(experiment_error_next=1)
    with pytest.raises(EnosReservationError, match="Error instead of Running"):
        Iotlab(conf_for(profile=False), client=client).init()
    calls = {"n": 0}

    def interrupted(seconds):
        calls["n"] += 1
        emu.advance(seconds)
        if calls["n"] == 2:
            raise KeyboardInterrupt

    c = make_client(emu, poll_interval=1)
    c.sleep = interrupted
    with pytest.raises(KeyboardInterrupt):
        with Iotlab(conf_for(profile=False), client=c):
            raise AssertionError("not reached: interrupted while waiting")
    emu.advance(10)
    assert live(emu) == []
    calls["n"] = 0
    c = make_client(emu, poll_interval=1)
    c.sleep = interrupted
    with pytest.raises(KeyboardInterrupt):
        Iotlab(conf_for(profile=False), client=c).init()
    emu.advance(10)
    assert live(emu) == []


def test_credentials_and_url_from_the_environment(emu, monkeypatch):
    for key, value in emu.env().items():
        monkeypatch.setenv(key, value)
    provider = Iotlab(conf_for(profile=False, a8=0))
    assert provider.client.url == emu.url and provider.client.user == emu.username
    provider.client.sleep = emu.advance
    provider.init()
    provider.destroy()


def test_availability_and_test_slot(emu, client):
    now = emu.clock.now()
    other = Iotlab(conf_for(name="other", m3=5, a8=0, profile=False), client=client)
    other.init()  # holds 5 of the 6 m3 of grenoble for 30 minutes
    mine = Iotlab(conf_for(name="mine", m3=2, a8=0, profile=False), client=client)
    free = mine.availability(now, now + 7200)
    assert not mine.test_slot(now + 60, now + 600)
    assert mine.test_slot(now + 3600, now + 5400)
    assert min(i.start for i in free) >= now + 1799  # dates are whole seconds
    assert "m3:at86rf231 nodes on grenoble" in mine.availability_by_resource(now, now + 7200)
    mine.set_reservation(now + 3600)
    mine.async_init()
    exp = emu.scheduler.experiments[mine.exp_id]
    assert exp.state == "Waiting" and exp.scheduled == pytest.approx(now + 3600, abs=1)
    mine.destroy()
    other.destroy()
    mine.offset_walltime(600)
    assert mine.provider_conf.walltime == "00:40"


def test_providers_start_together(emu, client):
    from enoslib.infra.providers import Providers

    a = Iotlab(conf_for(name="pa", m3=1, a8=0, profile=False), client=client)
    b = Iotlab(conf_for(name="pb", m3=1, a8=1, profile=False), client=make_client(emu))
    with Providers([a, b]) as (roles, _):
        assert len(roles["sensor"]) == 2 and len(roles["linux"]) == 1
    emu.advance(10)
    assert live(emu) == []


def test_randomized_fault_trials_leave_nothing_running(emu, firmware):
    """60 runs under random faults (API errors, flash failures, experiments in Error, nodes
    going Absent, Ctrl-C at a random moment): whatever happens, nothing is left running."""
    rng = random.Random(1234)
    outcomes: dict[str, int] = {}
    for trial in range(60):
        emu.faults.reset()
        for n in emu.testbed.by_address.values():
            n.state = "Alive"
        emu.faults.update(seed=trial, error_rate=rng.choice([0.0, 0.05, 0.15]), error_code=rng.choice([500, 503]),
                          flash_failure_rate=rng.choice([0.0, 0.3, 0.9]),
                          experiment_error_rate=rng.choice([0.0, 0.0, 0.5]))
        if rng.random() < 0.2:
            emu.set_node_state(f"m3-{rng.randint(1, 6)}.grenoble.iot-lab.info", "Absent")
        interrupt_at = rng.choice([None, None, 1, 2, 3, 5])
        calls = {"n": 0}
        client = make_client(emu, poll_interval=5, retries=6)

        def sleep(seconds, calls=calls, interrupt_at=interrupt_at):
            calls["n"] += 1
            emu.advance(seconds)
            if calls["n"] == interrupt_at:
                raise KeyboardInterrupt

        client.sleep = sleep
        provider = Iotlab(conf_for(firmware, name=f"trial-{trial % 3}", m3=rng.randint(1, 3), a8=rng.randint(0, 1),
                                   profile=rng.random() < 0.5), client=client)
        try:
            with provider as (roles, _):
                assert roles["sensor"]
                outcome = "ok"
        except KeyboardInterrupt:
            outcome = "interrupted"
        except EnosProviderError as exc:  # reservation errors included
            outcome = type(exc).__name__
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        emu.faults.reset()
        emu.advance(10)
        assert live(emu) == [], f"trial {trial} ({outcome}) left {live(emu)}"
    assert outcomes.get("ok", 0) >= 10 and outcomes.get("interrupted", 0) >= 5, outcomes
    assert len(outcomes) >= 3, outcomes
