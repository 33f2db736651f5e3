"""The default dataset is the real Grid'5000 reference: what a user names exists, as on the testbed."""

from __future__ import annotations

import ipaddress
import itertools

import pytest

grid5000 = pytest.importorskip("grid5000")

from enoslib.emulators.g5k import G5kEmulator, default_dataset
from enoslib.emulators.g5k.realdata import environment_names, real_site_names


@pytest.fixture(scope="module")
def ref():
    return default_dataset()


def test_every_current_site_cluster_and_node(ref):
    assert real_site_names() == sorted(ref.sites) and len(ref.sites) == 12
    assert sum(len(c) for c in ref.clusters.values()) == 158
    assert sum(len(n) for c in ref.nodes.values() for n in c.values()) == 939
    # retired nodes are gone: counts are the current ones, numbering has gaps
    assert len(ref.nodes["grenoble"]["dahu"]) == 32 and len(ref.nodes["nancy"]["grvingt"]) == 63
    assert "paravance" not in ref.clusters["rennes"] and "abacus29" in ref.clusters["rennes"]


def test_site_facts(ref):
    index = {s: ref.sites[s]["ipv6"]["site_index"] for s in ref.sites}
    assert index["rennes"] == 7 and index["toulouse"] == 9 and index["strasbourg"] == 10
    assert index["louvain"] == 11 and index["bordeaux"] == 0
    globals_ = {
        s: [v for v in ref.sites[s].get("kavlans", {}) if v.isdigit() and int(v) >= 10]
        for s in ref.sites
    }
    assert globals_["nancy"] == ["14"] and globals_["rennes"] == ["16"]
    assert globals_["luxembourg"] == ["20"] and globals_["bordeaux"] == []
    assert ref.sites["nancy"]["kavlans"]["14"]["network"] == "10.19.192.0/18"


def test_production_networks_never_overlap(ref):
    nets = {
        s: ipaddress.ip_network(js["kavlans"]["default"]["network"])
        for s, js in ref.sites.items()
        if "kavlans" in js
    }
    for (a, na), (b, nb) in itertools.combinations(nets.items(), 2):
        assert not na.overlaps(nb), (a, na, b, nb)
    # every node's primary address lies in its site's production network
    for r in ref.node_refs():
        assert ipaddress.ip_address(ref.primary_ip(r)) in nets[r.site], r.fqdn


def test_nics_queues_and_flags(ref):
    parasilo = ref.nodes["rennes"]["parasilo"]["parasilo-1"]["network_adapters"]
    assert [(a["device"], a.get("name")) for a in parasilo[:2]] == [("eth0", "eno1"), ("eth1", "eno2")]
    hercule = next(r for r in ref.node_refs("lyon") if r.cluster == "hercule")
    assert ref.primary_ip(hercule) is not None  # hercule's primary NIC is eth1
    assert ref.clusters["grenoble"]["drac"]["exotic"] is True
    assert "production" in ref.clusters["rennes"]["abacus1"]["queues"]
    assert "testing" in ref.clusters["strasbourg"]["ramstein"]["queues"]


def test_environments_are_the_testbed_names():
    names = environment_names()
    assert "almalinux9-min" in names and "debian13-min" in names
    assert "alma9-min" not in names and "debiab13-min" not in names


def test_sites_subset_jobs_and_deployments_on_real_clusters():
    with G5kEmulator(["lille", "louvain"], speed=0, backend="address", nodes_per_cluster=2) as emu:
        gk = emu.client()
        assert sorted(s.uid for s in gk.sites.list()) == ["lille", "louvain"]
        job = gk.sites["louvain"].jobs.create(
            {"resources": "{cluster='spirou'}/nodes=1", "command": "sleep 3600", "types": ["deploy"]}
        )
        lille = gk.sites["lille"].jobs.create({"resources": "nodes=1", "command": "sleep 3600"})
        emu.advance(10)
        job.refresh()
        lille.refresh()
        assert job.state == "running" and lille.state == "running"
        node = job.assigned_nodes[0]
        assert emu.node_address(node).startswith("172.16.208.")
        with pytest.raises(grid5000.exceptions.Grid5000CreateError, match="alma9-min"):
            gk.sites["louvain"].deployments.create({"nodes": [node], "environment": "alma9-min"})
        dep = gk.sites["louvain"].deployments.create(
            {"nodes": [node], "environment": "almalinux9-min", "key": "ssh-ed25519 AAAA x"}
        )
        emu.advance(60)
        dep.refresh()
        assert dep.status == "terminated" and dep.result[node]["state"] == "OK"
    with pytest.raises(ValueError, match="unknown Grid'5000 site"):
        G5kEmulator(["atlantis"], backend="address")
