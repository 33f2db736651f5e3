"""The execo_g5k-compatible toolbox (enoslib.g5k) against the emulator."""

from __future__ import annotations

import datetime as dt

import pytest
from g5k_helpers import active_jobs

from enoslib import g5k
from enoslib.infra.enos_g5k.client import set_api
from enoslib.infra.enos_g5k.oar import PARIS


@pytest.fixture
def api(emu, client):
    set_api(client=client)
    return client


def test_oarsub_wait_nodes_info_oardel(emu, api):
    spec = g5k.OarSubmission("{cluster='paravance'}/nodes=2", walltime=3600, name="tb", job_type="deploy")
    [(job_id, site)] = g5k.oarsub([(spec, "rennes")])
    assert site == "rennes" and job_id
    predictions = []
    assert g5k.wait_oar_job_start(job_id, "rennes", prediction_callback=predictions.append)
    assert predictions
    hosts = g5k.get_oar_job_nodes(job_id, "rennes")
    assert [h.address for h in hosts] == ["paravance-1.rennes.grid5000.fr", "paravance-2.rennes.grid5000.fr"]
    info = g5k.get_oar_job_info(job_id, "rennes")
    assert info["state"] == "Running" and info["walltime"] == 3600 and info["name"] == "tb"
    assert info["start_date"] <= emu.clock.now()
    assert g5k.get_current_oar_jobs(["rennes", "nancy"]) == [(job_id, "rennes")]
    g5k.oardel([(job_id, "rennes"), (123456, "rennes")])  # unknown ids are ignored
    assert active_jobs(emu) == []
    assert not g5k.wait_oar_job_start(job_id, "rennes")


def test_current_jobs_time_filters(emu, api):
    now = emu.clock.now()
    later = g5k.OarSubmission("nodes=1", walltime="1:00:00", reservation_date=now + 7200)
    soon = g5k.OarSubmission("nodes=1", walltime="1:00:00")
    jobs = g5k.oarsub([(later, "lyon"), (soon, "lyon")])
    assert all(j for j, _ in jobs)
    assert g5k.get_current_oar_jobs(["lyon"], start_between=(now + 3600, None)) == [jobs[0]]
    assert g5k.get_current_oar_jobs(["lyon"], end_between=(None, now + 2.5 * 3600)) == [jobs[1]]
    g5k.oardel(jobs)


def test_subnets_and_kavlan(emu, api):
    spec = g5k.OarSubmission(["{cluster='grisou'}/nodes=1", "{type='kavlan'}/vlan=1", "slash_22=1"],
                             walltime=1800, job_type="deploy")
    [(job_id, site)] = g5k.oarsub([(spec, "nancy")])
    vlans = g5k.get_oar_job_kavlan(job_id, site)
    assert len(vlans) == 1 and 4 <= vlans[0] <= 9
    pairs, params = g5k.get_oar_job_subnets(job_id, site)
    assert len(pairs) == 1022
    _, mac = pairs[0]
    assert mac.startswith("00:16:3e:") and params["ip_prefix"].endswith("/22")
    assert params["gateway"] == emu.ref.sites["nancy"]["g5ksubnet"]["gateway"]
    assert params["dns_ip"] and params["dns_hostname"] == "dns.nancy.grid5000.fr"
    g5k.oardel([(job_id, site)])


def test_oarsubgrid_is_all_or_nothing(emu, api):
    ok = g5k.oarsubgrid([(g5k.OarSubmission("{cluster='paravance'}/nodes=1"), "rennes"),
                         (g5k.OarSubmission("{cluster='nova'}/nodes=1"), "lyon")], walltime=600)
    assert sorted(s for _, s in ok) == ["lyon", "rennes"]
    g5k.oardel(ok)
    bad = g5k.oarsubgrid([(g5k.OarSubmission("{cluster='paravance'}/nodes=1"), "rennes"),
                          (g5k.OarSubmission("{cluster='nosuch'}/nodes=1"), "lyon")], walltime=600)
    assert bad == [] and active_jobs(emu) == []


def test_clever_deploy(emu, api, tmp_path):
    emu.faults.update(deploy_fail_nodes=["paravance-2.rennes.grid5000.fr"])
    [(job_id, site)] = g5k.oarsub([(g5k.OarSubmission("{cluster='paravance'}/nodes=3", walltime=3600,
                                                      job_type="deploy"), "rennes")])
    hosts = g5k.get_oar_job_nodes(job_id, site)
    deployment = g5k.Deployment(hosts, env_name="debian12-min", key="ssh-ed25519 AAAA test")
    deployed, undeployed = g5k.deploy(deployment, check_deployed_command=False, num_tries=2)
    assert undeployed == {"paravance-2.rennes.grid5000.fr"} and len(deployed) == 2
    assert len(api.items("/sites/rennes/deployments")) == 2
    # without a check command nothing is known deployed: one round, then enough
    again = g5k.deploy(deployment, check_deployed_command=False, num_tries=3,
                       check_enough_func=lambda d, u: len(d) >= 1)
    assert again == (deployed, undeployed) and len(api.items("/sites/rennes/deployments")) == 3
    g5k.oardel([(job_id, site)])


def test_check_enough_after_a_round(emu, api):
    emu.faults.update(deploy_fail_nodes=["nova-1"])
    [(job_id, site)] = g5k.oarsub([(g5k.OarSubmission("{cluster='nova'}/nodes=2", walltime=3600,
                                                      job_type="deploy"), "lyon")])
    hosts = g5k.get_oar_job_nodes(job_id, site)
    deployed, _ = g5k.deploy(g5k.Deployment(hosts, env_name="debian12-min", key="k"),
                                      check_deployed_command=False, num_tries=5,
                                      check_enough_func=lambda d, u: len(d) >= 1)
    assert deployed == {"nova-2.lyon.grid5000.fr"} and len(api.items("/sites/lyon/deployments")) == 1
    g5k.oardel([(job_id, site)])


