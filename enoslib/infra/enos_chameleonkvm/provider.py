"""The Chameleon KVM provider: the OpenStack provider on Chameleon's KVM cloud (no lease)."""

from __future__ import annotations

from enoslib.infra.enos_chameleonkvm.configuration import ChameleonkvmConf
from enoslib.infra.enos_openstack.provider import Openstack


class Chameleonkvm(Openstack):
    """Virtual machines on Chameleon KVM; everything as :class:`~enoslib.infra.enos_openstack.Openstack`."""

    configuration_class = ChameleonkvmConf
    provider_conf: ChameleonkvmConf
