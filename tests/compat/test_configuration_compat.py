"""EnOSlib's documented configuration API, used as an EnOSlib script uses it.

Written from the specification (``enoslib-provider-api.txt``: G5k schema tables, provider
workflow ``conf = Configuration() ... provider = Provider(conf)``) and EnOSlib's public docs.
One section per documented class or function; everything is offline.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema.exceptions import ValidationError

from enoslib.errors import EnosConfigError
from enoslib.infra.enos_g5k.configuration import (
    ClusterConfiguration,
    Configuration,
    MachineConfiguration,
    NetworkConfiguration,
    ServersConfiguration,
)
from enoslib.infra.enos_static.configuration import Configuration as StaticConfiguration
from enoslib.infra.enos_static.configuration import MachineConfiguration as StaticMachine
from enoslib.infra.enos_static.configuration import NetworkConfiguration as StaticNetwork
from enoslib.infra.local.configuration import Configuration as LocalConfiguration
from enoslib.infra.local.configuration import MachineConfiguration as LocalMachine
from enoslib.infra.local.configuration import NetworkConfiguration as LocalNetwork


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Building configurations never touches the network."""
    def refuse(*args, **kwargs):
        raise AssertionError("configuration code opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)


# --- module paths and names ---------------------------------------------------------------------

def test_documented_names_are_our_one_implementation():
    import enoslib as en
    from enoslib.infra.enos_g5k.provider import G5k
    from enoslib.infra.enos_static.provider import Static

    assert Configuration is en.G5kConf and G5k.configuration_class is Configuration
    assert StaticConfiguration is en.StaticConf and Static.configuration_class is StaticConfiguration
    assert LocalConfiguration is en.LocalConf
    assert issubclass(ClusterConfiguration, MachineConfiguration)
    assert issubclass(ServersConfiguration, MachineConfiguration)


def test_import_enoslib_does_not_import_jsonschema():
    code = "import sys, enoslib; print(json.dumps('jsonschema' in sys.modules))"
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True,
                         check=True).stdout
    assert json.loads(out) is False


# --- g5k Configuration: defaults (schema table "Grid5000 Configuration Schema") ------------------

def test_g5k_documented_defaults():
    conf = Configuration()
    assert conf.job_name == "EnOSlib"
    assert conf.walltime == "02:00:00"
    assert conf.queue == "default"
    assert conf.job_type == []
    assert conf.dhcp is True and conf.force_deploy is False
    assert conf.env_name is None and conf.reservation is None and conf.project is None
    assert conf.machines == [] and conf.networks == []


def test_g5k_from_settings_then_set():
    conf = Configuration.from_settings(job_name="my-exp", walltime="1:30:00", queue="production")
    assert (conf.job_name, conf.walltime, conf.queue) == ("my-exp", "1:30:00", "production")
    assert conf.set(project="myteam") is conf and conf.project == "myteam"
    conf.walltime = "03:00:00"
    assert conf.walltime == "03:00:00"


# --- g5k Configuration: empty until finalize ----------------------------------------------------

def test_g5k_empty_then_machines_one_by_one_then_finalize():
    conf = Configuration()
    conf.add_machine(roles=["server"], cluster="paravance", nodes=1)
    conf.add_machine(roles=["client"], cluster="paravance", nodes=2)
    assert conf.finalize() is conf
    assert [m.roles for m in conf.machines] == [["server"], ["client"]]


def test_g5k_finalize_of_an_empty_configuration_is_a_validation_error():
    conf = Configuration()  # fine while building
    with pytest.raises(ValidationError) as info:
        conf.finalize()
    assert isinstance(info.value, EnosConfigError) and info.value.path == "$"
    assert "resources" in str(info.value)


# --- g5k NetworkConfiguration -------------------------------------------------------------------

def test_g5k_network_configuration_constructor_and_attributes():
    net = NetworkConfiguration(id="n1", type="kavlan", roles=["my_network"], site="rennes")
    assert (net.id, net.type, net.roles, net.site) == ("n1", "kavlan", ["my_network"], "rennes")
    assert net.to_dict() == {"id": "n1", "type": "kavlan", "roles": ["my_network"], "site": "rennes"}
    assert NetworkConfiguration.from_dictionary(net.to_dict()) == net


def test_g5k_network_without_id_is_named_when_added():
    net = NetworkConfiguration(type="kavlan-local", roles=["private"], site="nancy")
    conf = Configuration().add_network_conf(net)
    assert net.id == conf.networks[0].id and net.id


# --- g5k ClusterConfiguration / ServersConfiguration / MachineConfiguration ---------------------

