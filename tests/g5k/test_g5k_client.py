"""G5kClient against the emulator: explicit URI, YAML read loudly, retries with backoff on
transient errors only, POSTs never duplicated, credentials never shown."""

from __future__ import annotations

import logging

import pytest
from g5k_helpers import active_jobs, make_client

from enoslib.errors import EnosConfigError
from enoslib.infra.enos_g5k import oar
from enoslib.infra.enos_g5k.client import (
    G5kApiError,
    G5kClient,
    as_client,
    read_conf_file,
    set_api,
    validate_uri,
)


@pytest.mark.parametrize("uri", ["", "ftp://x/stable", "api.grid5000.fr/stable", "http:///stable",
                                 "http://h/stable?branch=x"])
def test_bad_uris_are_refused(uri):
    with pytest.raises(EnosConfigError) as err:
        validate_uri(uri)
    assert err.value.rule == "uri"


def test_uri_trailing_slash_is_dropped():
    assert validate_uri("http://127.0.0.1:1/stable/") == "http://127.0.0.1:1/stable"


def test_yaml_errors_are_loud_not_a_silent_fallback(tmp_path, emu):
    bad = tmp_path / "g5k.yaml"
    bad.write_text("uri: [unclosed\n")
    with pytest.raises(EnosConfigError, match="not valid YAML"):
        G5kClient.from_file(bad)
    bad.write_text("uri: http://x/stable\nusername: a\npasword: typo\n")
    with pytest.raises(EnosConfigError, match="pasword") as err:
        read_conf_file(bad)
    assert err.value.rule == "additionalProperties"
    with pytest.raises(EnosConfigError, match="cannot read"):
        read_conf_file(tmp_path / "missing.yaml")
    good = emu.write_client_config(tmp_path / "ok.yaml")
    client = G5kClient.from_file(good)
    assert client.uri == emu.uri and client.gk._uri == emu.uri
    assert client.items("/sites")


def test_default_connection_order(tmp_path, emu, monkeypatch):
    path = emu.write_client_config(tmp_path / "conf.yaml")
    monkeypatch.setenv("G5K_API_CONF", str(path))
    assert as_client().uri == emu.uri
    explicit = set_api(client=emu.client())
    assert as_client() is explicit and explicit.username == emu.username


def test_credentials_are_never_shown(emu, caplog):
    client = G5kClient(emu.uri, emu.username, emu.password, retries=1, backoff=0)
    assert emu.password not in repr(client) and emu.password not in str(client)
    emu.faults.update(error_next=1, error_code=500)
    with caplog.at_level(logging.DEBUG):
        client.get("/sites")
    assert emu.password not in caplog.text
    wrong = G5kClient(emu.uri, emu.username, "not-the-password", retries=3, backoff=0)
    with pytest.raises(G5kApiError) as err:
        wrong.items("/sites/rennes/jobs")
    assert err.value.status == 401 and "not-the-password" not in str(err.value)
    assert wrong.request_count == 1  # 4xx: no retry


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_transient_errors_are_retried_with_backoff(emu, code):
    slept = []
    client = make_client(emu, sleep=slept.append, backoff=0.5, max_backoff=3, retries=5)
    emu.faults.update(error_next=4, error_code=code)
    assert client.items("/sites")
    assert slept == [0.5, 1.0, 2.0, 3.0]
    assert client.request_count == 5


def test_retries_are_bounded(emu):
    slept = []
    client = make_client(emu, sleep=slept.append, backoff=0.1, retries=2)
    emu.faults.update(error_rate=1.0, error_code=503)
    with pytest.raises(G5kApiError) as err:
        client.get("/sites")
    assert err.value.status == 503 and err.value.transient and "3 attempts" in str(err.value)
    assert client.request_count == 3 and len(slept) == 2


def test_4xx_are_not_retried(emu, client):
    with pytest.raises(G5kApiError) as err:
        client.get("/sites/rennes/jobs/999")
    assert err.value.status == 404 and client.request_count == 1
    with pytest.raises(G5kApiError) as err:
        client.get("/sites/atlantis")
    assert err.value.status == 404


def test_connection_resets_are_retried(emu, client):
    emu.faults.update(reset_next=2)
    assert client.items("/sites")
    assert client.request_count == 3


def test_unreachable_api_is_an_error_after_retries():
    slept = []
    client = G5kClient("http://127.0.0.1:9/stable", "u", "p", retries=2, sleep=slept.append, timeout=2)
    with pytest.raises(G5kApiError) as err:
        client.get("/sites")
    assert err.value.status is None and len(slept) == 2


def test_lost_post_answer_never_duplicates_a_job(emu, client):
    spec = oar.JobSpec(site="rennes", resources="nodes=1", walltime="1:00:00", name="once")
    emu.faults.update(error_next=2, error_code=502, error_methods=["POST"])
    job = oar.submit(client, spec, user=client.login)
    assert [j[1] for j in active_jobs(emu)] == [job["uid"]]


def test_post_without_reconcile_is_not_retried_when_ambiguous(emu, client):
    emu.faults.update(error_next=1, error_code=500, error_methods=["POST"])
    with pytest.raises(G5kApiError) as err:
        client.post("/sites/rennes/jobs", {"resources": "nodes=1", "command": "sleep 1"})
    assert err.value.status == 500 and client.requests["POST"] == 1
    assert active_jobs(emu) == []


def test_enos_check_reports_g5k_reachability(tmp_path):
    """`enos check --g5k` queries the API with the user's YAML and never prints the password."""
    import subprocess
    import sys
    from pathlib import Path

    from enoslib.emulators.g5k import G5kEmulator, legacy_dataset

    root = Path(__file__).resolve().parents[2]
    with G5kEmulator(legacy_dataset(None), backend="address") as emu:
        conf = emu.write_client_config(tmp_path / "g5k.yaml")
        out = subprocess.run([sys.executable, "-m", "enoslib.cli", "check", "--g5k", "--g5k-conf", str(conf)],
                             capture_output=True, text=True, cwd=root)
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"g5k: reachable at {emu.uri} as {emu.username}: 3 sites" in out.stdout
        assert emu.password not in out.stdout + out.stderr
        bad = tmp_path / "bad.yaml"
        bad.write_text(conf.read_text().replace(emu.password, "wrong-password"))
        out = subprocess.run([sys.executable, "-m", "enoslib.cli", "check", "--g5k", "--g5k-conf", str(bad)],
                             capture_output=True, text=True, cwd=root)
        assert out.returncode == 1 and "g5k: NOT reachable" in out.stdout
        assert "wrong-password" not in out.stdout + out.stderr
