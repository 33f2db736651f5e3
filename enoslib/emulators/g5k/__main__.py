"""``python -m enoslib.emulators.g5k`` (and ``enos emulate g5k``): serve until Ctrl-C.

Prints the URI, the credentials, a python-grid5000 YAML to use and how to
inject faults, then serves. Example::

    python -m enoslib.emulators.g5k --speed 30 --sites rennes,nancy --config ~/.g5kemu.yaml
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from ..kit.cli import (
    add_common_arguments,
    admin_hints,
    parse_faults,
    parse_users,
    serve,
    usage_error,
)
from .emulator import G5kEmulator

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m enoslib.emulators.g5k",
        description="Serve a local emulator of the Grid'5000 REST API.",
    )
    add_common_arguments(
        p, config_help="write a python-grid5000 YAML there (e.g. ~/.python-grid5000.yaml)"
    )
    p.add_argument(
        "--sites",
        default=None,
        help="comma-separated sites of the real reference (default: all 12)",
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
        "--instance",
        type=int,
        default=None,
        help="netns: address ranges of this emulator (0: real ones, 1-2 shifted; default: first free)",
    )
    p.add_argument(
        "--ssh-key",
        action="append",
        default=[],
        metavar="PUBFILE",
        help="netns: a public key registered for the first user's account, as uploaded to "
        "Grid'5000 (e.g. ~/.ssh/id_ed25519.pub; repeatable)",
    )
    p.add_argument("--quota", type=int, default=None, help="max nodes per user")
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
    return p


def _banner(emu: G5kEmulator, args: argparse.Namespace) -> list[str]:
    config = emu.write_client_config(args.config) if args.config else None
    lines = [
        f"Grid'5000 API emulator listening on {emu.uri}",
        f"  user        : {emu.username}",
        f"  password    : {emu.password}",
    ]
    kind = emu.backend.kind if emu.backend else "none"
    lines.append(
        f"  sites       : {', '.join(emu.ref.sites)}   backend: {kind}   "
        f"clock speed: x{args.speed:g}"
    )
    lines.append(
        "  python      : from grid5000 import Grid5000\n"
        f"                gk = Grid5000(uri={emu.uri!r}, username={emu.username!r}, "
        f"password={emu.password!r})"
    )
    if config:
        lines.append(
            f"  client YAML : {config}  (Grid5000.from_yaml({str(config)!r}); check gk._uri)"
        )
    else:
        lines.append("  client YAML : put this in ~/.python-grid5000.yaml (or use --config PATH):")
        for key, value in emu.client_config().items():
            lines.append(f"                {key}: {json.dumps(value)}")
    # the control endpoints have their own secret: API credentials cannot steer the emulator
    lines.extend(admin_hints(emu.admin_url, emu.admin_auth))
    if args.ssh_config:
        emu.ssh_config(args.ssh_config)
        lines.append(f"  nodes       : ssh -F {args.ssh_config} <node fqdn>   (kept up to date;")
        lines.append(f"                or 'Include {args.ssh_config}' at the top of ~/.ssh/config)")
    accounts = getattr(emu.backend, "accounts", None)
    login = getattr(emu.backend, "login", "root")
    if accounts and login in accounts.uids:
        lines.append(
            f"  account     : {login} (uid {accounts.uids[login]}) on access.grid5000.fr, the "
            "frontends and the nodes;"
        )
        lines.append(
            f"                /home/{login} shared by a site's frontend and nodes, sudo-g5k on "
            "nodes of your jobs"
        )
    if emu.backend is not None and emu.backend.kind == "netns":
        lines.append("  ssh config  : nodes are reached through the emulated access.grid5000.fr,")
        lines.append("                as from a laptop (EnOSlib jumps through it by itself):")
        text = emu.backend.gateway_config() + emu.backend.fallback_config()
        lines.extend("                " + line for line in text.splitlines())
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        users = parse_users(args.user)
    except ValueError as exc:
        return usage_error(exc)
    sites = args.snapshot or (args.sites.split(",") if args.sites else None)
    keys = []
    for path in args.ssh_key:
        try:
            key = open(os.path.expanduser(path)).read().strip()
        except OSError as exc:
            return usage_error(f"--ssh-key {path}: {exc.strerror}")
        if not key.startswith(("ssh-", "ecdsa-", "sk-")):
            return usage_error(f"--ssh-key {path}: not an OpenSSH public key")
        keys.append(key)

    def start() -> G5kEmulator:
        emu = G5kEmulator(
            sites,
            users=users or None,
            admin_password=args.admin_password,
            backend=args.backend,
            speed=args.speed,
            port=args.port,
            faults=parse_faults(args.faults),
            seed=args.seed,
            default_quota=args.quota,
            launch_delay=args.launch_delay,
            deploy_duration=args.deploy_duration,
            nodes_per_cluster=args.nodes_per_cluster,
            instance=args.instance,
            verbose=args.verbose,
        )
        for key in keys:
            emu.add_ssh_key(key)
        return emu.start()

    def refresh(emu: G5kEmulator) -> None:
        if args.ssh_config:
            emu.ssh_config(args.ssh_config)

    return serve(start, lambda emu: _banner(emu, args), idle=refresh)


if __name__ == "__main__":
    sys.exit(main())
