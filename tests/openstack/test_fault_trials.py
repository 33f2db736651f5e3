"""Randomized fault trials: 5xx answers, lost answers (the cloud acted, the client saw 502),
servers in ERROR, busy deletes (409), leases in ERROR, and Ctrl-C at a random API call. Each
trial must end with nothing the provider made left on the cloud: 0 servers, 0 floating IPs,
0 leases (and no network, port, router, security group or keypair)."""

from __future__ import annotations

import random

import pytest

from enoslib.errors import EnosError
from enoslib.infra.enos_chameleonbaremetal import Chameleonbaremetal
from enoslib.infra.enos_openstack import Openstack

from os_helpers import baremetal_conf, leaks, openstack_conf, provider_kwargs

TRIALS = 60


class CtrlC:
    """A response hook raising KeyboardInterrupt at the ``at``-th API answer (once)."""

    def __init__(self, at: int | None) -> None:
        self.at, self.seen, self.fired = at, 0, False

    def __call__(self, response, *args, **kwargs):
        self.seen += 1
        if self.at is not None and not self.fired and self.seen >= self.at:
            self.fired = True
            raise KeyboardInterrupt
        return response


@pytest.mark.parametrize("seed", range(TRIALS))
def test_fault_trial_leaves_nothing(seed, emu, chameleon):
    rng = random.Random(seed)
    baremetal = seed % 3 == 2
    cloud = chameleon if baremetal else emu
    cloud.faults.update(seed=seed, error_rate=rng.uniform(0, 0.15), lost_answer_rate=rng.uniform(0, 0.15),
                        boot_error_rate=rng.uniform(0, 0.3), conflict_rate=rng.uniform(0, 0.2),
                        lease_error_rate=rng.uniform(0, 0.15) if baremetal else 0.0)
    if baremetal:
        provider = Chameleonbaremetal(baremetal_conf(haswell=rng.randint(1, 3)),
                                      **provider_kwargs(cloud, boot_retries=3))
    else:
        provider = Openstack(openstack_conf(servers=rng.randint(1, 3), clients=rng.randint(0, 2)),
                             **provider_kwargs(cloud, boot_retries=3))
    ctrl_c = CtrlC(rng.randint(1, 45) if rng.random() < 0.4 else None)
    provider.client.conn.session.session.hooks["response"].append(ctrl_c)
    try:
        roles, _ = provider.init()
    except KeyboardInterrupt:
        assert ctrl_c.fired
    except EnosError:
        pass  # too many faults for this run: acceptable, as long as nothing is left
    else:
        assert len(roles.all()) == len(provider.specs)
        ctrl_c.at = None  # Ctrl-C during a release is deferred (sigint_deferred), not tested here
        provider.destroy()
    assert leaks(cloud) == {}, f"trial {seed}: {cloud.faults}"
