"""Run the g5k_*.py examples on Grid'5000, or on a local emulator of its API.

With ``ENOSLIB_G5K_EMULATOR=1`` an emulator starts in this process (three sites, eight
clusters, address-only nodes, a clock that jumps instead of waiting) and every Grid'5000
object of the example talks to it; nothing leaves the machine. Without it, the real API is
used (credentials from ``~/.python-grid5000.yaml``).

Address-only nodes cannot be reached over SSH, so on the emulator the examples skip what
happens on the nodes themselves (``EMULATED`` is True and :func:`node_settings` turns the
provider's on-node steps off).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

EMULATED = os.environ.get("ENOSLIB_G5K_EMULATOR", "") not in ("", "0")


@contextlib.contextmanager
def testbed(**emulator_options: Any) -> Iterator[Any]:
    """Point the Grid'5000 objects at the testbed; yields the emulator (or None)."""
    if not EMULATED:
        yield None
        return
    import tempfile

    from enoslib.config import config_context
    from enoslib.emulators.g5k import G5kEmulator, legacy_dataset
    from enoslib.infra.enos_g5k.client import G5kClient, reset_api, set_api

    emulator_options.setdefault("speed", 0)
    emulator_options.setdefault("backend", "address")
    emulator_options.setdefault("nodes_per_cluster", 8)
    # the examples name the clusters of the emulator's former generated layout
    emulator_options.setdefault("sites", legacy_dataset(emulator_options["nodes_per_cluster"]))
    # the emulator's reference data is cached apart from the real testbed's, and thrown away
    with tempfile.TemporaryDirectory() as cache, config_context(cache_dir=cache), \
            G5kEmulator(**emulator_options) as emu:
        # waits of the provider move the emulator's clock: a 2 h reservation is instant
        set_api(client=G5kClient(emu.uri, emu.username, emu.password, sleep=emu.advance, now=emu.clock.now))
        try:
            yield emu
        finally:
            reset_api()


def node_settings() -> dict[str, Any]:
    """Settings for G5kConf: on the emulator, skip the steps done over SSH on the nodes."""
    if not EMULATED:
        return {}
    return {"root_access": False, "wait_ssh": False, "dhcp": False, "key": _dummy_key()}


def _dummy_key() -> str:
    import tempfile

    path = os.path.join(tempfile.gettempdir(), "enoslib-g5k-example.pub")
    with open(path, "w") as f:
        f.write("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyForTheEmulator example@enoslib\n")
    return path
