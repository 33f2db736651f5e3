"""Kadeploy, KaVLAN and the reconfigurable firewall of the Grid'5000 emulator, via python-grid5000."""

from __future__ import annotations

import ipaddress

import pytest

grid5000 = pytest.importorskip("grid5000")

from enoslib.emulators.g5k import G5kEmulator, legacy_dataset

RENNES = "rennes.grid5000.fr"


@pytest.fixture()
def emu():
    with G5kEmulator(
        legacy_dataset(4, sites=["rennes", "nancy"]),
        speed=0,
        backend="address",
        nodes_per_cluster=4,
        users={"alice": "a", "bob": "b"},
        deploy_duration=30,
    ) as e:
        yield e


@pytest.fixture()
def rennes(emu):
    return emu.client().sites["rennes"]


def running_job(emu, site, resources, types=("deploy",)):
    job = site.jobs.create({"resources": resources, "command": "sleep 86400", "types": list(types)})
    emu.advance(5)
    job.refresh()
    assert job.state == "running"
    return job


def test_deployment_ok_and_per_node_failure(emu, rennes):
    job = running_job(emu, rennes, "{cluster='paravance'}/nodes=3")
    emu.faults.update(deploy_fail_nodes=["paravance-2"])
    dep = rennes.deployments.create(
        {"nodes": job.assigned_nodes, "environment": "debian12-min", "key": "ssh-ed25519 AAAA test"}
    )
    assert dep.status == "processing" and dep.uid.startswith("D-")
    assert dep.nodes == job.assigned_nodes and dep.result is None and dep.site_uid == "rennes"
    emu.advance(29)
    dep.refresh()
    assert dep.status == "processing"
    emu.advance(1)
    dep.refresh()
    assert dep.status == "terminated"
    assert {n: r["state"] for n, r in dep.result.items()} == {
        f"paravance-1.{RENNES}": "OK",
        f"paravance-2.{RENNES}": "KO",
        f"paravance-3.{RENNES}": "OK",
    }
    assert [d.uid for d in rennes.deployments.list(status="terminated")] == [dep.uid]


def test_deployment_rate_error_and_cancel(emu, rennes):
    job = running_job(emu, rennes, "{cluster='parasilo'}/nodes=4")
    emu.faults.update(deploy_failure_rate=1.0)
    dep = rennes.deployments.create({"nodes": job.assigned_nodes, "environment": "debian11-min"})
    emu.advance(30)
    dep.refresh()
    assert all(r["state"] == "KO" for r in dep.result.values())
    emu.faults.update(deploy_failure_rate=0.0, deploy_error_next=1)
    broken = rennes.deployments.create(
        {"nodes": job.assigned_nodes[:1], "environment": "debian12-min"}
    )
    emu.advance(30)
    broken.refresh()
    assert broken.status == "error"
    cancelled = rennes.deployments.create(
        {"nodes": job.assigned_nodes[:1], "environment": "debian12-min"}
    )
    rennes.deployments.delete(cancelled.uid)
    cancelled.refresh()
    assert cancelled.status == "canceled"


def test_deployment_rejections(emu, rennes):
    not_deploy = running_job(emu, rennes, "{cluster='paravance'}/nodes=1", types=())
    with pytest.raises(grid5000.Grid5000CreateError) as err:
        rennes.deployments.create(
            {"nodes": not_deploy.assigned_nodes, "environment": "debian12-min"}
        )
    assert err.value.response_code == 403
    job = running_job(emu, rennes, "{cluster='paravance'}/nodes=1")
    for spec in (
        {"nodes": job.assigned_nodes, "environment": "windows95"},
        {"nodes": [], "environment": "debian12-min"},
        {"nodes": ["nowhere-1.rennes.grid5000.fr"], "environment": "debian12-min"},
    ):
        with pytest.raises(grid5000.Grid5000CreateError) as err:
            rennes.deployments.create(spec)
        assert err.value.response_code == 400
        assert "The deployment you are trying to submit is not valid" in err.value.error_message
    bob = emu.client("bob").sites["rennes"]
    with pytest.raises(grid5000.Grid5000CreateError):
        bob.deployments.create({"nodes": job.assigned_nodes, "environment": "debian12-min"})


