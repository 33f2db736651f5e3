"""Pure data: node names across networks, NICs, free addresses; and what importing costs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from enoslib.infra.enos_g5k import G5kHost, G5kProdNetwork, G5kSubnetNetwork, G5kTunnel, G5kVlanNetwork
from enoslib.infra.enos_g5k.mapping import NotEnoughNodesError, nics_of, pick_nodes
from enoslib.infra.enos_g5k.objects import canonical_name, nic_name, subnet_mac

NODE = "paravance-1.rennes.grid5000.fr"
IPV6 = {"prefix": "2001:660:4406:700::/56", "site_index": 7}


def test_names_across_networks():
    prod = G5kProdNetwork(["prod"], "prod", "rennes", cidr="172.16.96.0/20", ipv6=IPV6)
    vlan = G5kVlanNetwork(["exp"], "v", "rennes", "4", cidr="10.24.0.0/18", gateway="10.24.63.254", ipv6=IPV6)
    assert prod.name_of(NODE) == NODE
    assert vlan.name_of(NODE) == "paravance-1-kavlan-4.rennes.grid5000.fr"
    assert vlan.name_of(NODE, "eth1") == "paravance-1-eth1-kavlan-4.rennes.grid5000.fr"
    assert vlan.translate6([NODE]) == [(NODE, "paravance-1-kavlan-4-ipv6.rennes.grid5000.fr")]
    assert canonical_name("paravance-1-eth1-kavlan-4.rennes.grid5000.fr") == NODE
    assert vlan.name_of(vlan.name_of(NODE)) == vlan.name_of(NODE)
    assert nic_name(NODE, ipv6=True) == "paravance-1-ipv6.rennes.grid5000.fr"
    assert prod.cidr6 == "2001:660:4406:700::/64" and vlan.cidr6 == "2001:660:4406:783::/64"
    legacy = G5kVlanNetwork(["x"], "v", "rennes", "1", vlan_type="kavlan-local", cidr="192.168.192.0/20",
                            ipv6={"site_index": 16})
    assert legacy.cidr6 == "2001:660:4406:1080::/64"
    with pytest.raises(ValueError):
        canonical_name("not-a-node")


def test_vlan_free_addresses_stay_away_from_nodes():
    routed = G5kVlanNetwork(["x"], "v", "rennes", "4", cidr="10.24.0.0/18", gateway="10.24.63.254", ipv6=IPV6)
    first, last = routed.free_range()
    assert (first, last) == ("10.24.26.0", "10.24.61.255")
    local = G5kVlanNetwork(["x"], "l", "rennes", "2", vlan_type="kavlan-local", cidr="192.168.208.0/20")
    assert local.free_range() == ("192.168.212.0", "192.168.214.255")
    _, (v4, v6) = routed.to_enos()
    assert v4.gateway == "10.24.63.254" and v6.gateway is None and next(iter(v4.free_ips)) == "10.24.26.0"


def test_subnets_lend_ips_and_their_macs():
    sub = G5kSubnetNetwork(["vms"], "s", "nancy", ["10.144.4.0/22", "10.144.0.0/22"], gateway="10.147.255.254")
    assert sub.subnets == ["10.144.0.0/22", "10.144.4.0/22"]
    _, nets = sub.to_enos()
    assert [n.cidr for n in nets] == sub.subnets and nets[0].gateway == "10.147.255.254"
    pairs = list(sub.ip_mac_pairs())
    assert len(pairs) == 2044 and pairs[0] == ("10.144.0.1", "00:16:3e:90:00:01")
    assert list(nets[1].free_macs)[-1] == subnet_mac("10.144.7.254") == "00:16:3e:90:07:fe"


def test_host_nics_and_generic_host():
    vlan = G5kVlanNetwork(["exp"], "v", "rennes", "4")
    local = G5kVlanNetwork(["priv"], "l", "rennes", "2", vlan_type="kavlan-local")
    node = {"network_adapters": [
        {"device": "eth1", "name": "eno2", "interface": "Ethernet", "mountable": True, "mounted": False},
        {"device": "bmc", "interface": "Ethernet", "management": True, "mountable": False},
        {"device": "eth0", "name": "eno1", "interface": "Ethernet", "mountable": True, "mounted": True},
        {"device": "ib0", "name": "ibs1", "interface": "InfiniBand", "mountable": True}]}
    assert nics_of(node) == [("eth0", "eno1"), ("eth1", "eno2")]
    host = G5kHost(NODE, ["a"], vlan, [local], nics_of(node))
    assert host.ssh_address == "paravance-1-kavlan-4.rennes.grid5000.fr"
    assert host.vlan_requests() == [("rennes", "2", "paravance-1-eth1.rennes.grid5000.fr")]
    generic = host.to_host(gateway="access.grid5000.fr", gateway_user="alice")
    assert generic.address == host.ssh_address and generic.user == "root"
    assert generic.extra["gateway"] == "access.grid5000.fr" and generic.extra["g5k_networks"] == {"v": "eno1",
                                                                                                 "l": "eno2"}
    with pytest.raises(ValueError, match="spare NIC"):
        G5kHost(NODE, ["a"], vlan, [local, vlan], nics_of(node))


def test_node_picking_is_deterministic_and_honours_min():
    specs = [{"cluster": "paravance", "nodes": 1, "min": 1, "roles": ["s"],
              "servers": ["paravance-5.rennes.grid5000.fr"]},
             {"cluster": "paravance", "nodes": 3, "min": 1, "roles": ["a"]},
             {"cluster": "paravance", "nodes": 2, "min": 2, "roles": ["b"]}]
    nodes = [f"paravance-{i}.rennes.grid5000.fr" for i in (10, 2, 5, 1, 3)]
    sites = {"paravance": "rennes"}
    picked = pick_nodes(specs, {"rennes": sorted(nodes, key=lambda n: int(n.split("-")[1].split(".")[0]))}, sites)
    assert picked[0] == ["paravance-5.rennes.grid5000.fr"]
    # b's min (2) is served before a is filled up: a gets 2 of its 3
    assert len(picked[2]) == 2 and len(picked[1]) == 2
    with pytest.raises(NotEnoughNodesError, match=r"machines\[2\]"):
        pick_nodes(specs, {"rennes": nodes[:3]}, sites)


def test_tunnel_without_gateway_is_direct():
    with G5kTunnel("paravance-1.rennes.grid5000.fr", 80, gateway=None) as (address, port, forwarder):
        assert (address, port, forwarder) == ("paravance-1.rennes.grid5000.fr", 80, None)


def test_importing_loads_no_client_library():
    code = ("import sys, enoslib.infra.enos_g5k, enoslib.g5k; "
            "print(sorted(m for m in ('grid5000', 'requests', 'sshtunnel', 'paramiko') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_missing_client_library_names_the_extra(monkeypatch):
    from enoslib.errors import EnosMissingExtraError
    from enoslib.infra.enos_g5k.client import G5kClient

    monkeypatch.setitem(sys.modules, "grid5000", None)
    with pytest.raises(EnosMissingExtraError) as err:
        G5kClient("http://127.0.0.1:1/stable")
    assert err.value.extra == "g5k" and "enoslib[g5k]" in str(err.value)
