"""The Distem provider against the emulators, through the real clients (python-grid5000, distem):
job sized from the flavours, reload by name, destroy leaves no job, vnode or vnetwork."""

from __future__ import annotations

import distem
import pytest
from g5k_helpers import active_jobs, make_client

from enoslib.errors import EnosConfigError, EnosProviderError
from enoslib.infra.enos_distem import Distem, DistemConf


def conf_of(key, **settings):
    settings.setdefault("job_name", "dst")
    return (DistemConf.from_settings(key=key, **settings)
            .add_machine(roles=["server"], cluster="paravance", number=3, flavour_desc={"core": 16, "mem": 32768})
            .add_machine(roles=["client", "all"], cluster="paravance", number=2))


def test_init_reload_destroy(emu, coordinator, key):
    conf = conf_of(key)
    provider = Distem(conf, client=make_client(emu), coordinator=("127.0.0.1", coordinator.port))
    roles, networks = provider.init()
    assert [len(roles[r]) for r in ("server", "client", "all")] == [3, 2, 2]
    # a paravance node has 32 threads: two 16-core containers per node -> 2 nodes, + 1 for the tiny ones
    (site, uid, state, name), = active_jobs(emu)
    assert (site, state, name) == ("rennes", "running", "dst")
    job = make_client(emu).get(f"/sites/rennes/jobs/{uid}")
    assert len(job["assigned_nodes"]) == 3 and len(job["resources_by_type"]["subnets"]) == 1
    subnet = job["resources_by_type"]["subnets"][0]
    # what Distem itself says, through the real client
    api = distem.Distem(serveraddr="127.0.0.1", port=coordinator.port)
    assert api.vnetwork_info("vnet")["address"] == subnet
    vnodes = {v["name"]: v for v in api.vnodes_info()}
    assert sorted(vnodes) == ["vnode-0-0", "vnode-0-1", "vnode-0-2", "vnode-1-0", "vnode-1-1"]
    assert all(v["status"] == "RUNNING" for v in vnodes.values())
    assert {h.address for h in roles["server"]} == {v["vifaces"][0]["address"].split("/")[0]
                                                    for n, v in vnodes.items() if n.startswith("vnode-0")}
    assert {vnodes[h.alias]["host"] for h in roles["client"]} <= set(job["assigned_nodes"])
    assert str(networks["distem"][0].network) == subnet
    # reload by name: the same job, the same vnodes, a handful of requests
    again = Distem(conf, client=make_client(emu), coordinator=("127.0.0.1", coordinator.port))
    roles2, _ = again.init()
    assert [h.address for h in roles2["all"]] == [h.address for h in roles["all"]]
    assert [j[1] for j in active_jobs(emu)] == [uid] and again.requests < 10
    again.destroy()
    assert active_jobs(emu) == [] and coordinator.state()["vnodes"] == {} and coordinator.state()["vnetworks"] == []


def test_force_deploy_recreates_the_vnodes(emu, coordinator, key):
    conf = conf_of(key)
    provider = Distem(conf, client=make_client(emu), coordinator=("127.0.0.1", coordinator.port))
    provider.init()
    api = distem.Distem(serveraddr="127.0.0.1", port=coordinator.port)
    before = {v["name"]: v["id"] for v in api.vnodes_info()}
    provider.init(force_deploy=True)
    after = {v["name"]: v["id"] for v in api.vnodes_info()}
    assert sorted(before) == sorted(after) and not set(before.values()) & set(after.values())
    provider.destroy()
    assert active_jobs(emu) == []


def test_a_vnode_failing_to_start_is_started_again(emu, coordinator, key):
    coordinator.faults.update(start_fail_next=2)
    provider = Distem(conf_of(key), client=make_client(emu), coordinator=("127.0.0.1", coordinator.port))
    roles, _ = provider.init()
    assert len(roles["all"]) == 2
    provider.destroy()


def test_a_vnode_that_never_starts_releases_everything(emu, coordinator, key):
    coordinator.faults.update(start_fail_rate=1.0)
    provider = Distem(conf_of(key), client=make_client(emu), coordinator=("127.0.0.1", coordinator.port))
    with pytest.raises(EnosProviderError, match="failed to start 3 time"):
        provider.init()
    assert active_jobs(emu) == [] and coordinator.state()["vnodes"] == {}


def test_flavour_too_big_for_the_cluster_fails_before_reserving(emu, coordinator, key):
    conf = DistemConf.from_settings(key=key).add_machine(roles=["r"], cluster="paravance",
                                                              flavour_desc={"core": 64, "mem": 1024})
    with pytest.raises(EnosConfigError, match=r"machines\[0\]\.flavour.*paravance node"):
        Distem(conf, client=make_client(emu), coordinator=("127.0.0.1", coordinator.port)).init()
    assert active_jobs(emu) == [] and coordinator.state()["pnodes"] == []


def test_private_vnetwork_goes_through_the_coordinator(emu, coordinator, key):
    conf = (DistemConf.from_settings(key=key, ssh_jump="never").add_network("kavlan")
            .add_machine(roles=["r"], cluster="paravance", number=2))
    conf.to_dict()
    conf = DistemConf.from_dictionary({**conf.to_dict(), "resources": {**conf.to_dict()["resources"],
                                                                       "networks": ["kavlan"]}})
    provider = Distem(conf, client=make_client(emu), coordinator=("127.0.0.1", coordinator.port))
    roles, networks = provider.init()
    assert str(networks["distem"][0].network) == "10.144.0.0/18"
    vid = provider.g5k.networks[0].vlan_id
    assert all(h.extra["gateway"] == f"paravance-1-kavlan-{vid}.rennes.grid5000.fr" for h in roles["r"])
    assert all(h.extra["gateway_user"] == "root" for h in roles["r"])
    provider.destroy()
    assert active_jobs(emu) == []


def test_undercloud_puts_the_vnodes_on_these_nodes(emu, coordinator, key):
    nodes = ["paravance-3.rennes.grid5000.fr", "paravance-4.rennes.grid5000.fr"]
    conf = (DistemConf.from_settings(key=key)
            .add_machine(roles=["r"], cluster="paravance", number=4, undercloud=[{"address": n} for n in nodes]))
    provider = Distem(conf, client=make_client(emu), coordinator=("127.0.0.1", coordinator.port))
    roles, _ = provider.init()
    assert sorted({h.extra["distem_pnode"] for h in roles["r"]}) == nodes
    provider.destroy()
    assert active_jobs(emu) == []
