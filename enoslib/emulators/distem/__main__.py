"""``enos emulate distem`` (``python -m enoslib.emulators.distem``): a Distem coordinator on this machine.

Serves the REST API the ``distem`` client uses until Ctrl-C; point the client at it with
``distem.Distem(serveraddr="127.0.0.1", port=PORT)``, or the provider with
``Distem(conf, coordinator=("127.0.0.1", PORT))``.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..kit.cli import add_common_arguments, admin_hints, parse_faults, serve, usage_error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="enos emulate distem", description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, config_help="(unused: the Distem API has no credentials)")
    parser.add_argument("--backend", choices=("auto", "netns", "address"), default="auto",
                        help="vnodes as SSH hosts in namespaces (root) or addresses only")
    args = parser.parse_args(argv)
    try:
        faults = parse_faults(args.faults) or {}
        faults.setdefault("seed", args.seed)
    except ValueError as exc:
        return usage_error(exc)

    def start() -> Any:
        from .emulator import DistemEmulator

        return DistemEmulator(backend=args.backend, faults=faults, port=args.port,
                              admin_password=args.admin_password, verbose=args.verbose).start()

    def describe(emu: Any) -> list[str]:
        return [f"Distem REST API listening on {emu.server.base_url}",
                f"  client : distem.Distem(serveraddr='127.0.0.1', port={emu.port})",
                *admin_hints(emu.server.admin_url, emu.server.admin_auth)]

    return serve(start, describe)


if __name__ == "__main__":
    raise SystemExit(main())
