"""VagrantConf, its schema and the Vagrantfile it renders (checked by the real `vagrant validate`)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

import enoslib as en
from enoslib.errors import EnosConfigError
from enoslib.infra.enos_vagrant.configuration import (Configuration, MachineConfiguration,
                                                      NetworkConfiguration)
from enoslib.infra.enos_vagrant.constants import FLAVOURS
from enoslib.infra.enos_vagrant.vagrantfile import render

needs_vagrant = pytest.mark.skipif(shutil.which("vagrant") is None, reason="vagrant is not installed "
                                   "(scripts/setup.sh: ensure_vagrant)")


def two_by_two(**settings):
    return (en.VagrantConf.from_settings(**settings)
            .add_machine(roles=["server"], flavour="medium")
            .add_machine(roles=["client"], number=2, flavour_desc={"core": 1, "mem": 256})
            .add_network(roles=["n1"], cidr="192.168.60.0/24")
            .add_network(roles=["n2"], cidr="10.20.0.0/16")).finalize()


def test_documented_names_and_defaults():
    from enoslib.infra.enos_vagrant.provider import Enos_vagrant

    assert en.Vagrant is Enos_vagrant and en.Enos_vagrant is Enos_vagrant
    assert Configuration is en.VagrantConf
    conf = en.VagrantConf.from_dictionary({"resources": {"machines": [{"roles": ["a"]}], "networks": []}})
    assert (conf.backend, conf.box, conf.user, conf.name_prefix) == ("libvirt", "generic/debian11", "root", "enos")
    assert conf.machine_specs() == [{"name": "enos-1", "roles": ["a"], "addresses": [],
                                     **FLAVOURS["tiny"]}]


def test_machine_specs_flavours_and_addresses():
    specs = two_by_two().machine_specs()
    assert [(m["name"], m["core"], m["mem"]) for m in specs] == [
        ("enos-1", 2, 2048), ("enos-2", 1, 256), ("enos-3", 1, 256)]
    assert [m["addresses"] for m in specs] == [
        ["192.168.60.10", "10.20.0.10"], ["192.168.60.11", "10.20.0.11"], ["192.168.60.12", "10.20.0.12"]]


def test_builder_objects_and_machine_prefix():
    conf = (Configuration.from_settings(name_prefix="exp")
            .add_machine_conf(MachineConfiguration(roles=["a"], number=2, name_prefix="db"))
            .add_machine_conf(MachineConfiguration(roles=["b"]))
            .add_network_conf(NetworkConfiguration(roles=["lan"], cidr="172.16.5.0/24")))
    assert [m["name"] for m in conf.finalize().machine_specs()] == ["db-1", "db-2", "exp-1"]
    assert conf.networks[0].cidr == "172.16.5.0/24"


@pytest.mark.parametrize("change, path, rule", [
    ({"backend": "docker"}, "$.backend", "enum"),
    ({"name_prefix": "a b"}, "$.name_prefix", "pattern"),
    ({"bogus": 1}, "$.bogus", "additionalProperties"),
    ({"machines": [{"roles": ["a"], "flavour": "huge"}]}, "$.resources.machines[0].flavour", "enum"),
    ({"machines": [{"roles": ["a"], "flavour": "tiny", "flavour_desc": {"core": 1, "mem": 512}}]},
     "$.resources.machines[0].flavour_desc", "oneOf"),
    ({"machines": [{"roles": ["a"], "flavour_desc": {"core": 1}}]},
     "$.resources.machines[0].flavour_desc", "required"),
    ({"machines": [{"roles": ["a"], "number": 0}]}, "$.resources.machines[0].number", "minimum"),
    ({"networks": [{"roles": ["n"], "cidr": "10.0.0.0/8"}, {"roles": ["m"], "cidr": "10.1.0.0/16"}]},
     "$.resources.networks[1].cidr", "disjoint"),
    ({"networks": [{"roles": ["n"], "cidr": "192.168.121.0/25"}]}, "$.resources.networks[0].cidr", "disjoint"),
    ({"networks": [{"roles": ["n"], "cidr": "10.0.0.0/29"}]}, "$.resources.networks[0].cidr", "size"),
    ({"networks": [{"roles": ["n"], "cidr": "fd00::/64"}]}, "$.resources.networks[0].cidr", "ipv4"),
    ({"networks": [{"roles": ["n"], "cidr": "10.0.0.0/33"}]}, "$.resources.networks[0].cidr", "format"),
])
def test_bad_configurations_name_the_json_path(change, path, rule):
    data = {"resources": {"machines": [{"roles": ["a"]}], "networks": []}}
    for key, value in change.items():
        (data["resources"] if key in ("machines", "networks") else data)[key] = value
    with pytest.raises(EnosConfigError) as info:
        en.VagrantConf.from_dictionary(data)
    assert info.value.path == path and info.value.rule == rule, str(info.value)


def test_bad_configuration_fails_before_vagrant_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(EnosConfigError, match=r"networks\[0\]\.cidr"):
        en.Vagrant({"resources": {"machines": [{"roles": ["a"]}],
                                  "networks": [{"roles": ["n"], "cidr": "10.0.0.0/30"}]}})
    assert list(tmp_path.iterdir()) == []


def test_rendering_libvirt():
    text = render(two_by_two(box="enoslib/debian12",
                             config_extra="config.vm.provider :libvirt do |l|\n  l.graphics_type = 'none'\nend"))
    assert text.count("config.vm.define") == 3
    assert "config.vm.box = 'enoslib/debian12'" in text
    assert "machine.vm.network :private_network, ip: '10.20.0.11', netmask: '255.255.0.0'" in text
    assert "libvirt.cpus = 2" in text and "libvirt.memory = 2048" in text and "libvirt.memory = 256" in text
    assert "libvirt.cpu_mode = 'custom'" in text and "libvirt.cpu_model = " in text
    assert "  l.graphics_type = 'none'" in text


def test_rendering_quotes_ruby_strings():
    from enoslib.infra.enos_vagrant.vagrantfile import ruby

    assert ruby("it's #{x} \\") == "'it\\'s #{x} \\\\'"
    with pytest.raises(EnosConfigError, match=r"\$\.box"):
        en.VagrantConf.from_settings(box="o'k/box")


@needs_vagrant
@pytest.mark.parametrize("backend", ["libvirt", "virtualbox"])
def test_vagrant_validate_accepts_the_vagrantfile(tmp_path, backend):
    import vagrant

    (tmp_path / "Vagrantfile").write_text(render(two_by_two(backend=backend, box="enoslib/debian12",
                                                            config_extra="config.vm.boot_timeout = 600")))
    result = vagrant.Vagrant(root=str(tmp_path)).validate(str(tmp_path))
    assert b"validated successfully" in result.stdout


@needs_vagrant
def test_vagrant_validate_reports_a_broken_config_extra(tmp_path):
    import vagrant

    (tmp_path / "Vagrantfile").write_text(render(two_by_two(config_extra="config.vm.no_such_setting = 1")))
    with pytest.raises(subprocess.CalledProcessError) as info:
        vagrant.Vagrant(root=str(tmp_path)).validate(str(tmp_path))
    assert b"no_such_setting" in info.value.stderr + info.value.stdout