def test_reference_utilities_use_the_disk_cache(emu, api):
    assert g5k.get_g5k_sites() == ["lyon", "nancy", "rennes"]
    assert g5k.get_cluster_site("grisou") == "nancy"
    assert "roazhon4" not in g5k.get_site_clusters("rennes")
    assert "roazhon4" in g5k.get_site_clusters("rennes", queues="production")
    assert g5k.get_cluster_hosts("nova")[:2] == ["nova-1.lyon.grid5000.fr", "nova-2.lyon.grid5000.fr"]
    attrs = g5k.get_host_attributes("paravance-1-eth1-kavlan-4.rennes.grid5000.fr")
    assert attrs["uid"] == "paravance-1" and attrs["network_adapters"]
    assert g5k.get_cluster_attributes("pyxis")["exotic"] is True
    assert g5k.get_site_attributes("lyon")["uid"] == "lyon"
    assert g5k.group_hosts(["grisou-2.nancy.grid5000.fr", "paravance-1.rennes.grid5000.fr", "grisou-1"]) == {
        "nancy": {"grisou": ["grisou-2.nancy.grid5000.fr", "grisou-1"]},
        "rennes": {"paravance": ["paravance-1.rennes.grid5000.fr"]}}
    before = api.request_count
    g5k.get_cluster_site("grisou"), g5k.get_cluster_hosts("nova"), g5k.get_host_attributes("nova-1")
    assert api.request_count == before  # memory + disk: no request
    from enoslib.g5k import api_utils
    api_utils._refs.clear()  # a new process: only the version check (GET /sites) goes out
    assert g5k.get_cluster_hosts("nova") and api.request_count == before + 1


def test_host_names():
    assert g5k.canonical_host_name("paravance-1-eth1-kavlan-4-ipv6.rennes.grid5000.fr") == \
        "paravance-1.rennes.grid5000.fr"
    assert g5k.get_host_interface("paravance-1-eth1.rennes.grid5000.fr") == "eth1"
    assert g5k.get_host_interface("paravance-1.rennes.grid5000.fr") == "eth0"
    assert g5k.get_kavlan_host_name("paravance-1-eth1.rennes.grid5000.fr", 4) == \
        "paravance-1-eth1-kavlan-4.rennes.grid5000.fr"
    assert g5k.get_host_shortname("paravance-10-kavlan-4.rennes.grid5000.fr") == "paravance-10"
    assert g5k.get_host_cluster("paravance-10") == "paravance"


def paris(*args):
    return dt.datetime(*args, tzinfo=PARIS).timestamp()


def test_charter():
    assert g5k.g5k_charter_time(paris(2025, 1, 6, 10))          # a Monday
    assert not g5k.g5k_charter_time(paris(2025, 1, 6, 19, 0, 1))
    assert not g5k.g5k_charter_time(paris(2025, 1, 4, 12))      # Saturday
    assert not g5k.g5k_charter_time(paris(2025, 4, 21, 12))     # Easter Monday
    assert not g5k.g5k_charter_time(paris(2025, 5, 29, 12))     # Ascension
    assert not g5k.g5k_charter_time(paris(2025, 7, 14, 12))
    # from Friday evening before Easter: next charter period is Tuesday 9:00-19:00
    assert g5k.get_next_charter_period(paris(2025, 4, 18, 20), paris(2025, 4, 30)) == \
        (paris(2025, 4, 22, 9), paris(2025, 4, 22, 19))
    assert g5k.get_next_charter_period(paris(2025, 1, 6, 10), paris(2025, 1, 6, 12)) == \
        (paris(2025, 1, 6, 10), paris(2025, 1, 6, 12))
    assert g5k.get_next_charter_period(paris(2025, 1, 4), paris(2025, 1, 5, 23)) == (None, None)


def test_dates_and_durations():
    assert g5k.format_oar_duration(90061) == "25:01:01"
    assert g5k.get_seconds("1:00:30") == 3630 and g5k.get_seconds(dt.timedelta(minutes=2)) == 120
    assert g5k.oar_duration_to_seconds("2:00:00") == 7200
    ts = paris(2025, 7, 1, 12, 30)
    assert g5k.format_oar_date(ts) == "2025-07-01 12:30:00"
    assert g5k.oar_date_to_unixts("2025-07-01 12:30:00") == ts
    assert g5k.format_duration(3725) == "1h2m5s"


def test_execo_g5k_connection_params_as_documented():
    from enoslib.execo.config import make_connection_params
    from enoslib.g5k import default_frontend_connection_params, default_oarsh_oarcp_params, frontend_address

    assert frontend_address("rennes") == "frontend.rennes.grid5000.fr"
    assert frontend_address("frontend.lyon.grid5000.fr") == "frontend.lyon.grid5000.fr"
    # both are valid connection parameters for the execo layer (unknown keys would raise)
    assert make_connection_params(default_frontend_connection_params)["host_rewrite_func"] is frontend_address
    oarsh = make_connection_params(dict(default_oarsh_oarcp_params, user="oar", port=6667))
    assert (oarsh["ssh"], oarsh["scp"], oarsh["user"], oarsh["port"]) == ("oarsh", "oarcp", "oar", 6667)
