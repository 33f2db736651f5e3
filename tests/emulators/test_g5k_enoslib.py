"""Fidelity: EnOSlib's own G5k provider (installed in a separate venv) against the emulator.

EnOSlib lives in its own venv: ``$REFERENCE_ENOSLIB_VENV``, which ``scripts/test.sh``
creates when missing (``.venv-enoslib`` in the repository) and exports; the test then
fails if that venv is unusable. Run directly with pytest, it looks at ``.venv-enoslib``
and ``/tmp/enoslib-venv`` and is skipped when neither has EnOSlib. EnOSlib's
``time.sleep`` is turned into clock advances of the emulator, so its polling costs nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

grid5000 = pytest.importorskip("grid5000")

from enoslib.emulators.g5k import G5kEmulator, legacy_dataset

REPO = Path(__file__).resolve().parents[2]
REQUIRED = os.environ.get("REFERENCE_ENOSLIB_VENV")  # set by scripts/test.sh: must be usable


def _has_enoslib(venv: Path) -> bool:
    # a file check, not an import: importing EnOSlib (ansible...) takes seconds
    return (venv / "bin" / "python").exists() and any(
        venv.glob("lib/python3*/site-packages/enoslib/infra/enos_g5k")
    )


VENV = (
    Path(REQUIRED)
    if REQUIRED
    else next(
        (v for v in (REPO / ".venv-enoslib", Path("/tmp/enoslib-venv")) if _has_enoslib(v)),
        REPO / ".venv-enoslib",
    )
)
PYTHON = VENV / "bin" / "python"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not REQUIRED and not _has_enoslib(VENV),
        reason="no EnOSlib venv (.venv-enoslib, /tmp/enoslib-venv): scripts/test.sh makes one",
    ),
]

CHILD = r"""
import base64, datetime, json, os, time, urllib.request

ADMIN, LOGIN, PASSWORD, URI = (os.environ[k] for k in ("EMU_ADMIN", "EMU_ADMIN_USER",
                                                        "EMU_ADMIN_PASSWORD", "EMU_URI"))
TOKEN = base64.b64encode(f"{LOGIN}:{PASSWORD}".encode()).decode()


def admin(method, path, body=None):
    req = urllib.request.Request(f"{ADMIN}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Basic {TOKEN}"})
    return json.loads(urllib.request.urlopen(req, timeout=10).read())


time.sleep = lambda seconds: admin("POST", "/clock", {"advance": seconds})

import enoslib as en
from zoneinfo import ZoneInfo
from enoslib.infra.enos_g5k import g5k_api_utils as api
from enoslib.infra.enos_g5k.provider import _concretize_networks, _concretize_nodes, _join

assert api.get_api_client()._uri == URI, api.get_api_client()._uri   # never the real API
report = {}
net = en.G5kNetworkConf(type="kavlan", roles=["vlan"], site="rennes")
private = en.G5kNetworkConf(type="kavlan-local", roles=["private"], site="rennes")
conf = (en.G5kConf.from_settings(job_name="fidelity", job_type=["deploy"], env_name="debian12-min",
                                 walltime="01:00:00")
        .add_network_conf(net)
        .add_network_conf(private)
        .add_machine(roles=["compute"], cluster="paravance", nodes=2, primary_network=net,
                     secondary_networks=[private])
        .add_machine(roles=["db"], servers=["parasilo-2.rennes.grid5000.fr"], primary_network=net)
        .finalize())
provider = en.G5k(conf)
provider.reserve()
provider.wait()
job = provider.jobs[0]
report["job"] = {"uid": job.uid, "state": job.state, "nodes": job.assigned_nodes,
                 "vlans": job.resources_by_type.get("vlans"), "end": job.started_at + job.walltime}
nodes, networks = provider.driver.resources()
hosts = _join(_concretize_nodes(provider.provider_conf.machines, nodes),
              _concretize_networks(provider.provider_conf.networks, networks))
