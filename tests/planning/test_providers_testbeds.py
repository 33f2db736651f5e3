"""The meta-provider over real providers: Static + Static, and G5k on the Grid'5000 emulator."""

from __future__ import annotations

import secrets

import pytest

from enoslib.infra.providers import Providers
from enoslib.infra.enos_static import Static, StaticConf


def static(name, *machines):
    conf = StaticConf.from_settings()
    for roles, address in machines:
        conf.add_machine(roles=roles, address=address)
    conf.add_network(roles=[f"{name}-net"], cidr="10.0.0.0/24", gateway="10.0.0.254")
    return Static(conf, name=name)


def addresses(hosts):
    return [h.address for h in hosts]


def test_static_and_static_merge_roles_and_keep_them_by_provider():
    one = static("one", (["server"], "10.0.0.1"), (["client"], "10.0.0.2"))
    two = static("two", (["server", "db"], "10.0.0.3"))
    group = Providers([one, two])
    assert reload_free(group)
    with group as (roles, networks):
        assert addresses(roles["server"]) == ["10.0.0.1", "10.0.0.3"]
        assert addresses(roles["db"]) == ["10.0.0.3"]
        assert addresses(group.roles_by_provider["one"]["server"]) == ["10.0.0.1"]
        assert addresses(roles["one"]) == ["10.0.0.1", "10.0.0.2"]  # a role per provider (EnOSlib's)
        assert addresses(roles["two"]) == ["10.0.0.3"]
        assert [n.cidr for n in networks["one-net"]] == ["10.0.0.0/24"]
        assert set(group.networks_by_provider) == {"one", "two"}
        assert group.is_created() and one.reservation == two.reservation == group.start_time
    assert not one.is_created() and not two.is_created()


def reload_free(group):
    """Static providers are always available: the search is immediate."""
    plan = group.plan(start_time=1_000, time_window=0)
    return plan.start == 1_000


def test_duplicate_names_are_made_unique_and_role_clashes_are_skipped():
    a = static("x", (["Static"], "10.0.0.1"))
    a.name = "Static"
    b = static("y", (["b"], "10.0.0.2"))
    b.name = "Static"
    group = Providers([a, b])
    assert group.names == ["Static", "Static-2"]
    roles, _ = group.init()
    assert addresses(roles["Static"]) == ["10.0.0.1"]  # the user's role, not overwritten
    assert addresses(roles["Static-2"]) == ["10.0.0.2"]
    assert addresses(group.roles_by_provider["Static"].all()) == ["10.0.0.1"]
    group.destroy()


def test_bad_arguments():
    from enoslib.errors import EnosConfigError

    with pytest.raises(EnosConfigError, match="at least one"):
        Providers([])
    with pytest.raises(EnosConfigError, match="not a Provider"):
        Providers([object()])
    with pytest.raises(ValueError, match="negative"):
        Providers([static("s", (["a"], "10.0.0.1"))]).init(time_window=-1)


# -- Grid'5000 emulator ---------------------------------------------------------------------------

def _g5k_available():
    try:
        import grid5000  # noqa: F401

        from enoslib.emulators.g5k import G5kEmulator, legacy_dataset  # noqa: F401
        from enoslib.infra.enos_g5k import G5k  # noqa: F401
    except Exception:  # noqa: BLE001 - being written, or the extra is missing
        return False
    return True


g5k_only = pytest.mark.skipif(not _g5k_available(), reason="G5k provider/emulator or python-grid5000 missing")

USERS = ["alice", "bob"]  # two accounts; their passwords are generated per run


@pytest.fixture
def emu(tmp_path):
    from enoslib.config import config_context
    from enoslib.emulators.g5k import G5kEmulator, legacy_dataset
    from enoslib.infra.enos_g5k.client import reset_api

    with config_context(cache_dir=str(tmp_path / "cache"), display="noop"), \
            G5kEmulator(legacy_dataset(4), speed=0, backend="address", nodes_per_cluster=4, launch_delay=3,
                        users={u: secrets.token_urlsafe(12) for u in USERS}) as e:
        yield e
    reset_api()


def client_of(emu, user="alice"):
    from enoslib.infra.enos_g5k.client import G5kClient

    return G5kClient(emu.uri, user, emu.users[user], sleep=emu.advance, now=emu.clock.now)


def g5k(emu, name, cluster, nodes, walltime, **kwargs):
    from enoslib.infra.enos_g5k import G5k, G5kConf

    conf = (G5kConf.from_settings(job_name=name, walltime=walltime, root_access=False)
            .add_machine(roles=["compute", name], cluster=cluster, nodes=nodes))
    return G5k(conf, name=name, client=client_of(emu), **kwargs)


