"""The Distem configuration: schema errors name the JSON path, before anything is reserved."""

from __future__ import annotations

import pytest

import enoslib as en
from enoslib.errors import EnosConfigError
from enoslib.infra.enos_distem import Configuration, MachineConfiguration
from enoslib.infra.enos_distem.constants import FLAVOURS


def test_facade_and_defaults():
    conf = en.DistemConf.from_settings().add_machine(roles=["r"], cluster="paravance")
    assert conf is not None and isinstance(conf, Configuration)
    d = conf.to_dict(defaults=True)
    assert (d["job_name"], d["walltime"], d["queue"], d["force_deploy"]) == ("EnOslib-distem", "02:00:00",
                                                                            "default", False)
    assert conf.machines[0].flavour == "tiny" and conf.machines[0].flavour_desc == FLAVOURS["tiny"]
    assert conf.machines[0].number == 1 and conf.machines[0].vcore_type == "thread"
    assert conf.networks == ["slash_22"] and conf.subnet_type() == "slash_22"


def test_round_trip_and_builders():
    conf = (Configuration.from_settings(job_name="x", image="file:///home/me/fs.tgz")
            .add_machine_conf(MachineConfiguration(roles=["a"], cluster="grisou", number=3, flavour="big"))
            .add_network("kavlan").add_network("slash_16"))
    again = Configuration.from_dictionary(conf.to_dict())
    assert again == conf and again.vlan_type() == "kavlan" and again.subnet_type() == "slash_16"


@pytest.mark.parametrize("data, path", [
    ({"resources": {"machines": [{"roles": ["r"], "cluster": "paravance", "flavour": "huge"}]}},
     "$.resources.machines[0].flavour"),
    ({"resources": {"machines": [{"roles": ["r"], "cluster": "paravance", "flavour_desc": {"core": 0, "mem": 1}}]}},
     "$.resources.machines[0].flavour_desc.core"),
    ({"resources": {"machines": [{"roles": [], "cluster": "paravance"}]}}, "$.resources.machines[0].roles"),
    ({"resources": {"machines": [{"roles": ["r"]}]}}, "$.resources.machines[0]"),
    ({"resources": {"machines": []}}, "$.resources.machines"),
    ({"queue": "fast", "resources": {"machines": [{"roles": ["r"], "cluster": "paravance"}]}}, "$.queue"),
    ({"image": "http://x/fs.tgz", "resources": {"machines": [{"roles": ["r"], "cluster": "paravance"}]}}, "$.image"),
    ({"walltime": "2h", "resources": {"machines": [{"roles": ["r"], "cluster": "paravance"}]}}, "$.walltime"),
    ({"nope": 1, "resources": {"machines": [{"roles": ["r"], "cluster": "paravance"}]}}, "$"),
    ({"resources": {"machines": [{"roles": ["r"], "cluster": "paravance"}], "networks": ["slash_22", "slash_16"]}},
     "$.resources.networks[1]"),
    ({"resources": {"machines": [{"roles": ["r"], "cluster": "paravance", "number": 1100}]}},
     "$.resources.machines"),
    ({"resources": {"machines": [{"roles": ["r"], "cluster": "paravance",
                                  "undercloud": [{"address": "paravance-1.rennes.grid5000.fr"}] * 2}]}},
     "$.resources.machines[0].undercloud[1].address"),
    ({"resources": {"machines": [{"roles": ["r"], "cluster": "paravance",
                                  "undercloud": [{"address": "grisou-1.nancy.grid5000.fr"}]}]}},
     "$.resources.machines[0].undercloud[0].address"),
])
def test_errors_name_the_json_path(data, path):
    with pytest.raises(EnosConfigError) as info:
        Configuration.from_dictionary(data)
    assert f" at {path}" in str(info.value)


def test_setting_a_bad_field_fails_at_once():
    conf = Configuration.from_settings()
    with pytest.raises(EnosConfigError, match=r"\$\.force_deploy"):
        conf.force_deploy = "yes"
    with pytest.raises(EnosConfigError, match=r"\$\.resources\.networks\[0\]"):
        conf.add_network("slash_8")
