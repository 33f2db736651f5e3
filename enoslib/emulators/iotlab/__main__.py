"""``enos emulate iotlab`` (``python -m enoslib.emulators.iotlab``): IoT-LAB on this machine.

Prints what to point ``iotlabcli``/enoslib at (``IOTLAB_API_URL``, an rc file), writes an
ssh_config for the frontends and A8 nodes, and serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..kit.cli import add_common_arguments, admin_hints, parse_faults, parse_users, serve, usage_error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="enos emulate iotlab", description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, config_help="write the rc file (login:base64(password), as ~/.iotlabrc) there")
    parser.add_argument("--layout", default=None,
                        help='sites and node counts as JSON, e.g. \'{"grenoble": {"m3": 4, "a8": 2}}\'')
    parser.add_argument("--backend", choices=("auto", "netns", "address"), default="auto",
                        help="frontends and A8 nodes as SSH hosts in namespaces (root) or addresses only")
    parser.add_argument("--serial-period", type=float, default=1.0,
                        help="real seconds between two sensor lines of a running firmware")
    args = parser.parse_args(argv)
    try:
        users = parse_users(args.user) or None
        faults = parse_faults(args.faults) or {}
        faults.setdefault("seed", args.seed)
        layout = json.loads(args.layout) if args.layout else None
    except ValueError as exc:
        return usage_error(exc)

    def start() -> Any:
        from .emulator import IotlabEmulator

        return IotlabEmulator(layout, users=users, speed=args.speed, backend=args.backend, faults=faults,
                              port=args.port, serial_period=args.serial_period,
                              admin_password=args.admin_password, verbose=args.verbose).start()

    def describe(emu: Any) -> list[str]:
        rc = emu.write_rc(args.config) if args.config else emu.write_rc()
        lines = [f"IoT-LAB API listening on {emu.url}",
                 f"  login       : {emu.username}",
                 f"  environment : export IOTLAB_API_URL={emu.url} IOTLAB_PASSWORD_FILE={rc}"]
        if args.ssh_config:
            emu.ssh_config(args.ssh_config)
            lines.append(f"  ssh         : ssh -F {args.ssh_config} {next(iter(emu.testbed.sites))}.iot-lab.info "
                         "(enoslib: set_config(ssh_config_file=...))")
        sites = ", ".join(f"{s} ({len(n)} nodes)" for s, n in emu.testbed.sites.items())
        lines.append(f"  sites       : {sites}")
        return lines + admin_hints(emu.server.admin_url, emu.server.admin_auth)

    return serve(start, describe)


if __name__ == "__main__":
    raise SystemExit(main())
