"""``enos emulate chameleon``: the OpenStack emulator with Blazar (see :mod:`.__main__`)."""

from __future__ import annotations

from collections.abc import Sequence

from .__main__ import main as _main


def main(argv: Sequence[str] | None = None) -> int:
    """Serve an emulated Chameleon cloud until Ctrl-C (``enos emulate chameleon``)."""
    return _main(argv, chameleon=True)