for h in hosts:
    h.mirror_state()                      # the KaVLAN calls init() makes
report["hosts"] = sorted(h.fqdn for h in hosts)
local = [v for v in report["job"]["vlans"] if v in ("1", "2", "3")][0]
report["in_local_vlan"] = sorted(n.uid for n in api.get_vlan("rennes", local).nodes.list())
vlan = [v for v in report["job"]["vlans"] if v != local][0]
deployed, undeployed = api.deploy("rennes", report["hosts"],      # kadeploy puts them in the vlan
                                  {"environment": "debian12-min", "key": "ssh-ed25519 AAAA x",
                                   "vlan": vlan})
report["in_vlan"] = sorted(n.uid for n in api.get_vlan("rennes", vlan).nodes.list())
report["deployed"], report["undeployed"] = sorted(deployed), sorted(undeployed)
report["reloaded"] = [j.uid for j in api.grid_reload_jobs_from_name("fidelity")]
report["slot_free_later"] = provider.test_slot(int(report["job"]["end"]) + 60,
                                               int(report["job"]["end"]) + 1800)

now = datetime.datetime.fromtimestamp(admin("GET", "/clock")["now"], ZoneInfo("Europe/Paris"))
busy = (en.G5kConf.from_settings(job_name="second", walltime="00:30:00",
                                 reservation=now.strftime("%Y-%m-%d %H:%M:%S"))
        .add_machine(roles=["x"], servers=report["job"]["nodes"][:1])
        .finalize())
try:
    en.G5k(busy).reserve()
    report["hint"] = None
except en.errors.InvalidReservationTime as exc:
    report["hint"] = exc.datetime.timestamp()

provider.destroy()
report["after_destroy"] = api.get_api_client().sites["rennes"].jobs[job.uid].state
print("REPORT " + json.dumps(report))
"""


def test_enoslib_provider_reserves_deploys_and_releases(tmp_path):
    assert _has_enoslib(VENV), f"REFERENCE_ENOSLIB_VENV={VENV} has no EnOSlib"
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "child.py").write_text(CHILD)
    with G5kEmulator(
        legacy_dataset(4, sites=["rennes", "nancy"]), speed=0, backend="address", nodes_per_cluster=4, deploy_duration=30
    ) as emu:
        emu.write_client_config(home / ".python-grid5000.yaml")
        env = {
            "HOME": str(home),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "EMU_ADMIN": emu.admin_url,
            "EMU_ADMIN_USER": emu.admin_username,
            "EMU_ADMIN_PASSWORD": emu.admin_password,
            "EMU_URI": emu.uri,
        }
        proc = subprocess.run(
            [str(PYTHON), str(tmp_path / "child.py")],
            env=env,
            cwd=str(home),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-4000:]
        assert not emu._server.errors
        line = next(x for x in proc.stdout.splitlines() if x.startswith("REPORT "))
        report = json.loads(line[len("REPORT ") :])
        jobs = emu.jobs()
    expected = [
        "parasilo-2.rennes.grid5000.fr",
        "paravance-1.rennes.grid5000.fr",
        "paravance-2.rennes.grid5000.fr",
    ]
    assert report["job"]["state"] == "running" and sorted(report["job"]["nodes"]) == expected
    assert report["hosts"] == expected and report["in_vlan"] == expected
    assert report["in_local_vlan"] == [
        "paravance-1-eth1.rennes.grid5000.fr",
        "paravance-2-eth1.rennes.grid5000.fr",
    ]
    assert report["deployed"] == expected and report["undeployed"] == []
    assert report["reloaded"] == [report["job"]["uid"]]
    assert report["slot_free_later"] is True
    assert report["hint"] == pytest.approx(report["job"]["end"])
    assert report["after_destroy"] == "error"
    assert [j.name for j in jobs] == ["fidelity"]  # the refused reservation left nothing
