"""Distem provider: time to get N vnodes SSH-ready, and the requests made, on the emulators.

Run (root for ``--backend netns``: real SSH vnodes in network namespaces)::

    flock /tmp/enoslib-tests.lock env PYTHONPATH=. .venv/bin/python benchmarks/distem_bench.py \\
        [--sizes 1,10,50] [--backend netns|address]

A Grid'5000 emulator (stepped clock: reservation and deployment cost no waiting) and a Distem
coordinator emulator; per size: ``init`` wall time (with ``netns``: until ``run_command("true")``
answered on every vnode), Grid'5000 API requests, Distem REST requests, then the same for a
reload by name. EnOSlib's Distem provider is not compared: it needs a real Distem daemon
bootstrapped over SSH on Grid'5000 nodes and cannot be pointed at a coordinator of our choosing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def one(size: int, backend: str) -> dict[str, float]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "g5k"))
    from g5k_helpers import make_client

    from enoslib.api.commands import run_command
    from enoslib.config import config_context
    from enoslib.emulators.distem import DistemEmulator
    from enoslib.emulators.g5k import G5kEmulator, legacy_dataset
    from enoslib.infra.enos_distem import Distem, DistemConf

    with tempfile.TemporaryDirectory() as tmp, config_context(cache_dir=tmp, display="noop"), \
            G5kEmulator(legacy_dataset(8), speed=0, backend="address", nodes_per_cluster=8) as g5k, \
            DistemEmulator(backend=backend) as coordinator:
        key = Path(tmp) / "id.pub"
        key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0xkQ bench\n")
        conf = (DistemConf.from_settings(job_name="bench", key=str(key), ssh_jump="never")
                .add_machine(roles=["all"], cluster="paravance", number=size, flavour="small"))
        out = {}
        for phase in ("init", "reload"):
            client = make_client(g5k)
            provider = Distem(conf, client=client, coordinator=("127.0.0.1", coordinator.port))
            t0 = time.perf_counter()
            roles, _ = provider.init()
            if backend == "netns":
                ssh = Path(tmp) / "ssh_config"
                hosts = roles["all"]
                ssh.write_text(coordinator.guests.ssh_config([([h.address], h.address) for h in hosts]))
                with config_context(ssh_config_file=str(ssh)):
                    run_command("true", roles=roles)
            out[phase] = time.perf_counter() - t0
            out[f"{phase}_g5k"] = client.request_count
            out[f"{phase}_distem"] = provider.requests
        provider.destroy()
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,10,50")
    parser.add_argument("--backend", choices=("netns", "address"), default="netns")
    args = parser.parse_args()
    print(f"{'vnodes':>6} {'init s':>8} {'g5k req':>8} {'distem req':>10} {'reload s':>9} {'g5k req':>8} {'distem req':>10}")
    for size in [int(s) for s in args.sizes.split(",")]:
        r = one(size, args.backend)
        print(f"{size:>6} {r['init']:>8.2f} {r['init_g5k']:>8} {r['init_distem']:>10} "
              f"{r['reload']:>9.2f} {r['reload_g5k']:>8} {r['reload_distem']:>10}")


if __name__ == "__main__":
    main()