def bob_reserves(emu, cluster, nodes, start, walltime="1:00:00"):
    from enoslib.infra.enos_g5k import oar

    site = {"paravance": "rennes", "grisou": "nancy"}[cluster]
    spec = oar.JobSpec(site=site, resources=f"{{cluster='{cluster}'}}/nodes={nodes}", walltime=walltime,
                       name="bob-job", reservation=oar.to_oar_date(start))
    job = oar.submit(client_of(emu, "bob"), spec, user="bob")
    return int(job["scheduled_at"]) + int(job["walltime"])


def alice_jobs(emu):
    from enoslib.infra.enos_g5k.oar import ACTIVE_STATES

    probe = client_of(emu)
    return [(site, j["uid"], j.get("name"), int(j.get("scheduled_at") or 0))
            for site in ("rennes", "nancy", "lyon")
            for j in probe.items(f"/sites/{site}/jobs", state=",".join(ACTIVE_STATES), user="alice")]


@g5k_only
def test_g5k_two_sites_and_static_start_at_the_exact_common_slot(emu):
    now = emu.clock.now()
    bob_end = bob_reserves(emu, "paravance", 4, now + 1800)  # the whole cluster, +30 min to +1h30
    rennes = g5k(emu, "rennes", "paravance", 2, "1:00:00")
    nancy = g5k(emu, "nancy", "grisou", 1, "0:30:00")
    lab = static("lab", (["compute"], "10.0.0.9"))
    group = Providers([rennes, nancy, lab], clock=emu.clock.now)
    roles, _ = group.init(time_window=4 * 3600)
    # one hour on paravance does not fit before bob's job: the first second after it does
    assert group.start_time == bob_end
    assert sorted({at for *_, at in alice_jobs(emu)}) == [bob_end]
    assert len(roles["compute"]) == 4 and addresses(roles["lab"]) == ["10.0.0.9"]
    assert len(group.roles_by_provider["rennes"]["compute"]) == 2
    assert emu.clock.now() >= bob_end  # init waited for the jobs (virtual time)
    group.destroy()
    assert alice_jobs(emu) == []


@g5k_only
def test_g5k_refusal_hint_is_followed_and_the_other_site_resubmitted(emu):
    """Bob grabs paravance right after our availability read: OAR refuses our job and says
    when it could run; the nancy job (not movable) is deleted, and both start at the hint."""
    from enoslib.infra.enos_g5k import G5k

    now = emu.clock.now()
    state = {}

    class Raced(G5k):
        def availability(self, start, end):
            free = super().availability(start, end)
            if not state:
                state["bob_end"] = bob_reserves(emu, "paravance", 4, now + 30, walltime="2:00:00")
            return free

    rennes = g5k(emu, "rennes", "paravance", 2, "1:00:00")
    rennes.__class__ = Raced
    nancy = g5k(emu, "nancy", "grisou", 1, "1:00:00")
    group = Providers([rennes, nancy], clock=emu.clock.now)
    group.init(time_window=6 * 3600)
    assert group.start_time == state["bob_end"]
    jobs = alice_jobs(emu)
    assert sorted(site for site, *_ in jobs) == ["nancy", "rennes"]
    assert {at for *_, at in jobs} == {state["bob_end"]}
    # the first nancy job (at the refused time) was deleted: it ended in state error
    killed = client_of(emu).items("/sites/nancy/jobs", state="error", user="alice")
    assert len(killed) == 1 and int(killed[0]["scheduled_at"]) < state["bob_end"]
    group.destroy()
    assert alice_jobs(emu) == []


@g5k_only
def test_g5k_failure_mid_start_leaves_no_job(emu):
    """The nancy job goes to error while we wait: the rennes job is deleted too."""
    from enoslib.errors import EnosProviderError

    emu.faults.update(job_error_next=1)
    rennes = g5k(emu, "rennes", "paravance", 1, "1:00:00")
    nancy = g5k(emu, "nancy", "grisou", 1, "1:00:00")
    with pytest.raises(EnosProviderError):
        Providers([rennes, nancy], clock=emu.clock.now).init(time_window=3600)
    assert alice_jobs(emu) == []


@g5k_only
def test_g5k_no_slot_names_the_busy_cluster(emu):
    from enoslib.errors import NoSlotError

    now = emu.clock.now()
    bob_end = bob_reserves(emu, "paravance", 4, now + 60, walltime="10:00:00")
    rennes = g5k(emu, "rennes", "paravance", 1, "1:00:00")
    nancy = g5k(emu, "nancy", "grisou", 1, "1:00:00")
    with pytest.raises(NoSlotError) as err:
        Providers([rennes, nancy], clock=emu.clock.now).init(time_window=3600)
    assert err.value.blocking == ("rennes",)
    assert err.value.next_possible == bob_end
    assert alice_jobs(emu) == []
