"""Containers on Grid'5000 nodes with Distem (``en.Distem``, ``en.DistemConf``).

The provider needs the ``distem`` extra (``pip install 'enoslib[distem]'``); the configuration
does not.
"""

from __future__ import annotations

from typing import Any

from enoslib.infra.enos_distem.configuration import Configuration, DistemConf, MachineConfiguration

__all__ = ["Configuration", "Distem", "DistemConf", "MachineConfiguration"]


def __getattr__(name: str) -> Any:
    if name == "Distem":
        from enoslib.infra.enos_distem.provider import Distem

        return Distem
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
