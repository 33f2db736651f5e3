"""Real SSH hosts on this machine, for tests, the Local provider, emulators and benchmarks.

* :class:`NamespaceLab` (root): each node is a network namespace on Linux
  bridges, with its own sshd, hostname, /root and /tmp.
* :class:`LoopbackLab` (any user): each node is an sshd on 127.0.0.1 with its
  own port; networks are address-only.

Both share one API::

    with lab_for_current_user("demo") as lab:
        lab.add_bridge("net1", "10.42.0.0/24")
        for node in lab.add_nodes(["h1", "h2"]):
            print(node.address, node.port, node.user, node.keyfile)

Stdlib only; of enoslib it uses only the stdlib-only ``enoslib._signals``, so emulators
and tests use it without pulling the library in.
"""

from __future__ import annotations

import os

from ._lab import BaseLab
from ._types import BridgeInfo, LabError, NodeInfo
from .loopback import LoopbackLab
from .netns import NamespaceLab

__all__ = [
    "BaseLab",
    "BridgeInfo",
    "LabError",
    "LoopbackLab",
    "NamespaceLab",
    "NodeInfo",
    "lab_for_current_user",
]


def lab_for_current_user(
    name: str, state_dir: str | os.PathLike[str] | None = None, *, reuse: bool = False
) -> NamespaceLab | LoopbackLab:
    """A :class:`NamespaceLab` when running as root, a :class:`LoopbackLab` otherwise.

    With ``reuse``, reattach to an existing lab of that name if there is one
    (re-running a script), instead of failing.
    """
    cls: type[NamespaceLab | LoopbackLab] = (
        NamespaceLab if os.geteuid() == 0 else LoopbackLab
    )
    if reuse:
        existing = cls.load(name, state_dir)
        if existing is not None:
            return existing
    return cls(name, state_dir)
