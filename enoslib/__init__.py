"""enoslib: reproducible distributed-systems experiments on research testbeds.

``import enoslib as en`` is the whole public face. Names are resolved on first use (PEP 562),
so importing enoslib loads neither Ansible nor any testbed client library.

The runtime table (``_register`` calls) and the ``TYPE_CHECKING`` imports below list the same
names: ``tests/compat/test_facade.py`` fails when they drift (and prints the block to paste).
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


# submodules, reachable as attributes without importing them first (``en.api.run_command``)
_SUBMODULES = ("api", "config", "errors", "infra", "objects", "services", "task")
for _sub in _SUBMODULES:
    _register(f"enoslib.{_sub}", _sub)
_register("enoslib.objects", "Host", "Roles", "Networks", "DefaultNetwork", "Network", "NetDevice",
          "IPAddress", "HostsView", "NetworksView")
_register("enoslib.objects.host", "LocalHost")
_register("enoslib.errors", "EnosError", "EnosConfigError", "EnosProviderError", "EnosFailedHostsError",
          "EnosUnreachableHostsError", "EnosSSHNotReady", "EnosMissingExtraError", "NoSlotError",
          "InvalidReservationTime", "InvalidReservationTooOld", "EnosTimeoutError")
_register("enoslib.errors", "EnosReservationError", "EnosHostsError", "InvalidReservationCritical",
          "NegativeWalltime", "MissingNetworkError", "EnosFilePathError")
_register("enoslib.config", "set_config", "get_config", "config_context", "init_logging")
_register("enoslib.cli", "check")
_register("enoslib.infra.configuration", "walltime_to_seconds", "seconds_to_walltime")
_register("enoslib.infra.provider", "Provider")
_register("enoslib.infra.enos_static", "Static", "StaticConf")
_register("enoslib.infra.local", "Local", "LocalConf")
_register("enoslib.infra.enos_vagrant", "VagrantConf", "Vagrant", "Enos_vagrant")
_register("enoslib.infra.providers", "Providers", "SlotPlan", "plan_slot", "find_slot", "find_slot_and_start",
          "start_provider_within_bounds")
_register("enoslib.infra.enos_g5k", "G5kConf", "G5kNetworkConf", "G5kHost", "G5kNetwork", "G5kProdNetwork",
          "G5kVlanNetwork", "G5kSubnetNetwork", "NotEnoughNodesError")
_register("enoslib.infra.enos_g5k", "G5k", needs=("grid5000", "g5k"))
_register("enoslib.infra.enos_g5k", "G5kTunnel", needs=("sshtunnel", "g5k"))
_register("enoslib.infra.enos_vmong5k", "VMonG5kConf", "mac_range")
_register("enoslib.infra.enos_vmong5k", "VMonG5k", "start_virtualmachines", needs=("grid5000", "g5k"))
_register("enoslib.infra.enos_iotlab", "IotlabConf", "IotlabHost", "IotlabSensor", "IotlabSerial", "IotlabSniffer",
          "IotlabNetwork")
_register("enoslib.infra.enos_iotlab", "Iotlab", needs=("iotlabcli", "iotlab"))
_register("enoslib.infra.enos_openstack", "OpenstackConf")
_register("enoslib.infra.enos_openstack", "Openstack", needs=("openstack", "openstack"))
_register("enoslib.infra.enos_chameleonkvm", "ChameleonkvmConf")
_register("enoslib.infra.enos_chameleonkvm", "Chameleonkvm", needs=("openstack", "openstack"))
_register("enoslib.infra.enos_chameleonbaremetal", "ChameleonbaremetalConf")
_register("enoslib.infra.enos_chameleonbaremetal", "Chameleonbaremetal", needs=("blazarclient", "chameleon"))
_register("enoslib.api", "run_command", "run", "run_scripts", "wait_for", "ensure_python", "actions",
          "run_play", "run_ansible", "gather_facts", "sync_info", "generate_inventory", "get_hosts",
          "put", "get", "broadcast", "Results", "Result", "close_connections")
_register("enoslib.execo", "Remote", "Put", "Get", "Report")  # execo's classes
_register("enoslib.api.results", "STATUS_OK", "STATUS_FAILED", "STATUS_UNREACHABLE", "STATUS_SKIPPED",
          "DEFAULT_ERROR_STATUSES")
_register("enoslib.task", "enostask", "Environment", "get_or_create_env")
_register("enoslib.services.netem", "Netem", "NetemHTB", "LatencyReport")
_register("enoslib.services.netem", "AccurateNetemHTB", "HTBConstraint", "HTBSource", "NetemInConstraint",
          "NetemInOutSource", "NetemOutConstraint", "netem", "netem_htb")

__getattr__, __dir__ = lazy(__name__, globals(), _LAZY, _SUBMODULES)

__all__ = sorted(_LAZY)

if TYPE_CHECKING:  # static type checkers and IDEs see the real names (same list as _LAZY)
    from enoslib import api, config, errors, infra, objects, services, task
    from enoslib.api import (Result, Results, actions, broadcast, close_connections, ensure_python, gather_facts,
                             generate_inventory, get, get_hosts, put, run, run_ansible, run_command, run_play,
                             run_scripts, sync_info, wait_for)
    from enoslib.api.results import (DEFAULT_ERROR_STATUSES, STATUS_FAILED, STATUS_OK, STATUS_SKIPPED,
                                     STATUS_UNREACHABLE)
    from enoslib.cli import check
    from enoslib.config import config_context, get_config, init_logging, set_config
    from enoslib.errors import (EnosConfigError, EnosError, EnosFailedHostsError, EnosFilePathError,
                                EnosHostsError, EnosMissingExtraError, EnosProviderError, EnosReservationError,
                                EnosSSHNotReady, EnosTimeoutError, EnosUnreachableHostsError,
                                InvalidReservationCritical, InvalidReservationTime, InvalidReservationTooOld,
                                MissingNetworkError, NegativeWalltime, NoSlotError)
    from enoslib.execo import Get, Put, Remote, Report
    from enoslib.infra.configuration import seconds_to_walltime, walltime_to_seconds
    from enoslib.infra.enos_g5k import (G5k, G5kConf, G5kHost, G5kNetwork, G5kNetworkConf, G5kProdNetwork,
                                        G5kSubnetNetwork, G5kTunnel, G5kVlanNetwork, NotEnoughNodesError)
    from enoslib.infra.enos_iotlab import (Iotlab, IotlabConf, IotlabHost, IotlabNetwork, IotlabSensor, IotlabSerial,
                                           IotlabSniffer)
    from enoslib.infra.enos_chameleonbaremetal import Chameleonbaremetal, ChameleonbaremetalConf
    from enoslib.infra.enos_chameleonkvm import Chameleonkvm, ChameleonkvmConf
    from enoslib.infra.enos_openstack import Openstack, OpenstackConf
    from enoslib.infra.enos_vmong5k import VMonG5k, VMonG5kConf, mac_range, start_virtualmachines
    from enoslib.infra.enos_static import Static, StaticConf
    from enoslib.infra.enos_vagrant import Enos_vagrant, Vagrant, VagrantConf
    from enoslib.infra.local import Local, LocalConf
    from enoslib.infra.provider import Provider
    from enoslib.infra.providers import (Providers, SlotPlan, find_slot, find_slot_and_start, plan_slot,
                                         start_provider_within_bounds)
    from enoslib.objects import (DefaultNetwork, Host, HostsView, IPAddress, NetDevice, Network, Networks,
                                 NetworksView, Roles)
    from enoslib.objects.host import LocalHost
    from enoslib.services.netem import (AccurateNetemHTB, HTBConstraint, HTBSource, LatencyReport, Netem,
                                        NetemHTB, NetemInConstraint, NetemInOutSource, NetemOutConstraint,
                                        netem, netem_htb)
    from enoslib.task import Environment, enostask, get_or_create_env
