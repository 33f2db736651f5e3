"""Machine sizes shared by the providers that create machines (Vagrant, VMonG5k, Distem),
as EnOSlib documents them: ``core`` is the number of vCPUs, ``mem`` the memory in MiB."""

from __future__ import annotations

__all__ = ["DEFAULT_FLAVOUR", "FLAVOURS"]

FLAVOURS: dict[str, dict[str, int]] = {
    "tiny": {"core": 1, "mem": 512},
    "small": {"core": 1, "mem": 1024},
    "medium": {"core": 2, "mem": 2048},
    "big": {"core": 3, "mem": 3072},
    "large": {"core": 4, "mem": 4096},
    "extra-large": {"core": 6, "mem": 6144},
}
#: (name, size) of the flavour a machine gets when its configuration names none
DEFAULT_FLAVOUR: tuple[str, dict[str, int]] = ("tiny", FLAVOURS["tiny"])