def test_cluster_configuration_documented_usage():
    prod = NetworkConfiguration(id="n1", type="prod", roles=["my_network"], site="rennes")
    vlan = NetworkConfiguration(id="n2", type="kavlan", roles=["vlan"], site="rennes")
    machine = ClusterConfiguration(roles=["server"], cluster="paravance", nodes=2, primary_network=prod,
                                   secondary_networks=[vlan])
    assert machine.cluster == "paravance" and machine.nodes == 2
    assert machine.primary_network is prod and machine.secondary_networks == [vlan]
    conf = (Configuration.from_settings(job_type=["deploy"], env_name="debian12-min")
            .add_network_conf(prod).add_network_conf(vlan).add_machine_conf(machine).finalize())
    got = conf.machines[0]
    assert isinstance(got, ClusterConfiguration)
    assert isinstance(got.primary_network, NetworkConfiguration)
    assert (got.primary_network.id, got.primary_network.type, got.primary_network.roles,
            got.primary_network.site) == ("n1", "prod", ["my_network"], "rennes")
    assert [n.id for n in got.secondary_networks] == ["n2"]
    # the serialized form refers to networks by id, as in the schema
    assert got.to_dict()["primary_network"] == "n1" and got.to_dict()["secondary_networks"] == ["n2"]


def test_cluster_configuration_defaults():
    machine = ClusterConfiguration(roles=["a"], cluster="paravance")
    assert machine.nodes == 1 and machine.min == 1 and machine.reservable_disks is False


def test_servers_configuration_fills_cluster_site_and_nodes():
    machine = ServersConfiguration(roles=["a"], servers=["chetemi-1.lille.grid5000.fr",
                                                          "chetemi-2.lille.grid5000.fr"])
    assert (machine.cluster, machine.site, machine.nodes) == ("chetemi", "lille", 2)
    conf = Configuration().add_machine(roles=["b"], servers=["paravance-3.rennes.grid5000.fr"])
    got = conf.machines[0]
    assert isinstance(got, ServersConfiguration)
    assert (got.cluster, got.site, got.nodes) == ("paravance", "rennes", 1)
    # without a primary network: the production network of the site, as a documented object
    assert (got.primary_network.type, got.primary_network.site) == ("prod", "rennes")


def test_machine_configuration_builds_the_right_group():
    assert isinstance(MachineConfiguration(roles=["a"], cluster="paravance"), ClusterConfiguration)
    assert isinstance(MachineConfiguration(roles=["a"], servers=["paravance-1.rennes.grid5000.fr"]),
                      ServersConfiguration)


def test_explicit_site_is_known_offline():
    machine = ClusterConfiguration(roles=["a"], cluster="paravance", site="rennes")
    conf = Configuration().add_machine_conf(machine)
    assert conf.machines[0].site == "rennes" and conf.sites == ["rennes"]


# --- add_machine_conf / add_network_conf / add_machine / add_network ----------------------------

def test_builders_chain_and_objects_stay_live():
    net = NetworkConfiguration(id="n1", type="prod", roles=["r"], site="rennes")
    machine = ClusterConfiguration(roles=["a"], cluster="paravance", primary_network=net)
    conf = Configuration().add_network_conf(net).add_machine_conf(machine)
    machine.nodes = 4  # EnOSlib keeps the object itself in the configuration
    assert conf.machines[0].nodes == 4 and conf.to_dict()["resources"]["machines"][0]["nodes"] == 4


def test_add_machine_conf_adds_its_networks():
    vlan = NetworkConfiguration(type="kavlan", roles=["v"], site="rennes")
    conf = Configuration.from_settings(job_type=["deploy"], env_name="debian12-min")
    conf.add_machine_conf(ClusterConfiguration(roles=["a"], cluster="paravance", primary_network=vlan))
    assert [n.id for n in conf.networks] == [vlan.id]
    assert conf.machines[0].primary_network.id == vlan.id


def test_add_network_with_keywords():
    conf = Configuration().add_network(id="n1", type="slash_22", roles=["ips"], site="lyon")
    assert conf.networks[0].type == "slash_22"


# --- to_dict / from_dictionary -----------------------------------------------------------------

def test_g5k_round_trip_and_from_dictionary_validate_flag():
    conf = (Configuration.from_settings(job_name="rt", job_type=["deploy"], env_name="debian12-min")
            .add_network_conf(NetworkConfiguration(id="v", type="kavlan", roles=["v"], site="rennes"))
            .add_machine(roles=["a"], cluster="paravance", nodes=2, primary_network="v")
            .add_machine(roles=["b"], servers=["paravance-9.rennes.grid5000.fr"])
            .finalize())
    data = conf.to_dict()
    assert data["job_name"] == "rt" and data["resources"]["machines"][0]["cluster"] == "paravance"
    assert Configuration.from_dictionary(data) == conf
    assert Configuration.from_dictionary(data, validate=False) == conf


