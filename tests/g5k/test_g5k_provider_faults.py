"""Reliability under injected faults: whatever goes wrong (5xx, resets, jobs in error, failed
deployments, Ctrl-C in the middle of init), no job is left behind. Randomized but seeded."""

from __future__ import annotations

import _thread
import random
import threading

import pytest
from g5k_helpers import active_jobs, basic_conf, make_client, random_conf

from enoslib.errors import EnosError
from enoslib.infra.enos_g5k import G5k

TRIALS = 100


@pytest.mark.parametrize("seed", range(TRIALS))
def test_no_job_survives_faults(emu, key, seed):
    rng = random.Random(seed)
    emu.faults.update(seed=seed, error_rate=rng.choice([0.0, 0.1, 0.2]), error_code=rng.choice([500, 502, 503, 504]),
                      reset_rate=rng.choice([0.0, 0.05]), job_error_rate=rng.choice([0.0, 0.3]),
                      deploy_failure_rate=rng.choice([0.0, 0.3]), deploy_error_next=rng.choice([0, 1]))
    client = make_client(emu, retries=8)
    conf = random_conf(rng, key, f"trial{seed}")
    provider = G5k(conf, client=client)
    try:
        with provider as (roles, _):
            for i, m in enumerate(conf.machine_specs()):  # every group got at least its min
                assert len(provider.groups.get(i, [])) >= m["min"]
            assert {h.address for hs in roles.values() for h in hs} == {
                h.ssh_address for h in provider.deployed}
            if rng.random() < 0.5:
                raise RuntimeError("the experiment itself failed")
    except (EnosError, RuntimeError):
        pass
    emu.faults.reset()
    assert active_jobs(emu) == []


@pytest.mark.parametrize("seed", range(30))
def test_ctrl_c_mid_init_releases_everything(emu, key, seed):
    """A real Ctrl-C (SIGINT delivered to the main thread) at a random moment of init."""
    rng = random.Random(1000 + seed)
    emu.faults.update(latency=0.004)  # real time, so the interrupt lands mid-flight
    conf = random_conf(rng, key, f"ctrlc{seed}")
    provider = G5k(conf, client=make_client(emu))
    timer = threading.Timer(rng.uniform(0.0, 0.12), _thread.interrupt_main)
    interrupted = False
    try:
        timer.start()
        with provider:
            timer.join()
    except KeyboardInterrupt:
        interrupted = True
    except EnosError:
        pass
    finally:
        timer.cancel()
    emu.faults.reset()
    assert active_jobs(emu) == [], f"interrupted={interrupted}"


def test_keyboard_interrupt_while_waiting(emu, key):
    """Ctrl-C while waiting for a far reservation: the jobs already submitted are deleted."""
    client = make_client(emu)
    calls = []

    def sleep(seconds):
        calls.append(seconds)
        if len(calls) == 2:
            raise KeyboardInterrupt
        emu.advance(seconds)

    client.sleep = sleep
    conf = (basic_conf(job_name="wait").add_machine(roles=["a"], cluster="paravance", nodes=1)
            .add_machine(roles=["b"], cluster="grisou", nodes=1))
    provider = G5k(conf, client=client)
    provider.set_reservation(emu.clock.now() + 3600)
    with pytest.raises(KeyboardInterrupt):
        provider.init()
    assert active_jobs(emu) == [] and provider.job_ids == []


def test_api_down_then_back(emu, key):
    emu.faults.down_for(30)  # virtual seconds: the client's backoff sleeps move the clock
    client = make_client(emu, backoff=4, retries=6)
    provider = G5k(basic_conf(job_name="down").add_machine(roles=["a"], cluster="nova", nodes=1), client=client)
    roles, _ = provider.init()
    assert len(roles["a"]) == 1
    provider.destroy()
    assert active_jobs(emu) == []


def test_ctrl_c_while_threads_start_still_waits_for_the_submissions_in_flight():
    """The window behind the jobs left ``waiting`` by Ctrl-C under load: the interrupt lands
    while the main thread is still starting worker threads (slow on a loaded machine) and an
    earlier worker is already submitting. Every started task must end before Ctrl-C goes on,
    or the job it creates is never recorded nor released."""
    import time

    from enoslib.infra.enos_g5k import oar

    done = threading.Event()

    def first():  # the first submission: Ctrl-C arrives while it is in flight
        _thread.interrupt_main()
        time.sleep(0.3)
        done.set()

    cancelled = threading.Event()
    with pytest.raises(KeyboardInterrupt):
        oar.run_parallel([first] + [lambda: time.sleep(0.01)] * 15, cancelled)
    assert done.is_set() and cancelled.is_set()
