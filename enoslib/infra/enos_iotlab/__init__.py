"""FIT/IoT-LAB provider: boards and A8 Linux nodes of an IoT-LAB experiment, through ``iotlabcli``.

``IotlabConf`` and the objects import without ``iotlabcli``; ``Iotlab`` needs it
(``pip install 'enoslib[iotlab]'``).
"""

from enoslib.infra.enos_iotlab.configuration import (BoardConfiguration, ConsumptionConfiguration, IotlabConf,
                                                     NetworkConfiguration, PhysNodeConfiguration,
                                                     ProfileConfiguration, RadioConfiguration)
from enoslib.infra.enos_iotlab.objects import IotlabHost, IotlabNetwork, IotlabSensor
from enoslib.infra.enos_iotlab.provider import Iotlab
from enoslib.infra.enos_iotlab.sensor import IotlabSerial, IotlabSniffer

__all__ = ["BoardConfiguration", "ConsumptionConfiguration", "Iotlab", "IotlabConf", "IotlabHost", "IotlabNetwork",
           "IotlabSensor", "IotlabSerial", "IotlabSniffer", "NetworkConfiguration", "PhysNodeConfiguration",
           "ProfileConfiguration", "RadioConfiguration"]
