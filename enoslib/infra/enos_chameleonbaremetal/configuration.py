"""Configuration of the Chameleon bare-metal provider (fields: ``schemas/chameleonbaremetal.json``).

Each machine group's ``flavour`` is a Chameleon node type (``compute_haswell`` ...); the
nodes are reserved by a Blazar lease named ``lease_name`` for ``walltime``, starting at
``reservation`` (UTC, ``YYYY-MM-DD HH:MM:SS``) or now.

>>> conf = (ChameleonbaremetalConf.from_settings(key_name="mykey", walltime="2:00:00")
...         .add_machine(roles=["server"], flavour="compute_haswell", number=2))
>>> conf.finalize().node_types()
{'compute_haswell': 2}
"""

from __future__ import annotations

from typing import Any

from enoslib.infra.enos_openstack.configuration import MachineConfiguration as _OpenstackMachine
from enoslib.infra.enos_openstack.configuration import OpenstackConf


class MachineConfiguration(_OpenstackMachine):
    """``number`` bare-metal nodes of node type ``flavour`` with these ``roles``."""
    __slots__ = ()
    schema_name = "chameleonbaremetal"

    def __init__(self, *, roles: list[str] | None = None, flavour: str | None = None,
                 number: int | None = None, **kwargs: Any) -> None:
        super().__init__(roles=roles, flavour=flavour, number=number)


class ChameleonbaremetalConf(OpenstackConf):
    """Bare-metal nodes by role and node type, reserved by one Blazar lease."""
    __slots__ = ()
    schema_name = "chameleonbaremetal"
    machine_class = MachineConfiguration

    def node_types(self) -> dict[str, int]:
        """Hosts needed per node type, in configuration order."""
        needed: dict[str, int] = {}
        for machine in self.settings()["resources"]["machines"]:
            needed[machine["flavour"]] = needed.get(machine["flavour"], 0) + machine["number"]
        return needed


#: EnOSlib's name of this provider's configuration class
Configuration = ChameleonbaremetalConf
