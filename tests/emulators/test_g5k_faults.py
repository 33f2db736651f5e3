"""Fault injection of the Grid'5000 emulator: knobs set over the admin endpoint, effects seen
through python-grid5000 (mind its urllib3 retries on 500/502/504 for GET/PUT/DELETE)."""

from __future__ import annotations

import time

import pytest
import requests

grid5000 = pytest.importorskip("grid5000")

from enoslib.emulators.g5k import G5kEmulator, legacy_dataset


@pytest.fixture()
def emu():
    with G5kEmulator(legacy_dataset(4, sites=["rennes"]), speed=0, backend="address", nodes_per_cluster=4, seed=7) as e:
        yield e


def knobs(emu, **values):
    r = requests.put(
        f"{emu.admin_url}/faults", json=values, auth=emu.admin_auth, timeout=5
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_admin_endpoint_needs_credentials_and_known_knobs(emu):
    assert requests.get(f"{emu.admin_url}/faults", timeout=5).status_code == 401
    r = requests.put(
        f"{emu.admin_url}/faults",
        json={"no_such_knob": 1},
        auth=emu.admin_auth,
        timeout=5,
    )
    assert r.status_code == 400 and "no_such_knob" in r.json()["message"]
    assert knobs(emu, error_rate=0.25)["error_rate"] == 0.25
    r = requests.delete(f"{emu.admin_url}/faults", auth=emu.admin_auth, timeout=5)
    assert r.json()["error_rate"] == 0.0


def test_api_credentials_cannot_steer_the_emulator(emu):
    """A script holding the API user's credentials cannot inject faults or move the clock."""
    api_user = (emu.username, emu.password)
    for method, path in (("PUT", "/faults"), ("POST", "/clock"), ("GET", "/faults")):
        r = requests.request(
            method, f"{emu.admin_url}{path}", json={"advance": 10}, auth=api_user, timeout=5
        )
        assert r.status_code == 401, (method, path)
    # nor can the control credentials use the API as a user
    assert requests.get(f"{emu.uri}/sites", auth=emu.admin_auth, timeout=5).status_code == 401
    assert emu.control("POST", "/clock", {"advance": 10})["now"] == pytest.approx(
        emu.clock.now()
    )


def test_credentials_are_generated_per_run():
    with G5kEmulator(legacy_dataset(1, sites=["rennes"]), speed=0, backend="address", nodes_per_cluster=1) as a, \
            G5kEmulator(legacy_dataset(1, sites=["rennes"]), speed=0, backend="address", nodes_per_cluster=1) as b:
        secrets = {a.password, b.password, a.admin_password, b.admin_password}
        assert len(secrets) == 4 and all(len(x) >= 16 for x in secrets)
        assert a.username != b.username
        assert [x.uid for x in a.client().sites.list()] == ["rennes"]
        other = requests.get(f"{a.uri}/sites", auth=(b.username, b.password), timeout=5)
        assert other.status_code == 401
    with pytest.raises(ValueError, match="admin_password"):
        G5kEmulator(legacy_dataset(None, sites=["rennes"]), users={"u": "same"}, admin_password="same", backend="address")


def test_error_rate_with_code_and_path(emu):
    gk = emu.client()
    knobs(emu, error_rate=1.0, error_code=503, error_paths="/status")
    with pytest.raises(grid5000.Grid5000ListError) as err:
        gk.sites["rennes"].status.list()
    assert err.value.response_code == 503  # 503 is not retried by the client
    assert gk.sites["rennes"].uid == "rennes"  # other paths unaffected
    knobs(
        emu, error_rate=0.0, error_paths=None, error_next=1, error_code=500, error_methods=["POST"]
    )
    with pytest.raises(grid5000.Grid5000CreateError) as err:
        gk.sites["rennes"].jobs.create({"command": "sleep 1"})
    assert err.value.response_code == 500  # POST: no retry, immediate error
    assert gk.sites["rennes"].jobs.create({"command": "sleep 1"}).state == "waiting"


def test_single_500_on_get_is_absorbed_by_client_retries(emu):
    knobs(emu, error_next=1, error_code=500, error_methods=["GET"])
    started = time.monotonic()
    assert [s.uid for s in emu.client().sites.list()] == ["rennes"]
    assert time.monotonic() - started < 20  # one short backoff, not the client's give-up delay
    assert emu.faults.settings.error_next == 0


def test_latency(emu):
    knobs(emu, latency=0.3)
    started = time.monotonic()
    emu.client().sites["rennes"]
    assert time.monotonic() - started >= 0.3
    emu.faults.update(latency=0.0)


def test_connection_resets(emu):
    gk = emu.client()
    knobs(emu, reset_next=1)
    assert gk.sites["rennes"].uid == "rennes"  # GET: urllib3 retries the read error
    site = gk.sites["rennes"]
    knobs(emu, reset_next=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        site.jobs.create({"command": "sleep 1"})  # POST is not retried
    assert site.jobs.list() == []


def test_api_down_for_virtual_and_real_time(emu):
    gk = emu.client()
    knobs(emu, down_for=60)
    with pytest.raises(grid5000.Grid5000ListError) as err:
        gk.sites.list()
    assert err.value.response_code == 503 and "down" in err.value.error_message
    emu.advance(60)
    assert gk.sites.list()
    knobs(emu, down_for_real=2.0)  # real seconds: room for a slow request on a loaded machine
    with pytest.raises(grid5000.Grid5000ListError):
        gk.sites.list()
    time.sleep(2.05)
    assert gk.sites.list()


def test_job_sent_to_error_and_fewer_nodes(emu):
    site = emu.client().sites["rennes"]
    knobs(emu, job_error_next=1)
    doomed = site.jobs.create({"resources": "nodes=1", "command": "sleep 100"})
    knobs(emu, fewer_nodes=1)
    short = site.jobs.create({"resources": "{cluster='paravance'}/nodes=3", "command": "sleep 100"})
    emu.advance(5)
    doomed.refresh()
    short.refresh()
    assert doomed.state == "error" and doomed.events[-1]["type"] == "PROLOGUE_ERROR"
    assert short.state == "running" and len(short.assigned_nodes) == 2


def test_deploy_failures_over_http(emu):
    site = emu.client().sites["rennes"]
    job = site.jobs.create(
        {"resources": "{cluster='parasilo'}/nodes=2", "command": "sleep 100", "types": ["deploy"]}
    )
    emu.advance(5)
    job.refresh()
    knobs(emu, deploy_fail_nodes=[job.assigned_nodes[1]])
    dep = site.deployments.create({"nodes": job.assigned_nodes, "environment": "debian12-min"})
    emu.advance(60)
    dep.refresh()
    assert [dep.result[n]["state"] for n in job.assigned_nodes] == ["OK", "KO"]


def test_clock_and_node_admin(emu):
    auth = emu.admin_auth
    before = requests.get(f"{emu.admin_url}/clock", auth=auth, timeout=5).json()["now"]
    after = requests.post(
        f"{emu.admin_url}/clock", json={"advance": 3600}, auth=auth, timeout=5
    ).json()["now"]
    assert after - before == pytest.approx(3600)
    r = requests.put(
        f"{emu.admin_url}/nodes/paravance-1.rennes.grid5000.fr",
        json={"hard": "dead", "comment": "broken PSU"},
        auth=auth,
        timeout=5,
    )
    assert r.status_code == 200
    entry = emu.client().sites["rennes"].status.list().nodes["paravance-1.rennes.grid5000.fr"]
    assert entry["hard"] == "dead" and entry["comment"] == "broken PSU"


def outcomes(seed: int) -> list[int]:
    with G5kEmulator(
        legacy_dataset(1, sites=["lyon"]),
        speed=0,
        backend="address",
        nodes_per_cluster=1,
        seed=seed,
        faults={"error_rate": 0.5, "error_code": 503},
    ) as emu:
        gk, codes = emu.client(), []
        for _ in range(12):
            try:
                gk.sites.list()
                codes.append(200)
            except grid5000.Grid5000ListError as exc:
                codes.append(exc.response_code)
        return codes


def test_same_seed_same_faults():
    first = outcomes(3)
    assert first == outcomes(3)
    assert set(first) == {200, 503}


def test_running_job_sent_to_error_over_http(emu):
    site = emu.client().sites["rennes"]
    job = site.jobs.create({"resources": "nodes=2", "command": "sleep 1000"})
    emu.advance(5)
    r = requests.post(
        f"{emu.admin_url}/jobs/{job.uid}/error",
        json={"message": "node crashed"},
        auth=emu.admin_auth,
        timeout=5,
    )
    assert r.status_code == 200
    job.refresh()
    assert job.state == "error" and job.message == "node crashed"
    status = site.status.list().nodes
    assert all(status[n]["soft"] == "free" for n in job.assigned_nodes)
