"""G5kConf: schema-driven, offline, round trip, errors naming the JSON path and the rule."""

from __future__ import annotations

import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enoslib.errors import EnosConfigError
from enoslib.infra.enos_g5k import G5kConf, G5kNetworkConf

MACHINE = {"roles": ["a"], "cluster": "paravance"}


def conf_of(**top):
    top.setdefault("resources", {"machines": [dict(MACHINE)]})
    return G5kConf.from_dictionary(top).finalize()


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Building and validating a configuration must not touch the network."""
    def refuse(*args, **kwargs):
        raise AssertionError("configuration code opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_builder_defaults_and_round_trip():
    conf = (G5kConf.from_settings(job_name="exp", walltime="30:00:00", job_type=["deploy"], env_name="debian12-min")
            .add_network(id="vlan", type="kavlan", roles=["exp"], site="rennes")
            .add_network(type="slash_22", roles=["ips"], site="rennes")
            .add_machine(roles=["server"], cluster="paravance", nodes=2, primary_network="vlan")
            .add_machine(roles=["client"], servers=["parasilo-1.rennes.grid5000.fr", "parasilo-2.rennes.grid5000.fr"])
            .finalize())
    assert conf.job_name == "exp" and conf.queue == "default" and conf.dhcp is True
    assert conf.walltime_seconds == 30 * 3600
    assert conf.networks[1].id == "slash_22-rennes"
    again = G5kConf.from_dictionary(conf.to_dict())
    assert again == conf and again.to_dict() == conf.to_dict()
    specs = conf.machine_specs()
    assert specs[0]["min"] == 2 and specs[1]["nodes"] == 2 and specs[1]["site"] == "rennes"
    assert conf.sites_of({"paravance": "rennes"}) == ["rennes"]
    assert conf.sites == ["rennes"]  # EnOSlib's property: the sites known offline


def test_network_objects_as_references():
    vlan = G5kNetworkConf(type="kavlan", roles=["exp"], site="rennes")
    glob = G5kNetworkConf(type="kavlan-global", roles=["wan"], site="lyon")
    conf = (G5kConf.from_settings(job_type="deploy", env_name="debian12-min")
            .add_machine(roles=["a"], cluster="paravance", primary_network=vlan, secondary_networks=[glob])
            .add_machine(roles=["b"], cluster="paravance", primary_network=vlan))
    conf.finalize()
    assert vlan["id"] == "kavlan-rennes" and glob["id"] == "kavlan-global-lyon"
    assert [n.id for n in conf.networks] == ["kavlan-rennes", "kavlan-global-lyon"]
    assert conf.job_types == ["deploy"]


@pytest.mark.parametrize("top, path, rule", [
    ({"walltime": "1:70:00"}, "$.walltime", "format"),
    ({"walltime": "0:00:00"}, "$.walltime", "minimum"),
    ({"reservation": "tomorrow"}, "$.reservation", "format"),
    ({"queue": "fast"}, "$.queue", "enum"),
    ({"job_type": ["dploy"]}, "$.job_type[0]", "pattern"),
    ({"jobname": "x"}, "$.jobname", "additionalProperties"),
    ({"job_type": "deploy"}, "$.env_name", "required"),
    ({"env_version": 3, "job_type": ["deploy"], "env_name": "d"}, None, None),
    ({"job_type": ["besteffort"], "reservation": "2030-01-01 10:00:00"}, "$.reservation", "besteffort"),
    ({"oargrid_jobids": [["rennes", 1], ["rennes", 2]]}, "$.oargrid_jobids[1]", "unique"),
    ({"oargrid_jobids": [["rennes", "x"]]}, "$.oargrid_jobids[0][1]", "pattern"),
])
def test_top_level_errors(top, path, rule):
    if path is None:
        conf_of(**top)
        return
    with pytest.raises(EnosConfigError) as err:
        conf_of(**top)
    assert err.value.path == path and err.value.rule == rule
    assert path in str(err.value) and rule in str(err.value)


@pytest.mark.parametrize("machines, networks, path, rule", [
    ([{"roles": ["a"]}], [], "$.resources.machines[0]", "required"),
    ([{**MACHINE, "servers": ["paravance-1.rennes.grid5000.fr"]}], [], "$.resources.machines[0].servers", "oneOf"),
    ([{**MACHINE, "nodes": 0}], [], "$.resources.machines[0].nodes", "minimum"),
    ([{**MACHINE, "nodes": 2, "min": 3}], [], "$.resources.machines[0].min", "min<=nodes"),
    ([{"roles": ["a"], "servers": ["paravance-1.rennes"]}], [], "$.resources.machines[0].servers[0]", "pattern"),
    ([{"roles": ["a"], "servers": ["paravance-1.rennes.grid5000.fr"], "nodes": 2}], [],
     "$.resources.machines[0].nodes", "nodes<=servers"),
    ([{"roles": ["a"], "servers": ["paravance-1.rennes.grid5000.fr", "grisou-1.nancy.grid5000.fr"]}], [],
     "$.resources.machines[0].servers[1]", "same-cluster"),
    ([{"roles": ["a"], "servers": ["paravance-1.rennes.grid5000.fr"]},
      {"roles": ["b"], "servers": ["paravance-1.rennes.grid5000.fr"]}], [],
     "$.resources.machines[1].servers[0]", "unique"),
    ([{**MACHINE, "primary_network": "nope"}], [], "$.resources.machines[0].primary_network", "reference"),
    ([{**MACHINE, "secondary_networks": ["nope"]}], [], "$.resources.machines[0].secondary_networks[0]", "reference"),
    ([{**MACHINE, "primary_network": "s"}], [{"id": "s", "type": "slash_22", "roles": ["x"], "site": "rennes"}],
     "$.resources.machines[0].primary_network", "network-type"),
    ([MACHINE], [{"id": "v", "type": "kavlan", "roles": ["x"], "site": "rennes"},
                 {"id": "v", "type": "kavlan", "roles": ["y"], "site": "rennes"}],
     "$.resources.networks[1].id", "unique"),
    ([MACHINE], [{"id": "v", "type": "vxlan", "roles": ["x"], "site": "rennes"}],
     "$.resources.networks[0].type", "enum"),
    ([MACHINE], [{"id": "v", "type": "prod", "roles": ["x"]}], "$.resources.networks[0]", "required"),
])
def test_resource_errors(machines, networks, path, rule):
    with pytest.raises(EnosConfigError) as err:
        conf_of(resources={"machines": machines, "networks": networks})
    assert (err.value.path, err.value.rule) == (path, rule), str(err.value)
    assert path in str(err.value)


def test_deploy_completed_with_a_deprecation_warning_as_enoslib():
    """EnOSlib completes older configurations instead of refusing them (with a warning)."""
    with pytest.warns(DeprecationWarning, match="deploy"):
        conf = conf_of(env_name="debian12-min")
    assert conf.job_type == ["deploy"]
    with pytest.warns(DeprecationWarning, match="debian11-nfs"):
        conf = conf_of(resources={"machines": [MACHINE],
                                  "networks": [{"id": "v", "type": "kavlan", "roles": ["x"], "site": "rennes"}]})
    assert conf.job_type == ["deploy"] and conf.env_name == "debian11-nfs"


def test_builder_validates_each_item_at_once():
    conf = G5kConf.from_settings()
    with pytest.raises(EnosConfigError) as err:
        conf.add_machine(roles=["a"], cluster="paravance", nodes="two")
    assert err.value.path == "$.resources.machines[0].nodes"
    with pytest.raises(EnosConfigError) as err:
        conf.set(walltime="2h")
    assert err.value.path == "$.walltime"


def test_site_rules_with_known_sites():
    conf = (G5kConf.from_settings(job_type=["deploy"], env_name="debian12-min")
            .add_network(id="v", type="kavlan", roles=["x"], site="nancy")
            .add_network(id="g", type="kavlan-global", roles=["y"], site="lyon")
            .add_machine(roles=["a"], cluster="paravance", primary_network="v"))
    conf.finalize()  # paravance's site is not known offline: accepted for now
    with pytest.raises(EnosConfigError) as err:
        conf.check_sites({"paravance": "rennes"})
    assert (err.value.path, err.value.rule) == ("$.resources.machines[0].primary_network", "site")
    ok = (G5kConf.from_settings(job_type=["deploy"], env_name="debian12-min")
          .add_network(id="g", type="kavlan-global", roles=["y"], site="lyon")
          .add_machine(roles=["a"], cluster="paravance", primary_network="g"))
    ok.check_sites({"paravance": "rennes"})  # a global vlan spans sites
    servers = (G5kConf.from_settings(job_type=["deploy"], env_name="d")
               .add_network(id="v", type="kavlan-local", roles=["x"], site="nancy")
               .add_machine(roles=["a"], servers=["paravance-1.rennes.grid5000.fr"], primary_network="v"))
    with pytest.raises(EnosConfigError) as err:  # servers name their site: checked offline
        servers.finalize()
    assert err.value.rule == "site"


def test_offline_site_check_uses_the_reference_cache(tmp_path):
    from enoslib.config import cache_dir
    from enoslib.infra.enos_g5k.reference import _write_json

    _write_json(cache_dir("g5k", "reference") / "abc" / "index.json",
                {"paravance": {"site": "rennes", "exotic": False}})
    conf = (G5kConf.from_settings(job_type=["deploy"], env_name="d")
            .add_network(id="v", type="kavlan", roles=["x"], site="nancy")
            .add_machine(roles=["a"], cluster="paravance", primary_network="v"))
    with pytest.raises(EnosConfigError) as err:
        conf.finalize()
    assert err.value.rule == "site" and "rennes" in str(err.value)


walltimes = st.builds(lambda h, m, s: f"{h}:{m:02d}:{s:02d}", st.integers(0, 400), st.integers(0, 59),
                      st.integers(1, 59))
machines = st.one_of(
    st.builds(lambda r, c, n: {"roles": r, "cluster": c, "nodes": n},
              st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True),
              st.sampled_from(["paravance", "grisou", "nova"]), st.integers(1, 50)),
    st.builds(lambda r, ids: {"roles": r, "servers": [f"parasilo-{i}.rennes.grid5000.fr" for i in ids]},
              st.lists(st.sampled_from(["x", "y"]), min_size=1, max_size=2, unique=True),
              st.lists(st.integers(1, 20), min_size=1, max_size=4, unique=True)),
)


@settings(max_examples=60, deadline=None)
@given(walltime=walltimes, name=st.from_regex(r"[a-z][a-z0-9_-]{0,20}", fullmatch=True),
       machine_list=st.lists(machines, min_size=1, max_size=4), queue=st.sampled_from(["default", "production"]))
def test_round_trip_property(walltime, name, machine_list, queue):
    servers = [s for m in machine_list for s in m.get("servers", [])]
    if len(servers) != len(set(servers)):
        return
    conf = G5kConf.from_dictionary({"job_name": name, "walltime": walltime, "queue": queue,
                                    "resources": {"machines": machine_list}}).finalize()
    assert G5kConf.from_dictionary(conf.to_dict()) == conf
    assert conf.walltime_seconds == sum(int(x) * f for x, f in zip(walltime.split(":"), (3600, 60, 1)))
