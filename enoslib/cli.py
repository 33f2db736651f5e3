"""The ``enos`` command: ``enos check``, ``enos schema NAME``, ``enos emulate TESTBED``,
``enos destroy NAME``.

``enoslib.check()`` is the same status table as ``enos check``, as a function (EnOSlib's).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from enoslib._urls import strip_credentials

# extra -> python modules it installs
EXTRAS: dict[str, list[str]] = {
    "g5k": ["grid5000", "sshtunnel", "yaml"],
    "iotlab": ["iotlabcli"],
    "openstack": ["openstack"],
    "chameleon": ["openstack", "blazarclient"],
    "vagrant": ["vagrant"],
    "plot": ["matplotlib"],
}

# testbed -> credential files a user may have (their content is never read or printed)
CREDENTIALS: dict[str, list[str]] = {
    "g5k": ["~/.python-grid5000.yaml"],
    "iotlab": ["~/.iotlabrc"],
    "openstack": ["~/.config/openstack/clouds.yaml", "$OS_AUTH_URL"],
    "chameleon": ["~/.config/openstack/clouds.yaml", "$OS_AUTH_URL"],
}

# EnOSlib's platform names (``check(["Grid'5000"])``) -> our extra
PLATFORMS: dict[str, str] = {
    "grid'5000": "g5k", "vmong5k": "g5k", "distem": "g5k", "iot-lab": "iotlab",
    "openstack": "openstack", "chameleon": "chameleon", "chameleonkvm": "chameleon",
    "chameleonedge": "chameleon", "vagrant": "vagrant",
}

# testbed -> module whose main(argv) serves an emulator of its API
EMULATORS: dict[str, str] = {"g5k": "enoslib.emulators.g5k.__main__",
                             "iotlab": "enoslib.emulators.iotlab.__main__",
                             "openstack": "enoslib.emulators.openstack.__main__",
                             "chameleon": "enoslib.emulators.openstack.chameleon",
                             "distem": "enoslib.emulators.distem.__main__"}


def _present(item: str) -> bool:
    if item.startswith("$"):
        return bool(os.environ.get(item[1:]))
    return Path(item).expanduser().exists()


def check(platform_filter: Sequence[str] | None = None, *, connectivity: bool = False,
          g5k_conf: str | None = None) -> bool:
    """Print which optional dependencies (extras) are installed and which testbed credentials
    are present; True when the core dependencies are all installed.

    ``platform_filter`` restricts the table to some extras (``["g5k", "iotlab"]``; EnOSlib's
    platform names such as ``"Grid'5000"`` or ``"IOT-lab"`` work too).
    ``connectivity=True`` also asks the testbeds that have a check (Grid'5000) whether the
    credentials work (``g5k_conf``: the python-grid5000 YAML, default ``~/.python-grid5000.yaml``).
    Credential files are only tested for existence: their content is never read or printed.
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    import enoslib

    if platform_filter is None:
        wanted = list(EXTRAS)
    else:
        names = {n.lower(): n for n in platform_filter}
        unknown = [n for low, n in names.items() if low not in EXTRAS and low not in PLATFORMS]
        if unknown:
            raise ValueError(f"check: unknown platform(s) {', '.join(map(repr, unknown))}; "
                             f"known: {', '.join([*EXTRAS, *PLATFORMS])}")
        wanted = list(dict.fromkeys(low if low in EXTRAS else PLATFORMS[low] for low in names))
    table = Table(title=f"enoslib {enoslib.__version__}")
    for column in ("extra", "installed", "credentials", "install with"):
        table.add_column(column)
    for extra in wanted:
        missing = [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]
        creds = CREDENTIALS.get(extra, [])
        found = [c for c in creds if _present(c)]
        # Text cells: "enoslib[g5k]" would otherwise be read as a rich markup tag and vanish
        table.add_row(*map(Text, (
            extra,
            "yes" if not missing else f"no ({', '.join(missing)} missing)",
            ", ".join(found) if found else ("none found" if creds else "-"),
            "" if not missing else f"pip install 'enoslib[{extra}]'",
        )))
    core = [m for m in ("ansible", "jsonschema", "netaddr", "rich") if importlib.util.find_spec(m) is None]
    console = Console()
    console.print(table)
    console.print(Text("core dependencies: " + ("ok" if not core else f"missing {', '.join(core)}")))
    console.print(Text(f"root (needed by the Local provider's namespaces): {'yes' if os.geteuid() == 0 else 'no'}"))
    ok = not core
    if connectivity and "g5k" in wanted:
        ok = check_g5k(g5k_conf) and ok
    return ok


def _check_command(args: argparse.Namespace) -> int:
    return 0 if check(connectivity=args.g5k, g5k_conf=args.g5k_conf) else 1


def check_g5k(conf_file: str | None) -> bool:
    """Ask the Grid'5000 API (or an emulator) for its sites with the user's credentials."""
    from enoslib.errors import EnosError
    from enoslib.infra.enos_g5k.client import DEFAULT_CONF_FILE, G5kClient

    path = Path(conf_file or os.environ.get("G5K_API_CONF", DEFAULT_CONF_FILE)).expanduser()
    if not path.exists():
        print(f"g5k: no credentials file {path}: nothing to check")
        return False
    try:
        client = G5kClient.from_file(path, retries=0, timeout=10)
        sites = client.items("/sites")
    except (EnosError, OSError, ValueError) as exc:
        # the message names the URI and status, never the password
        print(f"g5k: NOT reachable with {path}: {strip_credentials(exc)}")
        return False
    print(f"g5k: reachable at {strip_credentials(client.uri)} as {client.login}: {len(sites)} sites")
    return True


def schema(args: argparse.Namespace) -> int:
    """``enos schema NAME``: print a provider's JSON schema (exit code 2 for an unknown name)."""
    from enoslib.errors import EnosConfigError
    from enoslib.infra.configuration import load_schema

    try:
        print(json.dumps(load_schema(args.name), indent=2))
    except EnosConfigError as exc:
        print(f"enos schema: {exc}", file=sys.stderr)
        return 2
    return 0


def emulate(args: argparse.Namespace) -> int:
    """``enos emulate NAME ...``: run the command line of a testbed emulator (see ``EMULATORS``)."""
    if args.testbed not in EMULATORS:
        print(f"enos emulate: no emulator for {args.testbed!r}; known: {', '.join(EMULATORS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(EMULATORS[args.testbed])
    return int(module.main(args.rest) or 0)


def destroy(args: argparse.Namespace) -> int:
    """Delete every Grid'5000 job named NAME (and those a failed destroy recorded)."""
    from enoslib.errors import EnosError
    from enoslib.infra.enos_g5k.client import G5kClient, as_client
    from enoslib.infra.enos_g5k.provider import pending_releases, release_by_name

    try:
        client = G5kClient.from_file(args.g5k_conf) if args.g5k_conf else as_client()
        release_by_name(args.name, client)
    except (EnosError, OSError) as exc:
        print(f"enos destroy: {exc}", file=sys.stderr)
        return 1
    print(f"enos destroy: no job named {args.name!r} left at {client.uri} for {client.login}")
    others = [r for r in pending_releases() if r.get("job_name") == args.name]
    for record in others:  # recorded for another API or login: their credentials are needed
        print(f"enos destroy: still recorded for {record.get('uri')} ({record.get('login')}): "
              f"{record.get('path')}; run with --g5k-conf for that API", file=sys.stderr)
    return 1 if others else 0


def main(argv: Sequence[str] | None = None) -> int:
    """The ``enos`` command (``check``, ``schema``, ``emulate``, ``destroy``); returns the exit code."""
    parser = argparse.ArgumentParser(prog="enos", description="enoslib command-line tools")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="show installed extras and testbed credentials")
    p.add_argument("--g5k", action="store_true", help="also query the Grid'5000 API with your credentials")
    p.add_argument("--g5k-conf", default=None, help="python-grid5000 YAML (default ~/.python-grid5000.yaml)")
    p.set_defaults(func=_check_command)
    p = sub.add_parser("schema", help="print a provider's JSON schema")
    p.add_argument("name", help="provider name (static, local, g5k, ...)")
    p.set_defaults(func=schema)
    p = sub.add_parser("emulate", help="serve a local emulator of a testbed API")
    p.add_argument("testbed", help=f"testbed to emulate ({', '.join(EMULATORS)})")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="options for the emulator (see --help)")
    p.set_defaults(func=emulate)
    p = sub.add_parser("destroy", help="delete the Grid'5000 jobs named NAME (finishes a failed destroy)")
    p.add_argument("name", help="the job_name of the configuration")
    p.add_argument("--g5k-conf", default=None, help="python-grid5000 YAML (default ~/.python-grid5000.yaml)")
    p.set_defaults(func=destroy)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
