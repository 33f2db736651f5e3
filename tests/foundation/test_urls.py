"""URLs are printed without the credentials a user may have put in them (reprs, errors, logs)."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from enoslib._urls import strip_credentials

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr@t:pw"  # a raw "@" and ":" inside: the last "@" before the host ends the user info


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("http://alice:pw@h:8000/stable", "http://***@h:8000/stable"),
        (f"https://alice:{SECRET}@api.example/x", "https://***@api.example/x"),
        ("https://TOKEN@github.com/o/r.git", "https://***@github.com/o/r.git"),
        ("GET http://a:b@h/x: 503; again http://c:d@k/", "GET http://***@h/x: 503; again http://***@k/"),
        ("'http://u:p%40x@h/'", "'http://***@h/'"),
        # nothing to hide: unchanged
        ("http://h/path@v2?who=a@b#c@d", "http://h/path@v2?who=a@b#c@d"),
        ("alice@host and mailto:a@b", "alice@host and mailto:a@b"),
        ("", ""),
    ],
)
def test_strip_credentials(text, shown):
    assert strip_credentials(text) == shown


def test_strip_credentials_takes_any_object():
    assert strip_credentials(ValueError("bad http://u:p@h/")) == "bad http://***@h/"


grid5000 = pytest.importorskip("grid5000")

from enoslib.emulators.g5k import G5kEmulator, legacy_dataset  # noqa: E402
from enoslib.errors import EnosConfigError  # noqa: E402
from enoslib.infra.enos_g5k.client import G5kApiError, G5kClient, validate_uri  # noqa: E402


def with_secret(uri: str) -> str:
    scheme, rest = uri.split("://", 1)
    return f"{scheme}://alice:{SECRET}@{rest}"


def test_client_repr_and_api_errors_hide_a_password_in_the_uri(caplog):
    caplog.set_level(logging.DEBUG)
    with G5kEmulator(legacy_dataset(1, sites=["rennes"]), speed=0, backend="address", nodes_per_cluster=1) as emu:
        client = G5kClient(with_secret(emu.uri), emu.username, emu.password, retries=1, backoff=0)
        assert [s["uid"] for s in client.items("/sites")] == ["rennes"]
        assert SECRET not in repr(client) and "***@127.0.0.1" in repr(client)
        emu.faults.update(error_rate=1.0, error_code=503)
        with pytest.raises(G5kApiError) as err:
            client.get("/sites")
    assert "503" in str(err.value) and SECRET not in str(err.value)
    assert SECRET not in caplog.text


def test_unreachable_and_invalid_uris_hide_the_password():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = G5kClient(with_secret(f"http://127.0.0.1:{port}/stable"), retries=0, timeout=5)
    with pytest.raises(G5kApiError) as err:
        client.get("/sites")
    assert f"127.0.0.1:{port}" in str(err.value) and SECRET not in str(err.value)
    with pytest.raises(EnosConfigError) as bad:
        validate_uri(with_secret("http://h/stable?x=1"))
    assert "query" in str(bad.value) and SECRET not in str(bad.value)


def test_enos_check_prints_the_uri_without_its_password(tmp_path):
    with G5kEmulator(legacy_dataset(1, sites=["nancy"]), speed=0, backend="address", nodes_per_cluster=1) as emu:
        conf = tmp_path / "g5k.yaml"
        conf.write_text(
            f"uri: '{with_secret(emu.uri)}'\nusername: {emu.username}\npassword: {emu.password}\n"
        )
        out = subprocess.run(
            [sys.executable, "-m", "enoslib.cli", "check", "--g5k", "--g5k-conf", str(conf)],
            capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
            timeout=120, check=False,
        )
    assert "g5k: reachable at http://***@127.0.0.1" in out.stdout, out.stdout + out.stderr
    assert SECRET not in out.stdout + out.stderr and emu.password not in out.stdout + out.stderr


def test_deployment_repr_hides_an_env_file_password():
    from enoslib.g5k.kadeploy import Deployment

    deployment = Deployment(env_file=with_secret("https://files.example/env.yaml"))
    assert SECRET not in repr(deployment) and "https://***@files.example/env.yaml" in repr(deployment)
