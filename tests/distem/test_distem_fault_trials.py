"""Randomized fault trials: the Distem API failing (HTTP errors, connection resets, vnodes that
fail to start or start slowly, pnodes that cannot be initialised) and Ctrl-C at a random moment,
60 times; after each, no job, no vnode and no vnetwork is left."""

from __future__ import annotations

import _thread
import random
import threading

from g5k_helpers import active_jobs, make_client

from enoslib.errors import EnosError
from enoslib.infra.enos_distem import Distem, DistemConf

TRIALS = 60


def test_fault_trials_leak_nothing(emu, coordinator, key):
    outcomes = {"ok": 0, "error": 0, "interrupted": 0}
    for trial in range(TRIALS):
        rng = random.Random(1000 + trial)
        coordinator.faults.reset()
        coordinator.faults.update(
            seed=trial, error_rate=rng.choice([0, 0.05, 0.1]), reset_rate=rng.choice([0, 0, 0.03]),
            start_fail_rate=rng.choice([0, 0.2, 0.5, 1.0]), start_delay=rng.choice([0, 0.01]),
            pnode_fail_rate=rng.choice([0, 0, 0, 0.5]))
        conf = DistemConf.from_settings(job_name=f"trial-{trial % 3}", key=key)
        for g in range(rng.randint(1, 2)):
            conf.add_machine(roles=[f"g{g}"], cluster=rng.choice(["paravance", "parasilo"]),
                             number=rng.randint(1, 4), flavour=rng.choice(["tiny", "large"]))
        timer = threading.Timer(rng.uniform(0.0, 0.25), _thread.interrupt_main) if rng.random() < 0.35 else None
        provider = Distem(conf, client=make_client(emu), coordinator=("127.0.0.1", coordinator.port),
                          start_timeout=30)
        try:
            try:
                if timer is not None:
                    timer.start()
                with provider as (roles, _):
                    assert sum(len(roles[f"g{g}"]) for g in range(len(conf.machines))) == sum(
                        m.number for m in conf.machines)
                    outcome = "ok"
            finally:
                if timer is not None:
                    timer.cancel()
                    timer.join()
        except KeyboardInterrupt:
            outcome = "interrupted"
            provider.destroy()  # the interrupt may have come after the with block released
        except EnosError:
            outcome = "error"
        outcomes[outcome] += 1
        coordinator.faults.reset()
        coordinator.coordinator.wait_starts()
        assert active_jobs(emu) == [], f"trial {trial} ({outcome}) left a job"
        state = coordinator.state()
        assert state["vnodes"] == {} and state["vnetworks"] == [], f"trial {trial} ({outcome}) left {state}"
    assert outcomes["ok"] and outcomes["error"], outcomes
