"""``enoslib.service.emul.netem``: the in/out netem classes, from :mod:`enoslib.services.netem`."""

from enoslib.services.netem import (  # noqa: F401
    Netem,
    NetemConstraint,
    NetemInConstraint,
    NetemInOutSource,
    NetemOutConstraint,
    netem,
)

__all__ = ["Netem", "NetemConstraint", "NetemInConstraint", "NetemInOutSource", "NetemOutConstraint", "netem"]
