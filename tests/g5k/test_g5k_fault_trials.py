"""Seeded randomized fault trials of the Grid'5000 provider on the emulator: 5xx and resets at
random rates, API outages (virtual time), stalled APIs (connections accepted, never answered)
and two runs of the same configuration started at the same moment (sharing this machine's
lock, or as two machines). Every trial checks: no job left behind, never two jobs of one name
on a site, both runs use the same jobs, and nothing but a documented error escapes.

Waits run on the emulator's virtual clock; the stalled API costs real time, kept small with
0.1 s read timeouts."""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest
from g5k_helpers import StallingProxy, active_jobs, make_client, random_conf

from enoslib.config import config_context
from enoslib.errors import EnosError
from enoslib.infra.enos_g5k import G5k
from enoslib.infra.enos_g5k.client import G5kClient
from enoslib.infra.enos_g5k.provider import pending_releases

TRIALS = 320
KINDS = ["faults", "faults", "outage", "stall", "double", "double-machines"]


class ExperimentFailed(RuntimeError):
    """The user's own code failing inside ``with provider``."""


def draw_faults(emu, rng, seed):
    emu.faults.update(seed=seed, error_rate=rng.choice([0.0, 0.1, 0.2, 0.3]),
                      error_code=rng.choice([500, 502, 503, 504]), reset_rate=rng.choice([0.0, 0.05, 0.1]),
                      job_error_rate=rng.choice([0.0, 0.0, 0.3]), deploy_failure_rate=rng.choice([0.0, 0.3]),
                      error_methods=rng.choice([["GET", "POST", "PUT", "DELETE"], ["DELETE"], ["POST"]]))


def client_for(emu, rng, uri=None, **options):
    options.setdefault("retries", rng.choice([1, 3, 6]))
    if uri is None:
        return make_client(emu, **options)
    return G5kClient(uri, emu.username, emu.password, sleep=emu.advance, now=emu.clock.now, **options)


def run_once(provider, rng, conf, crashes):
    """One user run: with G5k(...) as roles, maybe failing inside; returns whether init worked."""
    try:
        with provider:
            for i, m in enumerate(conf.machine_specs()):
                assert len(provider.groups.get(i, [])) >= m["min"]
            if rng.random() < 0.3:
                raise ExperimentFailed("the experiment itself failed")
            return True
    except (EnosError, ExperimentFailed):
        return False
    except Exception as exc:  # noqa: BLE001 - a crash: reported by the trial
        crashes.append(repr(exc))
        return False


def double_start(emu, rng, key, name, tmp_path, machines):
    """Two runs of one configuration released at the same instant (threads)."""
    crashes, problems = [], []
    confs = [random_conf(random.Random(rng.random()), key, name)] * 2
    providers = [G5k(c, client=client_for(emu, rng),
                     state_dir=(tmp_path / f"machine{i}") if machines else None) for i, c in enumerate(confs)]

    def check():  # runs once, when both runs are inside their ``with``
        per_site = Counter(site for site, _, _, jname in active_jobs(emu) if jname == name)
        if any(n > 1 for n in per_site.values()):
            problems.append(f"duplicates: {dict(per_site)}")
        if providers[0].job_ids != providers[1].job_ids:
            problems.append(f"different jobs: {providers[0].job_ids} / {providers[1].job_ids}")

    start, inside = threading.Barrier(2), threading.Barrier(2, action=check)

    def run(p):
        start.wait()
        try:
            with p:
                inside.wait(timeout=60)
        except threading.BrokenBarrierError:
            pass
        except EnosError:
            inside.abort()  # the other run must not wait for this one
        except Exception as exc:  # noqa: BLE001
            inside.abort()
            crashes.append(repr(exc))

    threads = [threading.Thread(target=run, args=(p,)) for p in providers]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return crashes, problems


@pytest.mark.parametrize("seed", range(TRIALS))
def test_fault_trial(emu, key, tmp_path, seed):
    rng = random.Random(7000 + seed)
    kind = KINDS[seed % len(KINDS)]
    name = f"t{seed}"
    crashes, problems = [], []
    proxy = None
    with config_context(g5k_release_deadline=1800, g5k_api_deadline=rng.choice([30, 120]), g5k_backoff=1,
                        g5k_max_backoff=30):
        if kind in ("double", "double-machines"):
            if rng.random() < 0.5:
                draw_faults(emu, rng, seed)
            crashes, problems = double_start(emu, rng, key, name, tmp_path, kind == "double-machines")
        else:
            conf = random_conf(rng, key, name)
            if kind == "stall":
                proxy = StallingProxy(emu)
                client = client_for(emu, rng, proxy.uri, timeout=(0.5, 0.1), deadline=rng.choice([0.5, 2]))
                proxy.stall_for(rng.uniform(0.05, 0.6))
            else:
                client = client_for(emu, rng)
                if kind == "faults":
                    draw_faults(emu, rng, seed)
                else:
                    emu.faults.down_for(rng.uniform(5, 900))
            try:
                run_once(G5k(conf, client=client), rng, conf, crashes)
            finally:
                if proxy is not None:
                    proxy.close()
    emu.faults.reset()
    assert crashes == [], f"{kind}: {crashes}"
    assert problems == [], f"{kind}: {problems}"
    assert active_jobs(emu) == [], f"{kind}: jobs left behind"
    assert pending_releases() == [], f"{kind}: release left to a later run"
