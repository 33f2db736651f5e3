"""Configuration of the Chameleon KVM provider (fields: ``schemas/chameleonkvm.json``).

The OpenStack configuration with Chameleon's defaults: image ``CC-Ubuntu22.04``, user ``cc``,
the shared network ``sharednet1`` (``configure_network`` false), credentials from the
``OS_*`` variables of the sourced Chameleon openrc file (or ``rc_file``).
"""

from __future__ import annotations

from typing import Any

from enoslib.infra.enos_openstack.configuration import MachineConfiguration as _OpenstackMachine
from enoslib.infra.enos_openstack.configuration import OpenstackConf


class MachineConfiguration(_OpenstackMachine):
    """``number`` virtual machines of flavor ``flavour`` with these ``roles``."""
    __slots__ = ()
    schema_name = "chameleonkvm"

    def __init__(self, *, roles: list[str] | None = None, flavour: str | None = None,
                 number: int | None = None, **kwargs: Any) -> None:
        super().__init__(roles=roles, flavour=flavour, number=number)


class ChameleonkvmConf(OpenstackConf):
    """Virtual machines by role and flavor on Chameleon KVM."""
    __slots__ = ()
    schema_name = "chameleonkvm"
    machine_class = MachineConfiguration


#: EnOSlib's name of this provider's configuration class
Configuration = ChameleonkvmConf