def test_from_dictionary_is_validated():
    with pytest.raises(ValidationError):
        Configuration.from_dictionary({"resources": {"machines": [{"roles": ["a"], "cluster": "paravance",
                                                                    "nodes": "two"}]}})


def test_from_dictionnary_old_spelling_still_works():
    with pytest.warns(DeprecationWarning):
        conf = Configuration.from_dictionnary({"resources": {"machines": [{"roles": ["a"], "cluster": "x"}]}})
    assert conf.machines[0].cluster == "x"


# --- finalize: EnOSlib's completion of older configurations -------------------------------------

def test_finalize_completes_kavlan_without_deploy():
    conf = Configuration().add_network(id="v", type="kavlan", roles=["v"], site="rennes")
    conf.add_machine(roles=["a"], cluster="paravance", primary_network="v")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        conf.finalize()
    assert "deploy" in conf.job_type and conf.env_name
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)


def test_finalize_requires_env_name_for_deploy():
    conf = Configuration.from_settings(job_type=["deploy"]).add_machine(roles=["a"], cluster="paravance")
    with pytest.raises(ValueError, match="env_name"):
        conf.finalize()


# --- errors: EnosConfigError, catchable as jsonschema's ValidationError -------------------------

@pytest.mark.parametrize("build", [
    lambda: Configuration.from_settings(walltime="2h"),
    lambda: Configuration.from_settings(queue="fast"),
    lambda: Configuration().add_machine(roles=["a"], cluster="paravance", nodes=0),
    lambda: Configuration().add_machine(roles=["a"]),
    lambda: StaticConfiguration().add_machine_conf(StaticMachine(roles=["a"], address="h", port=70000)),
    lambda: LocalConfiguration().add_network_conf(LocalNetwork(id="n", roles=["r"], cidr="nope")),
], ids=["walltime", "queue", "nodes", "no-cluster", "static-port", "local-cidr"])
def test_errors_are_validation_errors_with_path_and_rule(build):
    with pytest.raises(ValidationError) as info:
        build()
    err = info.value
    assert isinstance(err, EnosConfigError) and isinstance(err, ValueError)
    assert err.path.startswith("$") and err.rule and err.path in str(err) and err.rule in str(err)
    assert err.message == str(err)
    assert err.json_path == err.path or err.path == "$"


def test_cross_field_errors_are_validation_errors_too():
    conf = Configuration().add_machine(roles=["a"], cluster="paravance", nodes=2, min=3)
    with pytest.raises(ValidationError) as info:
        conf.finalize()
    assert info.value.path == "$.resources.machines[0].min"
    assert list(info.value.absolute_path) == ["resources", "machines", 0, "min"]


# --- Static -------------------------------------------------------------------------------------

def test_static_machine_configuration_fields():
    machine = StaticMachine(roles=["server"], address="10.0.0.1", alias="srv", user="root",
                            keyfile="/root/.ssh/id_rsa", port=2222, extra={"rack": 3})
    assert (machine.address, machine.alias, machine.user, machine.keyfile, machine.port, machine.extra) == (
        "10.0.0.1", "srv", "root", "/root/.ssh/id_rsa", 2222, {"rack": 3})
    assert StaticMachine.from_dictionary(machine.to_dict()) == machine


def test_static_network_configuration_fields():
    net = StaticNetwork(roles=["lan"], cidr="10.0.0.0/24", gateway="10.0.0.254", dns="10.0.0.253",
                        start="10.0.0.10", end="10.0.0.20")
    assert (net.cidr, net.gateway, net.dns, net.start, net.end, net.roles) == (
        "10.0.0.0/24", "10.0.0.254", "10.0.0.253", "10.0.0.10", "10.0.0.20", ["lan"])


def test_static_empty_then_finalize_then_provider():
    from enoslib.infra.enos_static.provider import Static

    conf = StaticConfiguration()
    conf.add_machine_conf(StaticMachine(roles=["server"], address="10.0.0.1", alias="srv", port=2222))
    conf.add_network_conf(StaticNetwork(roles=["lan"], cidr="10.0.0.0/24", gateway="10.0.0.254",
                                        dns="10.0.0.254", start="10.0.0.10", end="10.0.0.11"))
    conf.finalize()
    assert StaticConfiguration.from_dictionary(conf.to_dict()) == conf
    roles, networks = Static(conf).init()
    host = roles["server"][0]
    assert (host.address, host.alias, host.port) == ("10.0.0.1", "srv", 2222)
    assert list(networks["lan"][0].free_ips) == ["10.0.0.10", "10.0.0.11"]


