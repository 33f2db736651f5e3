import pytest

import enoslib as en
from enoslib.objects import DefaultNetwork, Host, IPAddress, NetDevice, Networks, Roles


def test_host_identity_and_vars():
    a = Host("10.0.0.1", alias="a", user="root", port=2222, keyfile="/k")
    assert a == Host("10.0.0.1", alias="a", user="root", port=2222, keyfile="/k")
    assert a != Host("10.0.0.1", alias="a", user="bob", port=2222, keyfile="/k")
    assert len({a, Host("10.0.0.1", alias="a", user="root", port=2222, keyfile="/k")}) == 1
    a.set_extra(role_id=3)
    assert a.get_extra() == {"role_id": 3}
    assert a.ansible_vars() == {
        "ansible_host": "10.0.0.1", "ansible_user": "root", "ansible_port": 2222,
        "ansible_ssh_private_key_file": "/k", "role_id": 3,
    }
    assert Host("h").alias == "h"
    with pytest.raises(AttributeError, match="identity"):
        a.address = "10.0.0.2"
    with pytest.raises(ValueError, match="non-empty address"):
        Host("")
    assert Host.from_dict(a.to_dict()) == a


def test_roles_ordered_set_operations():
    hosts = [Host(f"h{i}") for i in range(6)]
    roles = Roles(srv=hosts[:3], cli=hosts[2:5])
    assert [h.address for h in roles["srv"]] == ["h0", "h1", "h2"]
    assert roles["srv"][0] == hosts[0] and roles["srv"][-1] == hosts[2]
    assert list(roles["srv"] | roles["cli"]) == hosts[:5]
    assert list(roles["srv"] & roles["cli"]) == [hosts[2]]
    assert list(roles["srv"] - roles["cli"]) == hosts[:2]
    assert set(roles["srv"] ^ roles["cli"]) == {hosts[0], hosts[1], hosts[3], hosts[4]}
    assert list(roles.all()) == hosts[:5]
    roles.add_one(hosts[5], ["srv", "new"])
    assert roles["srv"][3] == hosts[5] and list(roles["new"]) == [hosts[5]]
    roles["srv"].add(hosts[0])  # already there: order unchanged
    assert roles["srv"][0] == hosts[0] and len(roles["srv"]) == 4
    assert roles.roles_of(hosts[2]) == ["srv", "cli"]
    # EnOSlib semantics: a missing role reads as empty and is not created by the read
    assert len(roles["nope"]) == 0 and "nope" not in roles
    merged = roles | Roles(srv=[Host("x")])
    assert len(merged["srv"]) == 5 and len(roles["srv"]) == 4
    assert roles["srv"][1:3] == {hosts[1], hosts[2]}


def test_roles_of_10000_hosts_is_fast():
    import time

    t = time.perf_counter()
    hosts = [Host(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}") for i in range(10_000)]
    roles = Roles()
    roles.extend("all", hosts)
    for i, h in enumerate(hosts):
        roles.add_one(h, f"g{i % 10}")
    assert len(roles.all()) == 10_000 and roles["g3"][0] == hosts[3]
    # generous bound: catches quadratic behaviour, not a benchmark (see benchmarks/)
    assert time.perf_counter() - t < 2


def test_networks_and_devices():
    net = DefaultNetwork("10.0.0.0/24", gateway="10.0.0.254", ip_start="10.0.0.10", ip_end="10.0.0.12",
                         mac_start="00:16:3e:00:00:01", mac_end="00:16:3e:00:00:02")
    assert list(net.free_ips) == ["10.0.0.10", "10.0.0.11", "10.0.0.12"]
    assert list(net.free_macs) == ["00:16:3e:00:00:01", "00:16:3e:00:00:02"]
    assert "10.0.0.3" in net and "10.0.1.3" not in net
    with pytest.raises(ValueError, match="outside"):
        DefaultNetwork("10.0.0.0/24", ip_start="10.0.1.1", ip_end="10.0.1.2")
    with pytest.raises(ValueError, match="invalid network"):
        DefaultNetwork("nope")
    big = DefaultNetwork("10.0.0.0/8", ip_start="10.0.0.1", ip_end="10.255.255.254")
    assert next(iter(big.free_ips)) == "10.0.0.1"  # lazy
    networks = Networks(lan=[net], all=[net])
    assert len(networks.all()) == 1
    dev = NetDevice("eth0", frozenset({IPAddress("10.0.0.3/24", net), IPAddress("192.168.0.1/24")}))
    h = Host("10.0.0.3", net_devices=[dev])
    assert h.filter_addresses([net]) == ["10.0.0.3/24"]
    assert h.filter_interfaces([net]) == ["eth0"]
    assert IPAddress("10.0.0.3") == IPAddress("10.0.0.3/32")


def test_displays_render():
    from rich.console import Console

    roles = Roles(srv=[Host("a<b>", user="u")])
    networks = Networks(lan=[DefaultNetwork("10.0.0.0/24")])
    html = roles["srv"]._repr_html_() + roles._repr_html_() + networks._repr_html_()
    assert "a&lt;b&gt;" in html and "<b>" not in html.replace("<b>enoslib", "")
    console = Console(record=True, width=120)
    for obj in (roles, networks, roles["srv"], roles["srv"][0], networks["lan"][0]):
        console.print(obj)
    text = console.export_text()
    assert "a<b>" in text and "10.0.0.0/24" in text


def test_facade_names():
    assert en.Roles is Roles and en.Host is Host
    assert {"run_command", "Local", "G5kConf", "Providers", "NetemHTB"} <= set(dir(en))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        en.Nope
