"""Reference API, status, auth and error shapes of the Grid'5000 emulator, via python-grid5000."""

from __future__ import annotations

import json

import pytest

grid5000 = pytest.importorskip("grid5000")

from enoslib.emulators.g5k import G5kEmulator, ReferenceData, legacy_dataset, make_dataset


@pytest.fixture(scope="module")
def emu():
    with G5kEmulator(legacy_dataset(4), speed=0, backend="address", nodes_per_cluster=4) as e:
        yield e


@pytest.fixture()
def gk(emu):
    return emu.client()


def test_client_points_at_emulator(emu, gk):
    assert gk._uri == emu.uri
    assert emu.uri.startswith("http://127.0.0.1:") and emu.uri.endswith("/stable")


def test_sites_and_site_fields(gk):
    assert [s.uid for s in gk.sites.list()] == ["rennes", "nancy", "lyon"]
    rennes = gk.sites["rennes"]
    assert rennes.kavlans["default"]["network"] == "172.16.96.0/20"
    assert {"1", "4", "16"} <= set(rennes.kavlans)
    assert rennes.g5ksubnet["network"] == "10.156.0.0/14"
    assert isinstance(rennes.ipv6["site_index"], int)
    assert rennes.servers["dns"].network_adapters["default"]["ip"]


def test_clusters_hide_production_unless_asked(gk):
    site = gk.sites["rennes"]
    assert [c.uid for c in site.clusters.list()] == ["paravance", "parasilo"]
    assert "roazhon4" in [c.uid for c in site.clusters.list(queues="all")]
    assert site.clusters["roazhon4"].queues == ["production"]
    assert gk.sites["lyon"].clusters["pyxis"].exotic is True


def test_nodes_shape(gk):
    cluster = gk.sites["nancy"].clusters["grisou"]
    nodes = cluster.nodes.list()
    assert [n.uid for n in nodes] == ["grisou-1", "grisou-2", "grisou-3", "grisou-4"]
    node = cluster.nodes["grisou-2"]
    assert node.architecture["nb_cores"] == 16 and node.architecture["platform_type"] == "x86_64"
    assert node.main_memory["ram_size"] == 128 * 1024**3
    assert node.processor["model"] and node.nodeset == "grisou" and node.exotic is False
    nics = [
        a
        for a in node.network_adapters
        if a["mountable"] and a["interface"] == "Ethernet" and not a["management"]
    ]
    assert [(a["device"], a["name"]) for a in nics][:2] == [
        ("eth0", "enp4s0f0"),
        ("eth1", "enp4s0f1"),
    ]
    assert len(nics) == 4 and all(a["kavlan"] for a in nics)
    assert any(a["management"] for a in node.network_adapters)
    assert node.network_adapters[0]["network_address"] == "grisou-2.nancy.grid5000.fr"
    assert node.kavlan["eth0"]["kavlan-4"].startswith("10.16.")


def test_status_shapes(gk):
    status = gk.sites["rennes"].clusters["paravance"].status.list()
    assert set(status.nodes) == {f"paravance-{i}.rennes.grid5000.fr" for i in range(1, 5)}
    entry = status.nodes["paravance-1.rennes.grid5000.fr"]
    assert entry["hard"] == "alive" and entry["soft"] == "free" and entry["reservations"] == []
    site_status = gk.sites["rennes"].status.list()
    assert "4" in site_status.vlans and site_status.vlans["4"]["type"] == "kavlan"
    assert "10.156.0.0/22" in site_status.subnets
    assert len(site_status.subnets) == 256


def test_root_versions_and_deep_dump(gk):
    root = gk.root.get()
    assert root.uid == "grid5000" and root.version
    assert root.versions.list()[0].uid == root.version
    assert gk.sites["rennes"].versions.list()[0].uid == root.version
    dump = gk.dump_ref_api()
    offline = grid5000.Grid5000Offline(dump)
    assert offline.sites["lyon"].clusters["nova"].nodes["nova-3"].uid == "nova-3"
    again = ReferenceData.from_snapshot(dump)
    assert again.nodes["lyon"]["nova"]["nova-3"]["uid"] == "nova-3"


def test_unknown_resources_are_404_with_message(gk):
    with pytest.raises(grid5000.Grid5000GetError) as err:
        gk.sites["atlantis"]
    assert err.value.response_code == 404 and "atlantis" in err.value.error_message
    with pytest.raises(grid5000.Grid5000GetError) as err:
        gk.sites["rennes"].clusters["nope"]
    assert err.value.response_code == 404


def test_every_json_answer_says_application_json(gk):
    for path in ("/sites", "/sites/rennes/status", "/sites/rennes/clusters/paravance/nodes"):
        response = gk.http_request("get", path)  # the client's raw response
        assert response.headers["Content-Type"] == "application/json"
        json.loads(response.content)
    with pytest.raises(grid5000.Grid5000HttpError) as err:
        gk.http_request("get", "/sites/nowhere")
    body = json.loads(err.value.response_body)
    assert body["code"] == 404 and body["title"] == "Not Found" and "nowhere" in body["message"]


def test_bad_credentials_and_anonymous_get_401(emu):
    with pytest.raises(grid5000.Grid5000AuthenticationError):
        emu.client(password="wrong").sites.list()
    anonymous = grid5000.Grid5000(uri=emu.uri)
    with pytest.raises(grid5000.Grid5000AuthenticationError):
        anonymous.sites.list()


def test_anonymous_reads_allowed_writes_forbidden_when_enabled():
    with G5kEmulator(
        legacy_dataset(None, sites=["lyon"]),
        speed=0,
        backend="address",
        allow_anonymous=True,
        users={"bob": "pw", "carol": "pw2"},
    ) as emu:
        anonymous = grid5000.Grid5000(uri=emu.uri)
        assert [s.uid for s in anonymous.sites.list()] == ["lyon"]
        with pytest.raises(grid5000.Grid5000CreateError) as err:
            anonymous.sites["lyon"].jobs.create({"command": "sleep 1"})
        assert err.value.response_code == 403
        assert emu.username == "bob" and emu.client("carol").sites["lyon"].uid == "lyon"


def test_client_yaml_round_trip(emu, tmp_path):
    path = emu.write_client_config(tmp_path / "g5k.yaml")
    client = grid5000.Grid5000.from_yaml(str(path))
    assert client._uri == emu.uri  # from_yaml falls back to the real API silently otherwise
    assert client.sites["rennes"].uid == "rennes"


def test_dataset_generator_and_snapshot_file(tmp_path):
    ref = make_dataset({"rennes": {"paravance": 3}, "sophia": {"uvb": 2}})
    assert list(ref.nodes["sophia"]["uvb"]) == ["uvb-1", "uvb-2"]
    assert ref.resolve("uvb-2-kavlan-4.sophia.grid5000.fr")[2] == "4"
    ref.save(tmp_path / "ref.json")
    with G5kEmulator(str(tmp_path / "ref.json"), speed=0, backend="address") as emu:
        gk = emu.client()
        assert [s.uid for s in gk.sites.list()] == ["rennes", "sophia"]
        assert len(gk.sites["rennes"].clusters["paravance"].nodes.list()) == 3
    full = legacy_dataset()
    assert len(full.nodes["rennes"]["paravance"]) == 72
    assert (
        full.nodes["rennes"]["paravance"]["paravance-10"]["network_adapters"][0]["ip"]
        != full.nodes["rennes"]["paravance"]["paravance-1"]["network_adapters"][0]["ip"]
    )
