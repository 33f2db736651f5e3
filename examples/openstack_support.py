"""Run the OpenStack/Chameleon examples on a real cloud, or on the local emulator.

With ``ENOSLIB_OPENSTACK_EMULATOR=1`` an emulated cloud starts in this process (address-only
servers, a clock that jumps instead of waiting); ``ENOSLIB_OPENSTACK_EMULATOR=netns`` (root)
makes every server a real SSH host reached through the gateway's floating IP. Without it,
credentials come from the RC file named by ``OS_RC_FILE``, else from the ``OS_*`` variables
of your sourced openrc / ``clouds.yaml`` (``OS_CLOUD``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# examples/openstack.py is named like the openstacksdk package: keep this folder importable
# (for the *_support modules) but behind the installed packages
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

MODE = os.environ.get("ENOSLIB_OPENSTACK_EMULATOR", "")
EMULATED = MODE not in ("", "0")


@dataclass
class Cloud:
    rc_file: str = os.environ.get("OS_RC_FILE", "")
    user: str | None = None           # None: the configuration's default
    ssh: bool = True                  # whether the servers answer over SSH
    provider_kwargs: dict[str, Any] = field(default_factory=dict)
    emulator: Any = None


@contextlib.contextmanager
def cloud(chameleon: bool = False, clock: Any = None) -> Iterator[Cloud]:
    """The cloud the examples use; ``clock``: share another emulator's virtual clock."""
    if not EMULATED:
        yield Cloud()
        return
    from enoslib.config import config_context
    from enoslib.emulators.openstack import OpenstackEmulator

    backend = "netns" if MODE == "netns" else "address"
    with tempfile.TemporaryDirectory() as tmp, \
            OpenstackEmulator(chameleon=chameleon, speed=0, clock=clock, backend=backend) as emu:
        rc_file = str(emu.write_rc_file(os.path.join(tmp, "openrc.sh")))
        public_key = emu.public_key() or "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKey example@enoslib"
        kwargs = {"sleep": emu.advance, "now": emu.clock.now, "public_key": public_key,
                  "wait_ssh": backend == "netns"}
        ssh_config = os.path.join(tmp, "ssh_config")
        if emu.keyfile:
            emu.ssh_config(ssh_config)
        with config_context(cache_dir=os.path.join(tmp, "cache"),
                            ssh_config_file=ssh_config if emu.keyfile else None):
            yield Cloud(rc_file=rc_file, user=emu.ssh_user, ssh=backend == "netns", provider_kwargs=kwargs,
                        emulator=emu)