def test_vlans_list_and_set_nodes(emu, rennes):
    vlans = {v.uid: v.type for v in rennes.vlans.list()}
    assert (
        vlans["1"] == "kavlan-local" and vlans["4"] == "kavlan" and vlans["16"] == "kavlan-global"
    )
    with pytest.raises(grid5000.Grid5000GetError) as err:
        rennes.vlans["42"]
    assert "Vlan 42 does not exist" in err.value.error_message
    job = running_job(emu, rennes, "{cluster='paravance'}/nodes=2+{type='kavlan'}/vlan=1")
    vid = job.resources_by_type["vlans"][0]
    vlan = rennes.vlans[vid]
    n1, n2 = job.assigned_nodes
    n2_eth1 = n2.replace(".", "-eth1.", 1)
    answer = vlan.nodes.submit([n1, n2_eth1, "ghost-1.rennes.grid5000.fr"])
    assert answer[n1]["status"] == "success" and answer[n2_eth1]["status"] == "success"
    assert answer["ghost-1.rennes.grid5000.fr"]["status"] == "failure"
    assert vlan.nodes.submit([n1])[n1]["status"] == "unchanged"
    assert sorted(n.uid for n in vlan.nodes.list()) == sorted([n1, n2_eth1])
    looked = rennes.vlansnodes.submit([n1, n2, "ghost"])
    assert {x.uid: x.vlan for x in looked} == {n1: vid, n2: "DEFAULT"}
    assert vlan.nodes[n1].vlan == vid
    assert emu.node_address(n1.replace(".", f"-kavlan-{vid}.", 1)) == emu.node_address(n1)
    assert emu.node_address(n1).startswith("10.24.")
    # users and dhcpd
    assert [u.uid for u in vlan.users.list()] == ["alice"]
    assert vlan.users["alice"].status == "authorized" and vlan.users["bob"].status == "unauthorized"
    assert [(u.uid, u.vlans) for u in rennes.vlansusers.list()] == [("alice", [vid])]
    gk = emu.client()
    gk.http_request("put", f"/sites/rennes/vlans/{vid}/dhcpd", post_data={"action": "start"})
    with pytest.raises(grid5000.Grid5000HttpError) as err:
        gk.http_request("put", f"/sites/rennes/vlans/{vid}/dhcpd", post_data={"action": "boom"})
    assert err.value.response_code == 422
    gk.http_request("put", f"/sites/rennes/vlans/{vid}/users/bob")
    assert vlan.users["bob"].status == "authorized"
    # not the owner: 403; job end puts everything back in DEFAULT
    bob_vlan = emu.client("bob").sites["rennes"].vlans["5"]
    with pytest.raises(grid5000.Grid5000GetError) as err:
        bob_vlan.nodes.submit([n1])
    assert err.value.response_code == 403
    job.delete()
    emu.advance(2)
    assert vlan.nodes.list() == [] and rennes.vlansusers.list() == []
    assert emu.node_address(n1) == "172.16.97.1"


def test_vlan_nodes_post_wants_json_array(emu, rennes):
    job = running_job(emu, rennes, "{cluster='paravance'}/nodes=1+{type='kavlan-local'}/vlan=1")
    vid = job.resources_by_type["vlans"][0]
    gk = emu.client()
    with pytest.raises(grid5000.Grid5000HttpError) as err:
        gk.http_request("post", f"/sites/rennes/vlans/{vid}/nodes", post_data=[])
    assert err.value.response_code == 422
    with pytest.raises(grid5000.Grid5000HttpError) as err:
        gk.http_request(
            "post",
            f"/sites/rennes/vlans/{vid}/nodes",
            post_data=job.assigned_nodes,
            content_type="text/plain",
        )
    assert err.value.response_code == 415


def test_deploy_into_vlan_moves_the_node(emu, rennes):
    job = running_job(emu, rennes, "{cluster='paravance'}/nodes=1+{type='kavlan'}/vlan=1")
    vid = job.resources_by_type["vlans"][0]
    dep = rennes.deployments.create(
        {"nodes": job.assigned_nodes, "environment": "debian12-min", "vlan": int(vid)}
    )
    assert dep.vlan == int(vid)
    emu.advance(30)
    assert [n.uid for n in rennes.vlans[vid].nodes.list()] == job.assigned_nodes


def test_firewall_openings(emu, rennes):
    job = running_job(emu, rennes, "{cluster='paravance'}/nodes=2", types=())
    v6 = [n.replace(".", "-ipv6.", 1) for n in job.assigned_nodes]
    created = job.firewall.create(
        [{"addr": v6, "port": [80, 443], "proto": "tcp"}, {"addr": v6[:1], "proto": "all"}]
    )
    assert len(created) == 2 and created[0].port == [80, 443] and created[1].proto == "all"
    assert len(job.firewall.list()) == 2
    for bad in (
        {"addr": v6, "proto": "all", "port": 22},
        {"addr": v6, "proto": "icmp"},
        {"addr": ["parasilo-1-ipv6.rennes.grid5000.fr"], "port": 22},
    ):
        with pytest.raises(grid5000.Grid5000CreateError):
            job.firewall.create([bad])
    job.firewall.delete()
    assert job.firewall.list() == []
    job.firewall.create([{"addr": v6, "port": 22}])
    job.delete()
    emu.advance(2)
    with pytest.raises(grid5000.Grid5000CreateError):
        job.firewall.create([{"addr": v6, "port": 22}])
    assert job.firewall.list() == []


