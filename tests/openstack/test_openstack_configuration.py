"""OpenStack and Chameleon configurations: schema validation with JSON paths, round trips,
RC files; nothing touches the network."""

from __future__ import annotations

import logging

import pytest

from enoslib.errors import EnosConfigError
from enoslib.infra.enos_chameleonbaremetal import ChameleonbaremetalConf
from enoslib.infra.enos_chameleonkvm import ChameleonkvmConf
from enoslib.infra.enos_openstack import OpenstackConf
from enoslib.infra.enos_openstack.client import connect_kwargs, read_rc_file

from os_helpers import openstack_conf


def test_round_trip_defaults_and_server_names():
    conf = openstack_conf(servers=2, clients=1)
    assert OpenstackConf.from_dictionary(conf.to_dict()) == conf
    assert conf.networks == ["lan"]
    s = conf.settings()
    assert s["network"] == {"name": "enos-network"} and s["gateway"] is True and s["configure_network"] is True
    assert [(x["name"], x["roles"]) for x in conf.server_specs()] == [
        ("exp-1", ["server"]), ("exp-2", ["server"]), ("exp-3", ["client"])]
    assert conf.machines[1].flavour == "m1.tiny"


def test_enoslib_dictionary_is_accepted():
    d = {"key_name": "k", "image": "img", "user": "u", "rc_file": "./openrc", "prefix": "p",
         "subnet": {"name": "s", "cidr": "10.1.0.0/24"}, "allocation_pool": {"start": "10.1.0.10", "end": "10.1.0.50"},
         "resources": {"machines": [{"roles": ["a"], "flavour": "m1.small", "number": 2}], "networks": ["net"]}}
    conf = OpenstackConf.from_dictionary(d)
    assert conf.to_dict() == d


@pytest.mark.parametrize("change, path, rule", [
    (lambda d: d.pop("key_name"), "$", "required"),
    (lambda d: d.update(flavor="x"), "$.flavor", "additionalProperties"),
    (lambda d: d["resources"]["machines"][0].update(number=0), "$.resources.machines[0].number", "minimum"),
    (lambda d: d["resources"]["machines"][0].pop("flavour"), "$.resources.machines[0]", "required"),
    (lambda d: d.update(subnet={"name": "s"}), "$.subnet", "required"),
    (lambda d: d.update(allocation_pool={"start": "10.9.0.1", "end": "10.87.23.20"}), "$.allocation_pool.start",
     "inside-cidr"),
    (lambda d: d.update(prefix="bad prefix"), "$.prefix", "pattern"),
])
def test_invalid_configurations_name_the_path(change, path, rule):
    d = openstack_conf().to_dict()
    change(d)
    with pytest.raises(EnosConfigError) as err:
        OpenstackConf.from_dictionary(d)
    assert err.value.path == path and err.value.rule == rule, str(err.value)


def test_unknown_field_suggests_the_close_one():
    d = openstack_conf().to_dict()
    d["gateway_usr"] = "cc"
    with pytest.raises(EnosConfigError, match="did you mean 'gateway_user'"):
        OpenstackConf.from_dictionary(d)


def test_chameleon_defaults_and_node_types():
    kvm = ChameleonkvmConf.from_settings(key_name="k").add_machine(roles=["a"], flavour="m1.small", number=1)
    s = kvm.finalize().settings()
    assert (s["image"], s["user"], s["network"]["name"], s["configure_network"]) == \
        ("CC-Ubuntu22.04", "cc", "sharednet1", False)
    bm = (ChameleonbaremetalConf.from_settings(key_name="k", walltime="3:00:00")
          .add_machine(roles=["a"], flavour="compute_haswell", number=2)
          .add_machine(roles=["b"], flavour="gpu_p100", number=1)
          .add_machine(roles=["c"], flavour="compute_haswell", number=1))
    assert bm.finalize().node_types() == {"compute_haswell": 3, "gpu_p100": 1}
    assert bm.settings()["lease_name"] == "enos-lease"
    with pytest.raises(EnosConfigError) as err:
        bm.walltime = "3h"
    assert err.value.path == "$.walltime"


def test_rc_file_is_read_as_a_shell_would(tmp_path, monkeypatch):
    monkeypatch.setenv("OS_PASSWORD_INPUT", "s3cret with spaces")
    rc = tmp_path / "openrc.sh"
    rc.write_text("#!/bin/bash\nexport OS_AUTH_URL=https://chi.example:5000/v3\n"
                  "export OS_USERNAME='alice'\nexport OS_PROJECT_NAME=\"CHI-123\"\n"
                  'echo "Please enter your password: "\nread -sr OS_PASSWORD_INPUT\n'
                  "export OS_PASSWORD=$OS_PASSWORD_INPUT\nexport OS_REGION_NAME=\"CHI@UC\"\n"
                  "export OS_INTERFACE=public  # comment\nunset OS_TENANT_ID\n")
    values = read_rc_file(rc)
    assert values["OS_PASSWORD"] == "s3cret with spaces" and values["OS_PROJECT_NAME"] == "CHI-123"
    assert values["OS_INTERFACE"] == "public"
    assert connect_kwargs(values)["region_name"] == "CHI@UC"


def test_missing_rc_file_is_a_configuration_error(tmp_path):
    with pytest.raises(EnosConfigError, match=r"\$\.rc_file.*cannot read"):
        read_rc_file(tmp_path / "nope.sh")


def test_provider_authenticates_from_the_rc_file_and_never_logs_the_password(emu, tmp_path, caplog):
    from enoslib.infra.enos_openstack import Openstack

    rc = emu.write_rc_file(tmp_path / "openrc.sh")
    assert rc.stat().st_mode & 0o777 == 0o600
    conf = openstack_conf(rc_file=str(rc))
    with caplog.at_level(logging.DEBUG):
        provider = Openstack(conf, sleep=emu.advance, now=emu.clock.now, wait_ssh=False)
        assert provider.is_created() is False
        assert repr(provider.provider_conf).count(emu.password) == 0
    assert emu.password not in caplog.text
