"""The Grid'5000 provider: ``G5k`` / ``G5kConf`` (python-grid5000 is imported on first API use)."""

from enoslib.infra.enos_g5k.configuration import G5kConf, G5kNetworkConf
from enoslib.infra.enos_g5k.objects import (
                                       G5kHost,
                                       G5kNetwork,
                                       G5kProdNetwork,
                                       G5kSubnetNetwork,
                                       G5kVlanNetwork,
)
from enoslib.infra.enos_g5k.provider import G5k, NotEnoughNodesError
from enoslib.infra.enos_g5k.tunnel import G5kTunnel

__all__ = ["G5k", "G5kConf", "G5kHost", "G5kNetwork", "G5kNetworkConf", "G5kProdNetwork", "G5kSubnetNetwork",
           "G5kTunnel", "G5kVlanNetwork", "NotEnoughNodesError"]
