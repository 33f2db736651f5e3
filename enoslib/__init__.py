"""enoslib: reproducible distributed-systems experiments on research testbeds.

``import enoslib as en`` is the whole public face. Names are resolved on first use (PEP 562),
so importing enoslib loads neither Ansible nor any testbed client library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from enoslib._lazy import lazy

__version__ = "0.1.0"

# public name -> module, or (module, (python module it needs, extra that installs it))
_LAZY: dict[str, str | tuple[str, tuple[str, str] | None]] = {}


def _register(module: str, *names: str, needs: tuple[str, str] | None = None) -> None:
    for name in names:
        _LAZY[name] = (module, needs)


_register("enoslib.objects", "Host", "Roles", "Networks", "DefaultNetwork", "Network", "NetDevice",
          "IPAddress", "HostsView", "NetworksView")
_register("enoslib.errors", "EnosError", "EnosConfigError", "EnosProviderError", "EnosFailedHostsError",
          "EnosUnreachableHostsError", "EnosSSHNotReady", "EnosMissingExtraError", "NoSlotError",
          "InvalidReservationTime", "InvalidReservationTooOld", "EnosTimeoutError")
_register("enoslib.config", "set_config", "get_config", "config_context", "init_logging")
_register("enoslib.infra.configuration", "walltime_to_seconds", "seconds_to_walltime")
_register("enoslib.infra.provider", "Provider")
_register("enoslib.infra.enos_static", "Static", "StaticConf")
_register("enoslib.infra.local", "Local", "LocalConf")
_register("enoslib.infra.providers", "Providers", "SlotPlan", "plan_slot", "find_slot", "find_slot_and_start",
          "start_provider_within_bounds")
_register("enoslib.infra.enos_g5k", "G5kConf", "G5kNetworkConf", "G5kHost", "G5kNetwork", "G5kProdNetwork",
          "G5kVlanNetwork", "G5kSubnetNetwork", "NotEnoughNodesError")
_register("enoslib.infra.enos_g5k", "G5k", needs=("grid5000", "g5k"))
_register("enoslib.infra.enos_g5k", "G5kTunnel", needs=("sshtunnel", "g5k"))
_register("enoslib.api", "run_command", "run", "run_scripts", "wait_for", "ensure_python", "actions",
          "run_play", "run_ansible", "gather_facts", "sync_info", "generate_inventory", "get_hosts",
          "put", "get", "broadcast", "Results", "Result", "Report", "Remote", "Put", "Get",
          "close_connections")
_register("enoslib.services.netem", "Netem", "NetemHTB", "LatencyReport")
_register("enoslib.services.netem", "AccurateNetemHTB", "HTBConstraint", "HTBSource", "NetemInConstraint",
          "NetemInOutSource", "NetemOutConstraint", "netem", "netem_htb")

__getattr__, __dir__ = lazy(__name__, globals(), _LAZY)

__all__ = sorted(_LAZY)

if TYPE_CHECKING:  # static type checkers and IDEs see the real names
    from enoslib.config import config_context, get_config, init_logging, set_config
    from enoslib.errors import *  # noqa: F403
    from enoslib.infra.provider import Provider
    from enoslib.infra.enos_static import Static, StaticConf
    from enoslib.infra.local import Local, LocalConf
    from enoslib.infra.providers import (Providers, SlotPlan, find_slot, find_slot_and_start, plan_slot,
                                         start_provider_within_bounds)
    from enoslib.infra.enos_g5k import (G5k, G5kConf, G5kHost, G5kNetwork, G5kNetworkConf, G5kProdNetwork,
                                   G5kSubnetNetwork, G5kTunnel, G5kVlanNetwork, NotEnoughNodesError)
    from enoslib.api import (Get, Put, Remote, Report, Result, Results, actions, broadcast, close_connections,
                             ensure_python, gather_facts, generate_inventory, get, get_hosts, put, run,
                             run_ansible, run_command, run_play, run_scripts, sync_info, wait_for)
    from enoslib.services.netem import LatencyReport, Netem, NetemHTB
    from enoslib.services.netem import (AccurateNetemHTB, HTBConstraint, HTBSource, NetemInConstraint,
                                        NetemInOutSource, NetemOutConstraint, netem, netem_htb)
    from enoslib.objects import DefaultNetwork, Host, IPAddress, NetDevice, Network, Networks, Roles
