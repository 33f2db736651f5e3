"""Containers on Grid'5000 with Distem: two groups of vnodes, a command on each, released at the end.

Run on Grid'5000: ``python examples/distem.py`` (needs ``pip install 'enoslib[distem]'`` and a
Distem root filesystem archive readable from the nodes, see ``image``).
Run on the emulators: ``ENOSLIB_G5K_EMULATOR=1 python examples/distem.py`` (a Grid'5000 API and
a Distem coordinator on this machine; the vnodes are address-only there, so no command runs).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from g5k_support import EMULATED, node_settings, testbed
from rich.console import Console

import enoslib as en

console = Console()


@contextlib.contextmanager
def distem_testbed() -> Iterator[dict[str, Any]]:
    """Extra provider arguments: on the emulators, the local Distem coordinator to use."""
    if not EMULATED:
        yield {}
        return
    from enoslib.emulators.distem import DistemEmulator

    with DistemEmulator(backend="address") as coordinator:
        yield {"coordinator": ("127.0.0.1", coordinator.port)}


def main() -> None:
    key = node_settings().get("key")
    conf = (
        en.DistemConf.from_settings(job_name="enoslib-distem", walltime="01:00:00",
                                    image="file:///home/public/distem-fs-bookworm.tar.gz",
                                    **({"key": key} if key else {}))
        .add_machine(roles=["server"], cluster="paravance", number=2, flavour="large")
        .add_machine(roles=["client"], cluster="paravance", number=4)
        .finalize()
    )
    with testbed(), distem_testbed() as extra, en.Distem(conf, **extra) as (roles, networks):
        for role in ("server", "client"):
            console.print(f"{role}: {', '.join(f'{h.alias}={h.address}' for h in roles[role])}")
        console.print(f"vnetwork: {networks['distem'][0].network}")
        if not EMULATED:
            for result in en.run_command("hostname", roles=roles):
                console.print(f"{result.host}: {result.stdout}")
    console.print("released")


if __name__ == "__main__":
    main()
