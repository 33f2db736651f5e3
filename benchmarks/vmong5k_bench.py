"""VMonG5k: time to get N = 1/10/50 VMs SSH-ready on the Grid'5000 emulator, and HTTP requests.

Run (root: the emulator's nodes and VMs are real SSH hosts; hold the test lock)::

    flock /tmp/enoslib-tests.lock .venv/bin/python benchmarks/vmong5k_bench.py [--sizes 1,10,50] [--runs 3]

One netns emulator (this process; the API user is ``root`` so that the logins on the nodes work;
its ssh_config is rewritten every 50 ms into a file the clients use) serves every client, each
in its own subprocess. For each N (tiny VMs on parasilo nodes, one group):

* ``init``: reserve (one job: nodes + a /22), wait for it, grant root on the nodes over SSH,
  start the VMs over SSH, wait until every VM answers over SSH (``VMonG5k.init``);
* ``re-run init``: a second run of the script: job reloaded by name, running VMs kept, SSH
  checked again;
* ``destroy``.

Waiting for the job is virtual: the client's sleeps advance the emulator's clock over its admin
endpoint; wall time excludes those admin calls. HTTP requests are counted at the ``requests``
adapter (retries included, admin calls excluded). SSH sessions are real.

EnOSlib 10.9 (``--compare-python``): its ``VMonG5k.init`` cannot run to the end here, because
its on-node playbook acts on the machine itself, which the emulated nodes share (their network
namespaces are private, not their kernel, init system or most of their filesystem): it runs
``modprobe -r kvm_intel`` (the machine's KVM module), restarts ``libvirtd`` with the ``service``
module (the machine's libvirtd, which the Vagrant tests use), bind-mounts under
``/var/lib/libvirt/images``, and lists VMs with Ansible's ``virt`` module, which talks to the
machine's libvirt socket through the python bindings rather than running ``virsh``. Its column
therefore measures what it does before that playbook (sizing, reservation of nodes and subnet,
mapping: ``_start_virtualmachines`` replaced by a no-op, and its SSH root-granting step skipped
as in ``g5k_bench.py``); it never waits for SSH on the VMs, so it has no "SSH-ready" figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import textwrap
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from g5k_bench import PRELUDE, can_import_enoslib, run_client  # noqa: E402 - one counter, one virtual sleep

RUN_ALL_ARGS = ["--sizes", "1,10,50", "--runs", "1", "--compare-python", "{compare_python}"]
RUN_ALL_ROOT = True
CLUSTER = "parasilo"
IMAGE = "/grid5000/virt-images/debian12-x64-base.qcow2"

OURS = PRELUDE + textwrap.dedent('''
    from enoslib.config import set_config
    set_config(cache_dir=ARGS["cache"], display="noop", ssh_config_file=ARGS["ssh_config"])
    from enoslib.infra.enos_vmong5k import VMonG5k, VMonG5kConf
    from enoslib.infra.enos_g5k.client import G5kClient
    def provider():
        conf = (VMonG5kConf.from_settings(job_name=ARGS["name"], walltime="1:00:00", image=ARGS["image"])
                .add_machine(roles=["vm"], cluster=ARGS["cluster"], number=ARGS["n"]))
        client = G5kClient(ARGS["uri"], ARGS["user"], ARGS["password"], sleep=vsleep, now=vnow)
        return VMonG5k(conf, client=client)
    first, second = provider(), provider()
    measure("init", first.init)
    measure("re-run init", second.init)
    assert len(second.roles["vm"]) == ARGS["n"]
    measure("destroy", second.destroy)
    print(json.dumps(RESULTS))
''')

ENOSLIB = PRELUDE + textwrap.dedent('''
    import logging
    logging.disable(logging.WARNING)
    time.sleep = vsleep
    import enoslib as en
    from enoslib.infra.enos_g5k.provider import G5kBase
    import enoslib.infra.enos_vmong5k.provider as vp
    G5kBase.grant_root_access = lambda self: None        # an SSH step, skipped (as in g5k_bench)
    vp._start_virtualmachines = lambda *a, **kw: None     # its playbook acts on this machine: see docstring
    def conf():
        return (en.VMonG5kConf.from_settings(job_name=ARGS["name"], walltime="1:00:00", image=ARGS["image"])
                .add_machine(roles=["vm"], cluster=ARGS["cluster"], number=ARGS["n"]).finalize())
    first, second = en.VMonG5k(conf()), en.VMonG5k(conf())
    measure("init", first.init)
    measure("re-run init", second.init)
    measure("destroy", second.destroy)
    print(json.dumps(RESULTS))
''')


def one_round(sizes: list[int], compare: str | None) -> dict[str, dict[str, Any]]:
    from enoslib.emulators.g5k import G5kEmulator

    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as home, \
            G5kEmulator(["rennes"], speed=0, backend="netns", nodes_per_cluster=4,
                        users={"root": "bench-password"}) as emu:
        ssh_config = Path(home) / "ssh_config"
        ssh_config.write_text("")
        stop = threading.Event()

        def follow() -> None:
            while not stop.is_set():
                (Path(home) / "next").write_text(emu.ssh_config())
                os.replace(Path(home) / "next", ssh_config)
                stop.wait(0.05)

        thread = threading.Thread(target=follow, daemon=True)
        thread.start()
        try:
            args = {"uri": emu.uri, "user": emu.username, "password": emu.password, "admin": emu.admin_url,
                    "admin_user": emu.admin_username, "admin_password": emu.admin_password,
                    "cache": str(Path(home) / "cache"), "ssh_config": str(ssh_config), "image": IMAGE,
                    "cluster": CLUSTER}
            env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": home}
            for n in sizes:
                results.setdefault("enoslib (ours)", {})[n] = run_client(
                    sys.executable, OURS, {**args, "name": f"bench{n}", "n": n}, env)
                emu.advance(30)  # the deleted job ends (kill delay): its nodes and VMs go
                if emu.guests.list():
                    raise RuntimeError(f"VMs left: {[g.name for g in emu.guests.list()]}")
                if compare:
                    emu.write_client_config(Path(home) / ".python-grid5000.yaml")
                    env_cmp = {k: v for k, v in env.items() if k != "PYTHONPATH"}
                    results.setdefault("EnOSlib 10.9 (no on-node step)", {})[n] = run_client(
                        compare, ENOSLIB, {**args, "name": f"bench-enoslib{n}", "n": n}, env_cmp)
            emu.advance(60)
            leftover = [j.uid for j in emu.jobs() if j.state in ("waiting", "launching", "running")]
            if leftover:
                raise RuntimeError(f"jobs left running: {leftover}")
        finally:
            stop.set()
            thread.join()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,10,50")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--compare-python", default=next(
        (p for p in ("/work/main/.venv-enoslib/bin/python", "/tmp/cmp-venv/bin/python") if Path(p).exists()), ""))
    parser.add_argument("--json", action="store_true", help="print raw results as JSON")
    opts = parser.parse_args(argv)
    sizes = [int(s) for s in opts.sizes.split(",") if s]
    compare = opts.compare_python if can_import_enoslib(opts.compare_python) else None
    rounds = [one_round(sizes, compare) for _ in range(opts.runs)]
    summary = {tool: {n: {step: {
        "wall": statistics.median(r[tool][n][step]["wall"] for r in rounds),
        "requests": statistics.median(r[tool][n][step]["requests"] for r in rounds),
        "waited": statistics.median(r[tool][n][step]["waited"] for r in rounds)}
        for step in rounds[0][tool][n]} for n in sizes} for tool in rounds[0]}
    if opts.json:
        print(json.dumps(summary, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"VMonG5k on the Grid'5000 emulator: N tiny VMs SSH-ready (median of {opts.runs} runs)")
    table.add_column("tool")
    table.add_column("N", justify="right")
    for step in ("init", "re-run init", "destroy"):
        table.add_column(f"{step}\nwall", justify="right")
        table.add_column(f"{step}\nrequests", justify="right")
    table.add_column("init: job wait\n(virtual)", justify="right")
    for tool, per_n in summary.items():
        for n, steps in per_n.items():
            row = [tool, str(n)]
            for step in ("init", "re-run init", "destroy"):
                s = steps[step]
                row += [f"{s['wall']:.2f} s", f"{s['requests']:.0f}"]
            row.append(f"{steps['init']['waited']:.0f} s")
            table.add_row(*row)
    Console(width=200).print(table)
    if not compare:
        print(f"(no EnOSlib column: {opts.compare_python} cannot import enoslib.infra.enos_g5k)")
    else:
        print("EnOSlib 10.9: reservation and mapping only, its on-node playbook cannot run here "
              "(it acts on this machine's kernel module, libvirtd and /var/lib/libvirt): see the docstring")


if __name__ == "__main__":
    main()
