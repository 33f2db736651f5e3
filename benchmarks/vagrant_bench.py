"""First and second ``init`` (and ``destroy``) of 2 real VMs on 2 private networks: our Vagrant
provider vs EnOSlib 10.9's, with the same box, same vagrant, same libvirt.

Run as root, after ``source scripts/setup.sh && ensure_vagrant`` (box, libvirtd, driver):

    flock /tmp/enoslib-tests.lock python benchmarks/vagrant_bench.py [--enoslib /path/to/python]

``--enoslib``: the Python of a virtualenv with ``enoslib[vagrant]>=10,<11`` (skipped when
absent). Each side runs in its own empty directory (EnOSlib writes ``./Vagrantfile``).

- first init: machines not created (the box is already in libvirt's pool: its upload, done
  once per box, is not counted);
- second init: a new provider object over the running machines (a second run of the script);
- EnOSlib runs ``vagrant up`` + ``vagrant provision`` on every init; ours checks ``vagrant
  status`` and reads the SSH settings, then learns the guests' interfaces (``sync_info``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MACHINES = [{"roles": ["server"], "flavour_desc": {"core": 1, "mem": 256}},
            {"roles": ["client"], "flavour_desc": {"core": 1, "mem": 256}}]
NETWORKS = [{"roles": ["n1"], "cidr": "192.168.90.0/24"}, {"roles": ["n2"], "cidr": "192.168.91.0/24"}]

# the same script for both implementations (both document these names)
SCRIPT = textwrap.dedent("""
    import json, sys, time
    from enoslib.infra.enos_vagrant.configuration import Configuration
    from enoslib.infra.enos_vagrant.provider import Enos_vagrant
    from enoslib.api import run_command
    conf = Configuration.from_dictionary(json.loads(sys.argv[1]))
    out = {}
    t = time.monotonic(); roles, _ = Enos_vagrant(conf).init(); out["first init"] = time.monotonic() - t
    assert len(run_command("true", roles=roles)) == 2
    t = time.monotonic(); roles, _ = Enos_vagrant(conf).init(); out["second init"] = time.monotonic() - t
    t = time.monotonic(); Enos_vagrant(conf).destroy(); out["destroy"] = time.monotonic() - t
    print(json.dumps(out))
""")


def run(python: str, conf: dict, env: dict[str, str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="vagrant-bench-") as cwd:
        proc = subprocess.run([python, "-c", SCRIPT, json.dumps(conf)], cwd=cwd, env=env,
                              capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"{python} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--box", default=os.environ.get("ENOSLIB_VAGRANT_BOX", "enoslib/debian12"))
    parser.add_argument("--enoslib", default="/tmp/ref-vagrant/bin/python")
    args = parser.parse_args()
    driver = os.environ.get("ENOSLIB_VAGRANT_LIBVIRT_DRIVER", "kvm")
    base = {"backend": "libvirt", "box": args.box, "resources": {"machines": MACHINES, "networks": NETWORKS}}
    rows = {}
    ours_env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rows["ours"] = run(sys.executable, {**base, "name_prefix": "benchours"}, ours_env)
    if Path(args.enoslib).exists():
        # EnOSlib's template has no CPU/driver setting of its own: the same ones through config_extra
        extra = ("config.vm.provider :libvirt do |lv|\n"
                 f"  lv.driver = '{driver}'\n  lv.cpu_mode = 'custom'\n  lv.cpu_model = 'qemu64'\nend")
        machines = [{**m, "name_prefix": f"benchenos-{i}"} for i, m in enumerate(MACHINES)]
        conf = {**base, "config_extra": extra, "resources": {"machines": machines, "networks": NETWORKS}}
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        rows["EnOSlib 10.9"] = run(args.enoslib, conf, env)
    print(f"2 VMs x 256 MiB, 2 private networks, box {args.box}, libvirt driver {driver}")
    print(f"{'':14}{'first init':>12}{'second init':>13}{'destroy':>10}")
    for name, row in rows.items():
        print(f"{name:14}{row['first init']:>11.1f}s{row['second init']:>12.1f}s{row['destroy']:>9.1f}s")


if __name__ == "__main__":
    main()