def test_home_storage_access_rules(emu, rennes):
    job = running_job(emu, rennes, "{cluster='paravance'}/nodes=1", types=())
    home = rennes.storage["home"].access["alice"].rules
    rule = home.create({"ipv4": ["172.16.97.1"], "termination": {"job": job.uid, "site": "rennes"}})
    assert rule.id.startswith("G5k-home_alice_j_") and rule.nfs_address.endswith(
        "/export/home/alice"
    )
    assert [r.id for r in home.list()] == [rule.id]
    with pytest.raises(grid5000.Grid5000CreateError) as err:
        rennes.storage["home"].access["bob"].rules.create(
            {"ipv4": ["172.16.97.1"], "termination": {"until": 2**31}}
        )
    assert err.value.response_code == 403
    job.delete()
    emu.advance(2)
    assert home.list() == []


def test_global_vlan_spans_sites(emu, rennes):
    """A kavlan-global vlan held by a nancy job takes rennes nodes (kavlan API and kadeploy)."""
    nancy = emu.client().sites["nancy"]
    njob = running_job(emu, nancy, "{cluster='grisou'}/nodes=1+{type='kavlan-global'}/vlan=1")
    vid = njob.resources_by_type["vlans"][0]
    assert int(vid) >= 10 and vid not in [v.uid for v in rennes.vlans.list()]
    assert rennes.vlans[vid].type == "kavlan-global"
    rjob = running_job(emu, rennes, "{cluster='paravance'}/nodes=2")
    r1, r2 = rjob.assigned_nodes
    (g1,) = njob.assigned_nodes
    # rennes nodes go in through rennes' kavlan API, or by a rennes deployment into the vlan
    assert rennes.vlans[vid].nodes.submit([r1])[r1]["status"] == "success"
    dep = rennes.deployments.create(
        {"nodes": [r2], "environment": "debian12-min", "vlan": int(vid)}
    )
    ndep = nancy.deployments.create({"nodes": [g1], "environment": "debian12-min", "vlan": vid})
    emu.advance(30)
    dep.refresh(), ndep.refresh()
    assert dep.status == ndep.status == "terminated"
    assert sorted(n.uid for n in rennes.vlans[vid].nodes.list()) == [r1, r2]
    assert [n.uid for n in nancy.vlans[vid].nodes.list()] == [g1]
    assert {x.uid: x.vlan for x in rennes.vlansnodes.submit([r1, r2])} == {r1: vid, r2: vid}
    # one network, the owning site's, no address used twice; the reference agrees
    network = ipaddress.ip_network(nancy.kavlans[vid]["network"])
    names = [n.replace(".", f"-kavlan-{vid}.", 1) for n in (r1, r2, g1)]
    addrs = [emu.node_address(n) for n in names]
    assert all(ipaddress.ip_address(a) in network for a in addrs) and len(set(addrs)) == 3
    node = rennes.clusters["paravance"].nodes[r1.split(".")[0]]
    assert node.kavlan["eth0"][f"kavlan-{vid}"] == addrs[0]
    assert [(u.uid, u.vlans) for u in rennes.vlansusers.list()] == [("alice", [vid])]
    # someone else's nodes, or a routed vlan held on another site, stay refused
    bjob = running_job(emu, emu.client("bob").sites["rennes"], "{cluster='paravance'}/nodes=1")
    with pytest.raises(grid5000.Grid5000GetError) as err:
        emu.client("bob").sites["rennes"].vlans[vid].nodes.submit(bjob.assigned_nodes)
    assert err.value.response_code == 403
    answer = rennes.vlans[vid].nodes.submit(bjob.assigned_nodes)
    assert answer[bjob.assigned_nodes[0]]["status"] == "failure"
    routed = running_job(emu, nancy, "{type='kavlan'}/vlan=1", types=())
    rvid = routed.resources_by_type["vlans"][0]
    with pytest.raises(grid5000.Grid5000GetError) as err:
        rennes.vlans[rvid].nodes.submit([r1])
    assert err.value.response_code == 403
    with pytest.raises(grid5000.Grid5000CreateError):
        rennes.deployments.create({"nodes": [r1], "environment": "debian12-min", "vlan": rvid})
    # the nancy job ends: every site's NICs leave the vlan
    njob.delete()
    emu.advance(2)
    assert rennes.vlans[vid].nodes.list() == [] and rennes.vlansusers.list() == []
    assert emu.node_address(r1).startswith("172.16.")
    with pytest.raises(grid5000.Grid5000GetError) as err:
        rennes.vlans[vid].nodes.submit([r1])
    assert err.value.response_code == 403
