"""IotlabConf: schema-driven, offline, errors naming the JSON path."""

from __future__ import annotations

import pytest

from enoslib.errors import EnosConfigError
from enoslib.infra.enos_iotlab import (BoardConfiguration, ConsumptionConfiguration, IotlabConf,
                                       NetworkConfiguration, PhysNodeConfiguration, ProfileConfiguration,
                                       RadioConfiguration)


def full_conf() -> IotlabConf:
    return (IotlabConf.from_settings(job_name="demo", walltime="01:30", start_time="2030-01-01 10:00:00")
            .add_machine(roles=["sensor"], archi="m3:at86rf231", site="grenoble", number=3, image="fw.elf",
                         profile="energy")
            .add_machine_conf(BoardConfiguration(roles=["linux"], archi="a8:at86rf231", site="grenoble"))
            .add_network_conf(NetworkConfiguration(roles=["lan"], site="grenoble"))
            .add_profile(ProfileConfiguration(name="energy", archi="m3",
                                              consumption=ConsumptionConfiguration(power=True, period=1100,
                                                                                   average=64),
                                              radio=RadioConfiguration(mode="rssi", channels=[11, 26], period=100,
                                                                       num_per_channel=1))))


def test_round_trip_and_views():
    conf = full_conf()
    assert IotlabConf.from_dictionary(conf.to_dict()) == conf
    assert conf.job_name == "demo" and conf.walltime_minutes == 90
    assert [type(m).__name__ for m in conf.machines] == ["BoardConfiguration", "BoardConfiguration"]
    assert conf.machines[1].number == 1  # the board definition's default
    conf.machines[0].number = 5  # a live view: validated, written through
    assert conf.machine_specs()[0]["number"] == 5
    assert conf.experiment_type() == "alias"
    assert conf.profiles()[0]["consumption"]["period"] == 1100


def test_nodes_by_name():
    conf = IotlabConf.from_dictionary({"resources": {"machines": [
        {"roles": ["r"], "hostname": ["m3-1.grenoble.iot-lab.info", "m3-2.grenoble.iot-lab.info"]}]}})
    assert isinstance(conf.machines[0], PhysNodeConfiguration)
    assert conf.experiment_type() == "physical" and conf.walltime == "01:00" and conf.job_name == "EnOSlib"
    conf.add_machine_conf(PhysNodeConfiguration(roles=["x"], hostname=["a8-1.grenoble.iot-lab.info"]))
    assert conf.finalize().machine_specs()[1]["hostname"] == ["a8-1.grenoble.iot-lab.info"]


@pytest.mark.parametrize("data, path, rule", [
    ({"resources": {"machines": [{"roles": ["a"], "archi": "m3:at86rf231", "site": "grenoble", "numbr": 2}]}},
     "$.resources.machines[0].numbr", "additionalProperties"),
    ({"resources": {"machines": [{"roles": ["a"], "archi": "m3:at86rf231", "site": "grenoble", "number": 0}]}},
     "$.resources.machines[0].number", "minimum"),
    ({"walltime": "1h", "resources": {"machines": [{"roles": ["a"], "archi": "m3:x", "site": "g"}]}},
     "$.walltime", "pattern"),
    ({"resources": {"machines": [{"roles": ["a"], "archi": "m3:x", "site": "g", "image": "fw.txt"}]}},
     "$.resources.machines[0].image", "pattern"),
    ({"resources": {"machines": [{"roles": ["a"], "hostname": ["m3-1.grenoble.iot-lab.info"]},
                                 {"roles": ["b"], "archi": "m3:x", "site": "grenoble"}]}},
     "$.resources.machines[1]", "experiment-type"),
    ({"resources": {"machines": [{"roles": ["a"], "archi": "m3:x", "site": "g", "profile": "nope"}]}},
     "$.resources.machines[0].profile", "reference"),
    ({"resources": {"machines": [{"roles": ["a"], "archi": "m3:x", "site": "g"}],
                    "networks": [{"roles": ["n"], "site": "lille"}]}},
     "$.resources.networks[0].site", "reference"),
    ({"resources": {"machines": [{"roles": ["a"], "archi": "m3:x", "site": "g"}]},
      "monitoring": {"profiles": [{"name": "p", "archi": "m3", "radio": {"mode": "sniffer", "channels": [11, 12]}}]}},
     "$.monitoring.profiles[0].radio.channels", "sniffer-channel"),
    ({"resources": {"machines": [{"roles": ["a"], "archi": "m3:x", "site": "g"}]},
      "monitoring": {"profiles": [{"name": "p", "archi": "m3", "consumption": {"period": 1000, "average": 4}}]}},
     "$.monitoring.profiles[0].consumption.period", "enum"),
])
def test_errors_name_the_path(data, path, rule):
    with pytest.raises(EnosConfigError) as err:
        IotlabConf.from_dictionary(data)
    assert err.value.path == path, str(err.value)
    assert err.value.rule == rule
    assert path in str(err.value)


def test_builders_validate_at_once():
    with pytest.raises(EnosConfigError, match=r"\$\.number"):
        BoardConfiguration(roles=["a"], archi="m3:at86rf231", site="grenoble", number=-1)
    with pytest.raises(EnosConfigError, match="channels"):
        RadioConfiguration(mode="rssi", channels=[5])
    with pytest.raises(EnosConfigError, match=r"\$\.resources\.machines\[0\]"):
        IotlabConf().add_machine(roles=["a"], site="grenoble")  # neither archi nor hostname