def test_static_start_without_end_is_an_error():
    with pytest.raises(ValidationError, match="end"):
        StaticConfiguration.from_dictionary({"resources": {
            "machines": [{"roles": ["a"], "address": "h"}],
            "networks": [{"roles": ["n"], "cidr": "10.0.0.0/24", "start": "10.0.0.2"}]}})


# --- Local (ours, same conventions) -------------------------------------------------------------

def test_local_configuration_objects():
    net = LocalNetwork(id="lan", roles=["lan"], cidr="10.42.0.0/24")
    conf = (LocalConfiguration.from_settings(name="compat")
            .add_network_conf(net)
            .add_machine_conf(LocalMachine(roles=["server"], number=2))
            .add_machine(roles=["client"]))
    conf.finalize()
    assert [m.number for m in conf.machines] == [2, 1]
    assert conf.networks[0].cidr == "10.42.0.0/24"
    assert LocalConfiguration.from_dictionary(conf.to_dict()) == conf


# --- Configuration helpers: validate, restrict_to, copies, replacing machines -------------------

def test_validate_classmethod_checks_a_dictionary():
    Configuration.validate({"resources": {"machines": [{"roles": ["a"], "cluster": "paravance"}]}})
    with pytest.raises(ValidationError):
        StaticConfiguration.validate({"resources": {"machines": [{"roles": ["a"]}]}})


def test_restrict_to_a_site():
    conf = (Configuration()
            .add_machine(roles=["a"], cluster="paravance", site="rennes")
            .add_machine(roles=["b"], servers=["grisou-1.nancy.grid5000.fr"])
            .add_network(id="n", type="prod", roles=["p"], site="nancy"))
    nancy = conf.restrict_to("nancy")
    assert [m.roles for m in nancy.machines] == [["b"]] and [n.id for n in nancy.networks] == ["n"]
    assert [m.roles for m in conf.restrict_to("rennes").machines] == [["a"]]
    assert len(conf.machines) == 2  # the original is untouched


def test_configurations_copy_and_pickle():
    import copy
    import pickle

    conf = Configuration.from_settings(job_name="c").add_machine(roles=["a"], cluster="paravance")
    assert copy.deepcopy(conf) == conf and pickle.loads(pickle.dumps(conf)) == conf
    static = StaticConfiguration().add_machine(roles=["a"], address="h")
    assert copy.deepcopy(static) == static


def test_machines_can_be_replaced():
    conf = Configuration().add_machine(roles=["a"], cluster="paravance")
    vlan = NetworkConfiguration(type="kavlan", roles=["v"], site="nancy")
    conf.machines = [ClusterConfiguration(roles=["b"], cluster="grisou", nodes=2, primary_network=vlan)]
    assert [(m.roles, m.cluster, m.nodes) for m in conf.machines] == [(["b"], "grisou", 2)]
    assert conf.machines[0].primary_network.id == vlan.id == conf.networks[0].id
    with pytest.raises(ValidationError):
        conf.machines = [ClusterConfiguration(roles=["c"], cluster="x"), {"roles": ["d"]}]
    assert [m.roles for m in conf.machines] == [["b"]]  # unchanged


# --- round trip through the object builders (property) ------------------------------------------

_roles = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=2, unique=True)
_groups = st.lists(st.one_of(
    st.builds(lambda r, c, n: ClusterConfiguration(roles=r, cluster=c, nodes=n),
              _roles, st.sampled_from(["paravance", "grisou"]), st.integers(1, 9)),
    st.builds(lambda r, i: ServersConfiguration(roles=r, servers=[f"parasilo-{i}.rennes.grid5000.fr"]),
              _roles, st.integers(1, 99)),
), min_size=1, max_size=4)


@settings(max_examples=40, deadline=None)
@given(groups=_groups, vlan=st.booleans())
def test_object_builders_round_trip(groups, vlan):
    servers = [s for g in groups for s in g.to_dict().get("servers", [])]
    if len(servers) != len(set(servers)):
        return
    conf = Configuration.from_settings(job_type=["deploy"], env_name="debian12-min")
    net = NetworkConfiguration(type="kavlan-global" if vlan else "prod", roles=["n"], site="rennes")
    for group in groups:
        group.primary_network = net
        conf.add_machine_conf(group)
    conf.finalize()
    assert len(conf.networks) == 1 and all(m.primary_network.id == net.id for m in conf.machines)
    again = Configuration.from_dictionary(conf.to_dict())
    assert again == conf and [type(m) for m in again.machines] == [type(g) for g in groups]
