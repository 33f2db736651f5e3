"""examples/iotlab.py and its notebook run end to end on the emulator; `enos emulate iotlab`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="SSH hosts need root")
def test_example_script(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("IOTLAB_API_URL", None)
    out = subprocess.run([sys.executable, "examples/iotlab.py", "--emulate", "--out", str(tmp_path)], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "m3-1 says: commands: help" in out.stdout
    assert "sniffer/m3-1.pcap" in out.stdout and "log/m3-1_serial.log" in out.stdout
    assert "Linux node-a8-1.grenoble.iot-lab.info" in out.stdout


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="SSH hosts need root")
def test_example_notebook():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(ROOT / "examples" / "iotlab.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(ROOT)}})
    client.execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "hello from the notebook" in text and "consumption/m3-1.oml" in text


def test_enos_emulate_iotlab_serves_until_interrupted(tmp_path):
    rc = tmp_path / "rc"
    proc = subprocess.Popen([sys.executable, "-m", "enoslib.cli", "emulate", "iotlab", "--backend", "address",
                             "--config", str(rc)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        banner = "".join(lines)
        assert "IoT-LAB API listening on http://127.0.0.1:" in banner and "IOTLAB_API_URL=" in banner
        url = banner.split("listening on ", 1)[1].split()[0]
        import base64

        import iotlabcli.rest

        login, encoded = rc.read_text().strip().split(":", 1)
        api = iotlabcli.rest.Api(login, base64.b64decode(encoded).decode())
        api.url = url
        assert api.check_credential()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
