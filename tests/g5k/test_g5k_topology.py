"""network_equipments in the emulator, the execo_g5k network look-ups, g5k_graph and treemap."""

from __future__ import annotations

import pytest

pytest.importorskip("networkx")

import networkx as nx  # noqa: E402

from enoslib import g5k  # noqa: E402
from enoslib.infra.enos_g5k.client import set_api  # noqa: E402


@pytest.fixture
def api(emu, client):
    set_api(client=client)
    return client


def test_network_equipments_through_python_grid5000(emu):
    gk = emu.client()
    backbone = {e.uid: e for e in gk.network_equipments.list()}
    assert "renater-rennes" in backbone and "renater-paris" in backbone
    ports = backbone["renater-rennes"].linecards[0]["ports"]
    assert {"uid": "gw-rennes", "kind": "router", "site_uid": "rennes"} in ports
    site = gk.sites["rennes"]
    [router] = [e for e in site.network_equipments.list() if e.kind == "router"]
    assert router.uid == "gw" and router.alias == ["gw-rennes"]
    assert site.network_equipments["gw-rennes"].uid == "gw"
    # every mounted node adapter is a port of the equipment the node document names
    plugged = {(p["uid"], p["port"], p["snmp_name"]) for lc in router.linecards for p in lc["ports"]
               if p["kind"] == "node"}
    for cluster in emu.ref.nodes["rennes"].values():
        for uid, node in cluster.items():
            for ad in node["network_adapters"]:
                if ad.get("mounted"):
                    assert ad["switch"] == "gw-rennes"
                    assert (uid, ad["device"], ad["switch_port"]) in plugged
    assert router.linecards[-1]["ports"][0]["uid"] == "renater-rennes"
    with pytest.raises(Exception, match="404"):
        site.network_equipments["nope"]


def test_network_lookups(api):
    assert g5k.get_site_network_equipments("nancy") == ["gw"]
    attrs = g5k.get_network_equipment_attributes("gw-nancy")
    assert attrs["kind"] == "router" and attrs["site"] == "nancy"
    assert g5k.get_network_equipment_site("gw-lyon") == "lyon"
    assert g5k.get_network_equipment_site("renater-lyon") is None
    assert g5k.get_host_network_equipments("grisou-1.nancy.grid5000.fr") == ["gw-nancy"]
    assert g5k.get_cluster_network_equipments("nova") == ["gw-lyon"]
    assert g5k.get_resource_attributes("sites/rennes/clusters/paravance")["uid"] == "paravance"
    assert g5k.filter_clusters(["paravance", "roazhon4", "grisou"], "default") == ["paravance", "grisou"]
    assert g5k.filter_clusters(["paravance", "roazhon4"], "all") == ["paravance", "roazhon4"]
    with pytest.raises(ValueError, match="no Grid'5000 network equipment 'sw-9'"):
        g5k.get_network_equipment_attributes("sw-9")


def test_g5k_graph_of_two_sites(api):
    gr = g5k.g5k_graph(["rennes", "nancy"])
    assert gr.get_sites() == ["nancy", "rennes"]
    assert "paravance" in gr.get_clusters() and gr.get_clusters("nancy") == ["graffiti", "grisou", "gros"]
    assert len(gr.get_hosts(cluster="grisou")) == 4
    host, data = gr.get_hosts(cluster="paravance")[0]
    assert host == "paravance-1" and data["kind"] == "node" and data["cores"] > 0
    assert gr.get_site_router("rennes")[0] == "gw.rennes" and gr.get_site_router("lyon") == (None, {})
    # the backbone keeps only what links the two sites
    path = nx.shortest_path(gr, "paravance-1", "grisou-1")
    assert [n for n in path if n.startswith("renater")] == [
        "renater-rennes", "renater-nantes", "renater-lyon", "renater-paris", "renater-nancy"]
    assert {n for n, _ in gr.get_backbone()} == set(p for p in path if p.startswith("renater"))
    assert all(d["latency"] > 0 for a, b, d in gr.edges(data=True) if a.startswith("renater") and b.startswith("renater"))
    # a host's mounted adapter is an active link, a mountable but unmounted one an inactive one
    links = {k: d for _, _, k, d in gr.edges("paravance-1", keys=True, data=True)}
    assert {d["active"] for d in links.values()} == {True, False}
    assert all(d["bandwidth"] == 10_000_000_000 for d in links.values())
    assert gr.get_host_neighbours("paravance-1")[:3] == ["parasilo-1", "parasilo-2", "parasilo-3"]
    assert "paravance-2" in gr.get_equip_hosts("gw.rennes")
    assert len(gr.get_host_adapters("paravance-1")) == 2


