"""Public data types of :mod:`enoslib.nodes`: what callers get back from a lab."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any


class LabError(Exception):
    """A lab operation failed; the message names what (command, stderr, resource)."""


@dataclass(frozen=True)
class BridgeInfo:
    """A network of a lab.

    ``ifname`` is the Linux bridge of the root namespace (``None`` for the
    address-only networks of :class:`~enoslib.nodes.LoopbackLab`); ``gateway``
    is the first usable address of ``cidr``, held by that bridge so the
    machine reaches every node directly.
    """

    name: str
    cidr: str
    ifname: str | None
    gateway: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NodeInfo:
    """A snapshot of one SSH host of a lab (ask ``lab.nodes`` again after changes).

    ``address``/``port``/``user``/``keyfile`` are what ssh needs.
    ``interfaces`` maps a network name to ``{"ifname", "address", "mac"}``
    (``address`` with its prefix length, e.g. ``"10.42.0.2/24"``), in the
    order the networks were given. ``pid`` is the node's sshd.
    """

    name: str
    netns: str | None
    address: str
    port: int
    user: str
    keyfile: str
    interfaces: dict[str, dict[str, str]] = field(default_factory=dict)
    pid: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(asdict(self))
