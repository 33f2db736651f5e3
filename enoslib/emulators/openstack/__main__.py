"""``enos emulate openstack`` / ``enos emulate chameleon``: serve an emulated cloud until Ctrl-C.

Writes an OpenStack RC file (mode 0600; the password is only there) to source, or to give
as a provider's ``rc_file``, and prints where it is. Example::

    enos emulate chameleon --speed 60 --rc-file ./emu-openrc.sh
    source ./emu-openrc.sh && python examples/chameleon_baremetal.py
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from enoslib.emulators.kit.cli import add_common_arguments, admin_hints, parse_faults, parse_users, serve, usage_error

from .emulator import OpenstackEmulator

__all__ = ["main"]


def _parser(chameleon: bool) -> argparse.ArgumentParser:
    name = "chameleon" if chameleon else "openstack"
    p = argparse.ArgumentParser(prog=f"enos emulate {name}",
                                description=f"Serve a local emulator of {'Chameleon' if chameleon else 'an OpenStack'}"
                                            " cloud (Keystone, Nova, Neutron, Glance"
                                            f"{', Blazar' if chameleon else ''}).")
    add_common_arguments(p, config_help="where to write the RC file (default: a temporary directory)")
    p.add_argument("--rc-file", dest="config", metavar="PATH", help="same as --config")
    p.add_argument("--chameleon", action="store_true", default=chameleon,
                   help="add Blazar, bare-metal hosts and sharednet1 (Chameleon)")
    p.add_argument("--backend", choices=("auto", "netns", "address"), default="auto",
                   help="servers as real SSH hosts (netns, root) or addresses only")
    p.add_argument("--boot-time", type=float, default=20.0, help="virtual seconds from BUILD to ACTIVE")
    p.add_argument("--quotas", default=None, help='quotas as JSON, e.g. {"instances": 10}')
    return p


def _banner(emu: OpenstackEmulator, args: argparse.Namespace) -> list[str]:
    rc = Path(args.config) if args.config else Path(tempfile.mkdtemp(prefix="enos-emu-")) / "openrc.sh"
    emu.write_rc_file(rc)
    lines = [f"{'Chameleon' if args.chameleon else 'OpenStack'} emulator listening on {emu.base_url}",
             f"  {'auth_url':<12}: {emu.auth_url}",
             f"  {'user':<12}: {emu.username} (project {emu.project_name}); password in the RC file",
             f"  {'RC file':<12}: {rc}   (source it, or set rc_file in the configuration)"]
    if emu.keyfile:
        lines.append(f"  {'servers':<12}: ssh as {emu.ssh_user} with {emu.keyfile}")
        if args.ssh_config:
            emu.ssh_config(args.ssh_config)
            lines.append(f"  {'ssh':<12}: en.set_config(ssh_config_file={args.ssh_config!r})")
    else:
        lines.append(f"  {'servers':<12}: addresses only (run as root with --backend netns for SSH hosts)")
    return [*lines, *admin_hints(emu.server.admin_url, emu.server.admin_auth)]


def main(argv: Sequence[str] | None = None, *, chameleon: bool = False) -> int:
    args = _parser(chameleon).parse_args(argv)
    try:
        users = parse_users(args.user) or None
        faults: dict[str, Any] = {"boot_time": args.boot_time, "seed": args.seed, **(parse_faults(args.faults) or {})}
        quotas = json.loads(args.quotas) if args.quotas else None
    except ValueError as exc:
        return usage_error(exc)
    return serve(lambda: OpenstackEmulator(chameleon=args.chameleon, speed=args.speed, backend=args.backend,
                                           faults=faults, quotas=quotas, users=users, port=args.port,
                                           admin_password=args.admin_password, verbose=args.verbose).start(),
                 lambda emu: _banner(emu, args))


if __name__ == "__main__":
    sys.exit(main())
