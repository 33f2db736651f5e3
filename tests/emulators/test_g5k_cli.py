"""``python -m enoslib.emulators.g5k``: prints how to connect, serves until Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

grid5000 = pytest.importorskip("grid5000")

from enoslib.emulators.g5k.__main__ import main

ROOT = Path(__file__).resolve().parents[2]


def test_cli_serves_until_interrupted(tmp_path):
    config = tmp_path / "g5k.yaml"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "enoslib.emulators.g5k",
            "--backend",
            "address",
            "--speed",
            "0",
            "--sites",
            "nancy",
            "--nodes-per-cluster",
            "2",
            "--user",
            "carol:secret",
            "--admin-password",
            "control-secret",
            "--config",
            str(config),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        text = "".join(lines)
        uri = re.search(r"listening on (http://127\.0\.0\.1:\d+/stable)", text).group(1)
        assert "user        : carol" in text and "password    : secret" in text
        assert str(config) in text and "emulator-admin:control-secret" in text
        client = grid5000.Grid5000.from_yaml(str(config))
        assert client._uri == uri
        assert [s.uid for s in client.sites.list()] == ["nancy"]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "emulator stopped" in out


def test_cli_generates_credentials_and_prints_the_yaml():
    """Without --user: fresh credentials, printed with the YAML snippet to paste."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "enoslib.emulators.g5k", "--backend", "address", "--sites", "lyon"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    try:
        out = ""
        for line in proc.stdout:
            out += line
            if "Ctrl-C" in line:
                break
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    user = re.search(r"user +: (\S+)", out).group(1)
    password = re.search(r"password +: (\S+)", out).group(1)
    control = re.search(r"curl -u emulator-admin:(\S+) ", out).group(1)
    assert user != "alice" and len(password) >= 16 and control != password
    assert f'username: "{user}"' in out and f'password: "{password}"' in out


def test_cli_rejects_bad_options(capsys):
    assert main(["--user", "nopassword"]) == 2
    assert main(["--sites", "atlantis", "--backend", "address"]) == 1
    assert "atlantis" in capsys.readouterr().err


def test_cli_stops_on_ctrl_c_even_when_started_with_sigint_ignored():
    """A background job of a non-interactive shell inherits SIGINT ignored: Ctrl-C (SIGINT)
    must still stop the emulator instead of leaving it serving forever."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "enoslib.emulators.g5k", "--backend", "address", "--sites", "lyon"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        for line in proc.stdout:
            if "Ctrl-C" in line:
                break
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "emulator stopped" in out


def test_bad_ssh_key_is_refused_before_serving(tmp_path, capsys):
    missing = tmp_path / "nope.pub"
    assert main(["--backend", "address", "--ssh-key", str(missing)]) == 2
    assert f"--ssh-key {missing}" in capsys.readouterr().err
    junk = tmp_path / "junk.pub"
    junk.write_text("hello")
    assert main(["--backend", "address", "--ssh-key", str(junk)]) == 2
    assert "not an OpenSSH public key" in capsys.readouterr().err
