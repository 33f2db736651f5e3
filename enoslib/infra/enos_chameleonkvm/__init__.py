"""Chameleon KVM provider (``pip install 'enoslib[openstack]'``)."""

from enoslib.infra.enos_chameleonkvm.configuration import ChameleonkvmConf
from enoslib.infra.enos_chameleonkvm.provider import Chameleonkvm

__all__ = ["Chameleonkvm", "ChameleonkvmConf"]
