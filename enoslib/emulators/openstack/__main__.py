"""``enos emulate openstack`` / ``enos emulate chameleon``: serve an emulated cloud until Ctrl-C.

Writes an OpenStack RC file (mode 0600; the password is only there) to source, or to give
as a provider's ``rc_file``, and prints where it is. Example::

    enos emulate chameleon --speed 60 --rc-file ./emu-openrc.sh
    source ./emu-openrc.sh && python examples/chameleon_baremetal.py
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from .emulator import OpenstackEmulator

__all__ = ["main"]


def _parser(chameleon: bool) -> argparse.ArgumentParser:
    name = "chameleon" if chameleon else "openstack"
    p = argparse.ArgumentParser(prog=f"enos emulate {name}",
                                description=f"Serve a local emulator of {'Chameleon' if chameleon else 'an OpenStack'}"
                                            " cloud (Keystone, Nova, Neutron, Glance"
                                            f"{', Blazar' if chameleon else ''}).")
    p.add_argument("--chameleon", action="store_true", default=chameleon,
                   help="add Blazar, bare-metal hosts and sharednet1 (Chameleon)")
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: any free)")
    p.add_argument("--speed", type=float, default=1.0, help="virtual seconds per real second (default 1)")
    p.add_argument("--backend", choices=("auto", "netns", "address"), default="auto",
                   help="servers as real SSH hosts (netns, root) or addresses only")
    p.add_argument("--boot-time", type=float, default=20.0, help="virtual seconds from BUILD to ACTIVE")
    p.add_argument("--faults", default=None, help='fault knobs as JSON, e.g. {"error_rate": 0.05}')
    p.add_argument("--quotas", default=None, help='quotas as JSON, e.g. {"instances": 10}')
    p.add_argument("--rc-file", default=None, help="where to write the RC file (default: a temporary directory)")
    p.add_argument("--ssh-config", default=None, help="write an ssh_config reaching the servers there")
    return p


def main(argv: Sequence[str] | None = None, *, chameleon: bool = False) -> int:
    args = _parser(chameleon).parse_args(argv)
    try:
        faults = json.loads(args.faults) if args.faults else {}
        faults.setdefault("boot_time", args.boot_time)
        quotas = json.loads(args.quotas) if args.quotas else None
        emu = OpenstackEmulator(chameleon=args.chameleon, speed=args.speed, backend=args.backend, faults=faults,
                                quotas=quotas, port=args.port)
        emu.start()
    except Exception as exc:  # noqa: BLE001 - a bad option reads as one line
        print(f"cannot start the emulator: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        rc = Path(args.rc_file) if args.rc_file else Path(tempfile.mkdtemp(prefix="enos-emu-")) / "openrc.sh"
        emu.write_rc_file(rc)
        print(f"{'Chameleon' if args.chameleon else 'OpenStack'} emulator listening on {emu.base_url}")
        print(f"  auth_url : {emu.auth_url}")
        print(f"  user     : {emu.username} (project {emu.project_name}); password in the RC file")
        print(f"  RC file  : {rc}   (source it, or set rc_file in the configuration)")
        if emu.keyfile:
            print(f"  servers  : ssh as {emu.ssh_user} with {emu.keyfile}")
            if args.ssh_config:
                emu.ssh_config(args.ssh_config)
                print(f"  ssh      : en.set_config(ssh_config_file={args.ssh_config!r})")
        else:
            print("  servers  : addresses only (run as root with --backend netns for SSH hosts)")
        print("Ctrl-C to stop.", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
