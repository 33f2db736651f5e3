"""The rest of execo_g5k's API against the emulator: Kadeployer, oargrid, charter budget,
APIConnection, G5kAutoPortForwarder, the planning names."""

from __future__ import annotations

import datetime as dt

import pytest

from enoslib import g5k
from enoslib.infra.enos_g5k.client import set_api
from enoslib.infra.enos_g5k.oar import PARIS


@pytest.fixture
def api(emu, client):
    set_api(client=client)
    return client


def test_kadeployer_lifecycle(emu, api):
    emu.faults.update(deploy_fail_nodes=["nova-2.lyon.grid5000.fr"])
    [(job_id, site)] = g5k.oarsub([(g5k.OarSubmission("{cluster='nova'}/nodes=3", walltime=3600,
                                                      job_type="deploy"), "lyon")])
    hosts = g5k.get_oar_job_nodes(job_id, site)
    k = g5k.Kadeployer(g5k.Deployment(hosts, env_name="debian12-min", key="ssh-ed25519 AAAA t"))
    assert not k.started and not k.ok
    k.run()
    assert k.started and k.ended and not k.ok
    assert k.deployed_hosts == {"nova-1.lyon.grid5000.fr", "nova-3.lyon.grid5000.fr"}
    assert k.error_hosts == {"nova-2.lyon.grid5000.fr"}
    with pytest.raises(RuntimeError, match="already started"):
        k.start()
    # killed while running: cancelled, nothing deployed
    killed = g5k.Kadeployer(g5k.Deployment(hosts[:1], env_name="debian12-min", key="k")).start()
    killed.kill()
    assert killed.ended and not killed.ok and killed.error_hosts == {"nova-1.lyon.grid5000.fr"}
    g5k.oardel([(job_id, site)])


def test_oargrid_over_oar_jobs(emu, api):
    grid_id, key = g5k.oargridsub([(g5k.OarSubmission("{cluster='paravance'}/nodes=2"), "rennes"),
                                   (g5k.OarSubmission("{cluster='nova'}/nodes=1"), "lyon")], walltime=1800)
    assert isinstance(grid_id, int) and key is None
    jobs = g5k.get_oargrid_job_oar_jobs(grid_id)
    assert sorted(s for _, s in jobs) == ["lyon", "rennes"]
    assert g5k.wait_oargrid_job_start(grid_id)
    assert grid_id in g5k.get_current_oargrid_jobs()
    info = g5k.get_oargrid_job_info(grid_id)
    assert info["walltime"] == 1800 and info["start_date"] <= emu.clock.now() and len(info["jobs"]) == 2
    assert [h.address for h in g5k.get_oargrid_job_nodes(grid_id)] == [
        "nova-1.lyon.grid5000.fr", "paravance-1.rennes.grid5000.fr", "paravance-2.rennes.grid5000.fr"]
    second, _ = g5k.oargridsub([(g5k.OarSubmission("nodes=1"), "nancy")], walltime=600)
    assert second == grid_id + 1
    g5k.oargriddel([grid_id])
    assert g5k.get_current_oargrid_jobs() == [second]
    with pytest.raises(ValueError, match=f"no oargrid job {grid_id}"):
        g5k.get_oargrid_job_oar_jobs(grid_id)
    # all or nothing
    assert g5k.oargridsub([(g5k.OarSubmission("{cluster='paravance'}/nodes=1"), "rennes"),
                           (g5k.OarSubmission("{cluster='nova'}/nodes=99"), "lyon")]) == (None, None)
    g5k.oargriddel([second])


def test_charter_remaining_counts_jobs_in_the_charter_period(emu, api):
    now = dt.datetime.fromtimestamp(emu.clock.now(), PARIS)
    day = now.date() + dt.timedelta(days=1)
    while day.weekday() >= 5 or day in g5k.charter.french_holidays(day.year):
        day += dt.timedelta(days=1)
    at_10 = dt.datetime.combine(day, dt.time(10), PARIS).timestamp()
    at_22 = dt.datetime.combine(day, dt.time(22), PARIS).timestamp()
    [(j1, _)] = g5k.oarsub([(g5k.OarSubmission("{cluster='paravance'}/nodes=2", walltime=3600,
                                               reservation_date=at_10), "rennes")])
    [(j2, _)] = g5k.oarsub([(g5k.OarSubmission("{cluster='paravance'}/nodes=1", walltime=3600,
                                               reservation_date=at_22), "rennes")])  # night: free
    cores = g5k.get_host_attributes("paravance-1")["architecture"]["nb_cores"]
    left = g5k.g5k_charter_remaining(["rennes"], day)
    total = len(g5k.get_cluster_hosts("paravance")) * cores * 7200
    assert left["paravance"] == total - 2 * cores * 3600
    assert left["parasilo"] > 0 and "roazhon4" in left
    saturday = day + dt.timedelta(days=(5 - day.weekday()) % 7 or 7)
    assert g5k.g5k_charter_remaining("rennes", saturday)["paravance"] == total
    g5k.oardel([(j1, "rennes"), (j2, "rennes")])


def test_api_connection_port_forwarder_and_planning_names(emu, api):
    conn = g5k.APIConnection(emu.uri, emu.username, emu.password)
    assert conn.get("sites/nancy").json()["uid"] == "nancy"
    assert conn.get("/sites").status_code == 200
    job = conn.post("/sites/lyon/jobs", {"resources": "nodes=1", "command": "sleep 60"}).json()
    assert job["uid"]
    g5k.oardel([(job["uid"], "lyon")])
    with g5k.G5kAutoPortForwarder("rennes", "oardb.rennes.grid5000.fr", 5432, gateway=None) as (host, port):
        assert (host, port) == ("oardb.rennes.grid5000.fr", 5432)
    from enoslib.g5k.planning import compute_slots, draw_gantt, get_jobs_specs, get_planning
    import enoslib.planning
    assert get_planning is enoslib.planning.get_planning and compute_slots is enoslib.planning.compute_slots
    assert callable(draw_gantt) and callable(get_jobs_specs)
