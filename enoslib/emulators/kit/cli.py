"""Command-line plumbing so an emulator's ``__main__`` (``enos emulate NAME``) is a few lines.

::

    def main(argv=None) -> int:
        parser = argparse.ArgumentParser(prog="enos emulate toy")
        add_common_arguments(parser)                    # --port --speed --user --faults ...
        args = parser.parse_args(argv)
        try:
            users = parse_users(args.user)
        except ValueError as exc:
            return usage_error(exc)
        return serve(
            lambda: ToyEmulator(users=users, port=args.port, speed=args.speed,
                                faults=parse_faults(args.faults)).start(),
            lambda emu: [f"Toy API listening on {emu.url}", *admin_hints(emu.server)],
        )

:func:`serve` prints the banner, then serves until Ctrl-C or SIGTERM and
stops the emulator cleanly. SIGINT is reset to Python's default handler while
serving: an inherited ``SIG_IGN`` (a background job of a non-interactive shell,
``nohup``, some CI runners) would otherwise make Ctrl-C ignored. Register the
emulator in ``enoslib.cli.EMULATORS`` (the one registry of ``enos emulate``).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

__all__ = [
    "add_common_arguments",
    "admin_hints",
    "parse_faults",
    "parse_users",
    "serve",
    "usage_error",
]


class _Stoppable(Protocol):
    def stop(self) -> None: ...


def add_common_arguments(
    parser: argparse.ArgumentParser,
    *,
    speed: float = 1.0,
    config_help: str = "write the client configuration (credentials) there",
) -> argparse.ArgumentParser:
    """Add the options every emulator shares; returns ``parser``.

    ``--port --speed --user LOGIN:PASSWORD (repeatable) --admin-password --faults JSON
    --seed --config PATH --ssh-config PATH --verbose``.
    """
    parser.add_argument(
        "--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: any free)"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=speed,
        help=f"virtual seconds per real second (default {speed:g}; 0 freezes the clock)",
    )
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="LOGIN:PASSWORD",
        help="accepted API credentials (repeatable; default: one user generated for this run)",
    )
    parser.add_argument(
        "--admin-password",
        default=None,
        help="secret of the /_emulator control endpoints (default: generated for this run)",
    )
    parser.add_argument("--faults", default=None, help="initial fault knobs as a JSON object")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random fault draws")
    parser.add_argument("--config", default=None, help=config_help)
    parser.add_argument(
        "--ssh-config",
        default=None,
        help="keep an ssh_config for the running nodes up to date at this path",
    )
    parser.add_argument("--verbose", action="store_true", help="log every HTTP request")
    return parser


def parse_users(specs: Iterable[str]) -> dict[str, str]:
    """``["alice:pw", ...]`` -> ``{"alice": "pw"}``; ``ValueError`` naming the bad spec."""
    users = {}
    for spec in specs:
        login, sep, password = spec.partition(":")
        if not sep or not login:
            raise ValueError(f"--user expects LOGIN:PASSWORD, got {spec!r}")
        users[login] = password
    return users


def parse_faults(text: str | None) -> dict[str, Any] | None:
    """The ``--faults`` JSON object (None when not given); ``ValueError`` otherwise."""
    if not text:
        return None
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("--faults expects a JSON object")
    return value


def usage_error(exc: BaseException | str) -> int:
    """Print one line on stderr and return the usage exit status (2)."""
    print(str(exc), file=sys.stderr)
    return 2


def admin_hints(admin_url: str, admin_auth: Sequence[str], width: int = 12) -> list[str]:
    """Banner lines showing how to inject faults and move the clock with ``curl``."""
    control = f"{admin_auth[0]}:{admin_auth[1]}"
    return [
        f"  {'faults':<{width}}: curl -u {control} -X PUT "
        f"{admin_url}/faults -d '{{\"error_rate\": 0.1}}'",
        f"  {'clock':<{width}}: curl -u {control} -X POST "
        f"{admin_url}/clock -d '{{\"advance\": 3600}}'",
    ]


def serve(
    start: Callable[[], _Stoppable],
    describe: Callable[[Any], Iterable[str]],
    *,
    idle: Callable[[Any], object] | None = None,
    interval: float = 1.0,
) -> int:
    """Start an emulator, print its banner, serve until Ctrl-C/SIGTERM, stop it; exit status.

    Args:
        start: builds and starts the emulator (an exception: one line on stderr, status 1).
        describe: the banner lines (client configuration, credentials...); may write files.
        idle: called with the emulator every ``interval`` real seconds (refresh an ssh_config...).
    """
    try:
        emu = start()
    except Exception as exc:  # noqa: BLE001 - a bad option must read as one line, not a traceback
        print(f"cannot start the emulator: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Ctrl-C must stop us even when started with SIGINT ignored (a background job of a
    # non-interactive shell, nohup, some CI runners): Python keeps an inherited SIG_IGN
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        for line in describe(emu):
            print(line)
        print("Press Ctrl-C to stop.", flush=True)
        while not stop.wait(interval):
            if idle is not None:
                idle(emu)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        emu.stop()
        print("emulator stopped", flush=True)
    return 0
