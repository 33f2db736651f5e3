"""enoslib: reproducible distributed-systems experiments on research testbeds.

``import enoslib as en`` is the whole public face. Names are resolved on first use (PEP 562),
so importing enoslib loads neither Ansible nor any testbed client library.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> (module, optional (python module it needs, extra that installs it))
_LAZY: dict[str, tuple[str, tuple[str, str] | None]] = {}


def _register(module: str, *names: str, needs: tuple[str, str] | None = None) -> None:
    for name in names:
        _LAZY[name] = (module, needs)


_register("enoslib.objects", "Host", "Roles", "Networks", "DefaultNetwork", "Network", "NetDevice", "IPAddress", "HostsView", "NetworksView")
_register("enoslib.errors", "EnosError", "EnosConfigError", "EnosProviderError", "EnosFailedHostsError",
          "EnosUnreachableHostsError", "EnosSSHNotReady", "EnosMissingExtraError", "NoSlotError",
          "InvalidReservationTime", "InvalidReservationTooOld", "EnosTimeoutError")
_register("enoslib.config", "set_config", "get_config", "config_context", "init_logging")
_register("enoslib.infra.provider", "Provider")
_register("enoslib.infra.static", "Static", "StaticConf")
_register("enoslib.infra.configuration", "walltime_to_seconds", "seconds_to_walltime")


def __getattr__(name: str) -> Any:
    try:
        module_name, needs = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'enoslib' has no attribute {name!r}") from None
    if needs is not None and importlib.util.find_spec(needs[0]) is None:
        from enoslib.errors import EnosMissingExtraError

        raise EnosMissingExtraError(needs[0], needs[1], feature=f"enoslib.{name}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = sorted(_LAZY)

if TYPE_CHECKING:  # static type checkers and IDEs see the real names
    from enoslib.config import config_context, get_config, init_logging, set_config
    from enoslib.errors import *  # noqa: F403
    from enoslib.infra.provider import Provider
    from enoslib.infra.static import Static, StaticConf
    from enoslib.objects import DefaultNetwork, Host, IPAddress, NetDevice, Network, Networks, Roles