def test_g5k_graph_add_and_remove(api):
    gr = g5k.g5k_graph("nova-1.lyon.grid5000.fr")
    assert [n for n, _ in gr.get_hosts()] == ["nova-1"] and gr.get_sites() == ["lyon"]
    gr.add_cluster("pyxis")
    assert gr.get_clusters() == ["nova", "pyxis"]
    gr.rm_cluster("pyxis")
    assert gr.get_clusters() == ["nova"] and not [n for n in gr if n.startswith("gw-lc") and
                                                   not set(gr.neighbors(n)) - {"gw.lyon"}]
    gr.add_site("nancy")
    gr.add_backbone()
    assert gr.get_backbone()
    gr.rm_backbone()
    assert not gr.get_backbone()
    gr.rm_site("nancy")
    assert gr.get_sites() == ["lyon"] and not any(n.endswith(".nancy") for n in gr)
    gr.rm_host("nova-1")
    assert gr.get_hosts() == []


def test_treemap_draws_a_figure(api, tmp_path):
    gr = g5k.g5k_graph(["lyon", "nancy"])
    fig = g5k.treemap(gr, nodes_legend={"router": {"color": "#FF0000"}})
    fig.savefig(tmp_path / "full.png")
    compact = g5k.treemap(gr, compact=True)
    compact.savefig(tmp_path / "compact.png")
    labels = {t.get_text() for t in compact.axes[0].texts}
    assert "grisou\n(gw)" in labels and "renater-lyon" in labels and "grisou-1" not in labels
    assert (tmp_path / "full.png").stat().st_size > 10_000


def test_nodes_on_their_own_switch_get_a_switch_linked_to_the_router():
    from enoslib.emulators.g5k.network import site_equipments
    from enoslib.emulators.g5k.reference import make_dataset

    ref = make_dataset({"rennes": {"paravance": 3, "parasilo": 2}})
    for node in ref.nodes["rennes"]["parasilo"].values():
        node["network_adapters"][0]["switch"] = "parasilo-sw-1"  # as in the real reference
    eq = site_equipments(ref, "rennes")
    assert list(eq) == ["gw", "parasilo-sw-1"]
    sw = eq["parasilo-sw-1"]
    assert sw["kind"] == "switch" and [p["uid"] for p in sw["linecards"][0]["ports"]] == ["parasilo-1", "parasilo-2"]
    assert sw["linecards"][-1]["ports"][0]["uid"] == "gw"
    assert {"uid": "parasilo-sw-1", "kind": "switch"}.items() <= eq["gw"]["linecards"][-2]["ports"][0].items()


def test_g5k_graph_through_a_switch(private_cache):
    from enoslib.emulators.g5k import G5kEmulator
    from enoslib.emulators.g5k.reference import make_dataset
    from enoslib.infra.enos_g5k.client import G5kClient

    ref = make_dataset({"rennes": {"paravance": 2, "parasilo": 2}})
    for node in ref.nodes["rennes"]["parasilo"].values():
        node["network_adapters"][0]["switch"] = "parasilo-sw-1"
    for node in ref.nodes["rennes"]["parasilo"].values():
        for ad in node["network_adapters"][1:]:
            if "switch" in ad:
                ad["switch"] = "parasilo-sw-1"
    with G5kEmulator(ref, speed=0, backend="address") as emu:
        c = G5kClient(emu.uri, emu.username, emu.password)
        gr = g5k.g5k_graph("rennes", client=c)
        assert nx.shortest_path(gr, "parasilo-1", "paravance-1") == [
            "parasilo-1", "parasilo-sw-1-lc0.rennes", "parasilo-sw-1.rennes", "parasilo-sw-1-lc1.rennes",
            "gw-lc1.rennes", "gw.rennes", "gw-lc0.rennes", "paravance-1"]
        assert gr.get_host_neighbours("parasilo-1") == ["parasilo-2"]
        gr.rm_cluster("parasilo")
        assert not any(n.startswith("parasilo-sw-1") for n in gr)  # a switch left without hosts goes
        with pytest.raises(ValueError, match="neither a site, a cluster nor a host"):
            g5k.g5k_graph("nowhere", client=c)
