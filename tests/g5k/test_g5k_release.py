"""Releasing Grid'5000 jobs whatever the API does: retried through outages with progress,
recorded when it cannot finish (and finished by the next init/destroy or `enos destroy NAME`),
one reservation for two runs started at once, bounded waits on a stalled API, DNS failures
reported at once."""

from __future__ import annotations

import logging
import threading

import pytest
from g5k_helpers import StallingProxy, active_jobs, basic_conf, make_client

from enoslib import cli
from enoslib.config import config_context
from enoslib.errors import EnosProviderError
from enoslib.infra.enos_g5k import G5k, oar
from enoslib.infra.enos_g5k.client import G5kApiError, G5kClient
from enoslib.infra.enos_g5k.provider import pending_releases


def one_node(name, cluster="paravance"):
    return basic_conf(job_name=name).add_machine(roles=["a"], cluster=cluster, nodes=1)


def test_destroy_keeps_trying_through_an_outage_and_shows_progress(emu, caplog):
    provider = G5k(one_node("outage"), client=make_client(emu, backoff=2, max_backoff=30))
    provider.init()
    emu.faults.down_for(400)  # virtual seconds: longer than any single call's retries
    with caplog.at_level(logging.WARNING, logger="enoslib"):
        provider.destroy()
    assert active_jobs(emu) == []
    assert "giving up in" in caplog.text and "g5k_release_deadline" in caplog.text
    assert pending_releases() == []


def test_what_could_not_be_released_is_recorded_and_finished_by_the_next_destroy(emu):
    conf = one_node("rec")
    provider = G5k(conf, client=make_client(emu, backoff=2))
    provider.init()
    emu.faults.down_for(10_000)
    with config_context(g5k_release_deadline=120), pytest.raises(EnosProviderError) as err:
        provider.destroy()
    text = str(err.value)
    assert "enos destroy rec" in text and "Recorded in" in text
    [record] = pending_releases()
    assert record["job_name"] == "rec" and record["jobs"] == [list(provider.job_ids[0])]
    emu.faults.reset()
    assert len(active_jobs(emu)) == 1
    G5k(one_node("rec"), client=make_client(emu)).destroy()  # a new run, same name
    assert active_jobs(emu) == [] and pending_releases() == []


def test_the_next_init_finishes_a_recorded_release_first(emu):
    first = G5k(one_node("again"), client=make_client(emu, backoff=2))
    first.init()
    old = first.job_ids
    emu.faults.down_for(10_000)
    with config_context(g5k_release_deadline=60), pytest.raises(EnosProviderError):
        first.destroy()
    emu.faults.reset()
    second = G5k(one_node("again"), client=make_client(emu))
    second.init()
    assert second.job_ids != old  # the old job was released, a new one made
    assert [j[:2] for j in active_jobs(emu)] == [tuple(second.job_ids[0])]
    second.destroy()
    assert active_jobs(emu) == [] and pending_releases() == []


def test_enos_destroy_name_finishes_the_release(emu, tmp_path, capsys):
    provider = G5k(one_node("clidel"), client=make_client(emu, backoff=2))
    provider.init()
    emu.faults.down_for(10_000)
    with config_context(g5k_release_deadline=30), pytest.raises(EnosProviderError):
        provider.destroy()
    emu.faults.reset()
    conf_file = emu.write_client_config(tmp_path / "g5k.yaml")
    assert cli.main(["destroy", "clidel", "--g5k-conf", str(conf_file)]) == 0
    assert "no job named 'clidel' left" in capsys.readouterr().out
    assert active_jobs(emu) == [] and pending_releases() == []


def test_a_failed_init_releases_once_and_looks_nothing_up_when_nothing_was_submitted(emu):
    client = make_client(emu, retries=0)
    paths = []
    real_get = client.gk.http_get

    def counting_get(path, **kw):  # wraps the library, not our code: records what is asked
        paths.append(path)
        return real_get(path, **kw)

    client.gk.http_get = counting_get
    emu.faults.update(error_next=1, error_code=500, error_methods=["GET"], error_paths=r"^/sites/\w+/jobs$")
    provider = G5k(one_node("nolookup"), client=client)
    with pytest.raises(G5kApiError), provider:
        pass
    job_lists = [p for p in paths if p.endswith("/jobs")]
    assert job_lists == ["/sites/rennes/jobs"]  # the reload look-up only: no look-up to release
    before = client.request_count
    provider.destroy()
    assert client.request_count == before and active_jobs(emu) == []


def test_two_runs_started_at_once_share_one_job(emu, tmp_path):
    conf = lambda: (basic_conf(job_name="twin").add_machine(roles=["a"], cluster="paravance", nodes=1)  # noqa: E731
                    .add_machine(roles=["b"], cluster="grisou", nodes=1))
    providers = [G5k(conf(), client=make_client(emu)) for _ in range(2)]
    barrier = threading.Barrier(2)
    errors = []

    def run(p):
        try:
            barrier.wait()
            p.reserve()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in providers]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []
    assert len(active_jobs(emu)) == 2 and providers[0].job_ids == providers[1].job_ids
    providers[0].destroy()
    assert active_jobs(emu) == []


def test_two_machines_racing_converge_on_the_older_job(emu, tmp_path):
    """No shared lock (two machines): the job list read after submitting reveals the twin."""
    other = G5k(one_node("race"), client=make_client(emu), state_dir=tmp_path / "other-machine")
    mine = G5k(one_node("race"), client=make_client(emu), state_dir=tmp_path / "this-machine")
    real_post = mine.client.gk.http_post

    def post_after_the_other_machine(path, **kw):  # the other machine submits just before us
        if path.endswith("/jobs") and not other.job_ids:
            other.reserve()
        return real_post(path, **kw)

    mine.client.gk.http_post = post_after_the_other_machine
    mine.reserve()
    assert mine.job_ids == other.job_ids and len(active_jobs(emu)) == 1
    mine.destroy()
    assert active_jobs(emu) == []


def test_a_stalled_api_fails_in_bounded_time_with_a_clear_message(emu, caplog):
    proxy = StallingProxy(emu)
    try:
        proxy.stalled = True
        client = G5kClient(proxy.uri, emu.username, emu.password, timeout=(1, 0.2), deadline=1.5, backoff=0.1)
        with caplog.at_level(logging.WARNING, logger="enoslib"), pytest.raises(EnosProviderError) as err:
            G5k(one_node("stall"), client=client).init()
    finally:
        proxy.close()
    text = str(err.value)
    assert "no answer within 0.2s" in text and "g5k_api_deadline" in text, text
    assert "giving up in" in caplog.text  # what is slow is said while waiting
    assert active_jobs(emu) == []


def test_dns_failures_are_not_retried_and_say_why(caplog):
    slept = []
    client = G5kClient("http://api.grid5000.invalid/stable", "alice", "x", sleep=slept.append)
    with pytest.raises(EnosProviderError) as err:
        G5k(one_node("dns"), client=client).init()
    text = str(err.value)
    assert "unreachable" in text and "cannot resolve" in text and "api.grid5000.invalid" in text, text
    assert slept == [] and client.request_count == 1


def test_release_jobs_by_name_is_the_one_release_path(emu):
    client = make_client(emu)
    job = oar.submit(client, oar.JobSpec(site="nancy", resources="nodes=1", name="loose"), user=client.login)
    assert active_jobs(emu)
    from enoslib.infra.enos_g5k.provider import release_by_name

    release_by_name("loose", client)
    assert active_jobs(emu) == [] and job["uid"]
