"""Chameleon bare-metal provider with Blazar leases (``pip install 'enoslib[chameleon]'``)."""

from enoslib.infra.enos_chameleonbaremetal.configuration import ChameleonbaremetalConf
from enoslib.infra.enos_chameleonbaremetal.provider import Chameleonbaremetal

__all__ = ["Chameleonbaremetal", "ChameleonbaremetalConf"]
