"""``python -m enoslib.emulators.g5k`` (and ``enos emulate g5k``): serve until Ctrl-C.

Prints the URI, the credentials, a python-grid5000 YAML to use and how to
inject faults, then serves. Example::

    python -m enoslib.emulators.g5k --speed 30 --sites rennes,nancy --config ~/.g5kemu.yaml
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence

from .emulator import G5kEmulator

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m enoslib.emulators.g5k",
        description="Serve a local emulator of the Grid'5000 REST API.",
    )
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: any free)")
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="virtual seconds per real second (default 1; 0 freezes the clock)",
    )
    p.add_argument(
        "--sites",
        default=None,
        help="comma-separated sites of the default dataset (rennes,nancy,lyon)",
    )
    p.add_argument("--snapshot", default=None, help="reference data: a JSON dump to load instead")
    p.add_argument(
        "--nodes-per-cluster", type=int, default=None, help="cap generated cluster sizes"
    )
    p.add_argument(
        "--backend",
        choices=("auto", "netns", "address"),
        default="auto",
        help="node backend (netns: real SSH hosts, root only)",
    )
    p.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="LOGIN:PASSWORD",
        help="accepted API credentials (repeatable; default: one user generated for this run)",
    )
    p.add_argument(
        "--admin-password",
        default=None,
        help="secret of the /_emulator control endpoints (default: generated for this run)",
    )
    p.add_argument("--quota", type=int, default=None, help="max nodes per user")
    p.add_argument("--faults", default=None, help="initial fault knobs as a JSON object")
    p.add_argument("--seed", type=int, default=0, help="seed of the random fault draws")
    p.add_argument(
        "--launch-delay",
        type=float,
        default=3.0,
        help="virtual seconds a job stays launching (default 3)",
    )
    p.add_argument(
        "--deploy-duration",
        type=float,
        default=20.0,
        help="virtual seconds a deployment takes (default 20)",
    )
    p.add_argument(
        "--config",
        default=None,
        help="write a python-grid5000 YAML there (e.g. ~/.python-grid5000.yaml)",
    )
    p.add_argument(
        "--ssh-config",
        default=None,
        help="keep an ssh_config for the running nodes up to date at this path",
    )
    p.add_argument("--verbose", action="store_true", help="log every HTTP request")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    users = {}
    for spec in args.user:
        login, sep, password = spec.partition(":")
        if not sep or not login:
            print(f"--user expects LOGIN:PASSWORD, got {spec!r}", file=sys.stderr)
            return 2
        users[login] = password
    sites = args.snapshot or (args.sites.split(",") if args.sites else None)
    try:
        faults = json.loads(args.faults) if args.faults else None
        emu = G5kEmulator(
            sites,
            users=users or None,
            admin_password=args.admin_password,
            backend=args.backend,
            speed=args.speed,
            port=args.port,
            faults=faults,
            seed=args.seed,
            default_quota=args.quota,
            launch_delay=args.launch_delay,
            deploy_duration=args.deploy_duration,
            nodes_per_cluster=args.nodes_per_cluster,
            verbose=args.verbose,
        )
        emu.start()
    except Exception as exc:  # noqa: BLE001 - a bad option must read as one line, not a traceback
        print(f"cannot start the emulator: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Ctrl-C must stop us even when started with SIGINT ignored (a background job of a
    # non-interactive shell, nohup, some CI runners): Python keeps an inherited SIG_IGN
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        config = emu.write_client_config(args.config) if args.config else None
        print(f"Grid'5000 API emulator listening on {emu.uri}")
        print(f"  user        : {emu.username}")
        print(f"  password    : {emu.password}")
        kind = emu.backend.kind if emu.backend else "none"
        print(
            f"  sites       : {', '.join(emu.ref.sites)}   backend: {kind}   "
            f"clock speed: x{args.speed:g}"
        )
        print(
            "  python      : from grid5000 import Grid5000\n"
            f"                gk = Grid5000(uri={emu.uri!r}, username={emu.username!r}, "
            f"password={emu.password!r})"
        )
        if config:
            print(f"  client YAML : {config}  (Grid5000.from_yaml({str(config)!r}); check gk._uri)")
        else:
            print("  client YAML : put this in ~/.python-grid5000.yaml (or use --config PATH):")
            for key, value in emu.client_config().items():
                print(f"                {key}: {json.dumps(value)}")
        # the control endpoints have their own secret: API credentials cannot steer the emulator
        control = f"{emu.admin_username}:{emu.admin_password}"
        print(
            f"  faults      : curl -u {control} -X PUT "
            f"{emu.admin_url}/faults -d '{{\"error_rate\": 0.1}}'"
        )
        print(
            f"  clock       : curl -u {control} -X POST "
            f"{emu.admin_url}/clock -d '{{\"advance\": 3600}}'"
        )
        if args.ssh_config:
            print(f"  nodes       : ssh -F {args.ssh_config} <node fqdn>")
        print("Press Ctrl-C to stop.", flush=True)
        while not stop.wait(1.0):
            if args.ssh_config:
                emu.ssh_config(args.ssh_config)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        emu.stop()
        print("emulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
