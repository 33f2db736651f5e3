"""The task layer: environments on disk (JSON), enostask, the command line, bad files."""

from __future__ import annotations

import os

import pytest

import enoslib as en
from enoslib.infra.enos_static import Static, StaticConf
from enoslib.objects import DefaultNetwork, Host, IPAddress, NetDevice, Networks, Roles
from enoslib.task import Environment, cli, enostask, get_or_create_env


def _roles_networks():
    lan = DefaultNetwork("10.0.0.0/24", gateway="10.0.0.1", ip_start="10.0.0.100", ip_end="10.0.0.120", name="lan")
    dev = NetDevice("eth0", frozenset({IPAddress("10.0.0.2/24", lan)}), mac="02:00:00:00:00:02")
    server = Host("10.0.0.2", alias="server-1", user="root", port=2222, keyfile="/k",
                  extra={"ansible_host_key_checking": False}, net_devices=[dev])
    client = Host("10.0.0.3", alias="client-1")
    roles = Roles({"server": [server], "client": [client], "all": [server, client]})
    return roles, Networks({"lan": [lan]})


def test_roles_networks_hosts_round_trip_through_json(tmp_path):
    roles, networks = _roles_networks()
    env = Environment(tmp_path / "exp")
    env["roles"], env["networks"], env["params"] = roles, networks, {"seed": 3, "sizes": (1, 2)}
    env.dump()
    text = (tmp_path / "exp" / "env.json").read_text()
    assert "pickle" not in text and '"alias": "server-1"' in text  # human-readable
    back = Environment.load(tmp_path / "exp")
    assert back["roles"] == roles and back["networks"] == networks
    assert list(back["roles"]["all"]) == list(roles["all"])  # order kept
    server = back["roles"]["server"][0]
    assert server is back["roles"]["all"][0]  # one object per host, whatever its roles
    assert (server.user, server.port, server.keyfile, server.extra) == ("root", 2222, "/k",
                                                                         {"ansible_host_key_checking": False})
    lan = back["networks"]["lan"][0]
    assert (lan.gateway, list(lan.free_ips)[:2], lan.name) == ("10.0.0.1", ["10.0.0.100", "10.0.0.101"], "lan")
    assert server.filter_interfaces(back["networks"]["lan"]) == ["eth0"]
    assert next(iter(next(iter(server.net_devices)).addresses)).network is lan
    assert back["params"] == {"seed": 3, "sizes": [1, 2]}
    assert back["resultdir"] == tmp_path / "exp"


def test_provider_and_configuration_come_back_as_objects(tmp_path):
    conf = StaticConf().add_machine(roles=["srv"], address="10.0.0.1", alias="srv-1")
    env = Environment(tmp_path)
    env["provider"], env["conf"] = Static(conf, name="mine"), conf
    env.dump()
    back = Environment.load(tmp_path)
    assert isinstance(back["provider"], Static) and back["provider"].name == "mine"
    assert back["conf"] == conf and back["provider"].provider_conf == conf.finalize()
    roles, _ = back["provider"].init()
    assert [h.alias for h in roles["srv"]] == ["srv-1"]


def test_a_value_that_cannot_be_stored_is_named(tmp_path):
    env = Environment(tmp_path)
    env["results"] = {"ok": object()}
    with pytest.raises(TypeError, match=r"\$\.results\.ok: cannot store a object"):
        env.dump()
    assert not (tmp_path / "env.json").exists()


@pytest.mark.parametrize("content, message", [
    ("{not json", "not JSON"),
    ('{"format": "other", "env": {}}', "not an enoslib environment"),
    ('{"format": "enoslib-env/1", "env": {"h": {"$enoslib": "Host", "class": "os:system", "address": "a"}}}',
     r"\$\.h: refusing to load class 'os:system'"),
    ('{"format": "enoslib-env/1", "env": {"r": {"$enoslib": "Roles", "roles": {"s": [{"$enoslib": "Host"}]}}}}',
     r"\$\.r\.roles\.s\[0\]: invalid host"),
])
def test_bad_files_are_refused_with_where(tmp_path, content, message):
    (tmp_path / "env.json").write_text(content)
    with pytest.raises(ValueError, match=message) as info:
        Environment.load(tmp_path)
    assert str(tmp_path / "env.json") in str(info.value)


def test_new_task_makes_a_folder_and_current_points_at_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    @enostask(new=True)
    def up(env=None):
        env["n"] = 1
        return env["resultdir"]

    @enostask()
    def bump(env=None):
        env["n"] += 1
        return env["n"]

    first = up()
    assert first.parent == tmp_path and first.name.startswith("enos_")
    assert os.readlink(tmp_path / "current") == first.name
    assert bump() == 2 and bump() == 3  # ./current by default
    second = up()
    assert second != first and os.readlink(tmp_path / "current") == second.name
    assert bump(env=str(first)) == 4  # --env: an older experiment
    assert Environment.load(second)["n"] == 1
    assert get_or_create_env(False, first)["n"] == 4


def test_the_environment_is_saved_when_the_task_fails(tmp_path):
    @enostask(new=True)
    def up(env=None):
        env["provider"] = "reserved"
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        up(env=tmp_path / "exp")
    assert Environment.load(tmp_path / "exp")["provider"] == "reserved"


def test_tasks_compose_into_a_command_line(tmp_path, capsys):
    @enostask(new=True)
    def deploy(force: bool = False, count: int = 2, label: str = "x", env=None):
        """Deploy things."""
        env["args"] = [force, count, label]

    @enostask()
    def show_args(env=None):
        """Show what deploy got."""
        return env["args"]

    folder = str(tmp_path / "exp")
    cli(deploy, show_args, argv=["deploy", "--env", folder, "--force", "--count", "5"])
    assert cli(deploy, show_args, argv=["show-args", "--env", folder]) == [True, 5, "x"]
    with pytest.raises(SystemExit):
        cli(deploy, show_args, argv=["deploy", "--count", "many"])
    assert "invalid int value" in capsys.readouterr().err


def test_facade_names():
    assert en.enostask is enostask and en.Environment is Environment


def test_a_testbeds_own_network_classes_round_trip(tmp_path):
    from enoslib.infra.enos_g5k.objects import G5kEnosProd4Network, G5kEnosVlan4Network

    vlan = G5kEnosVlan4Network("10.24.0.0/18", "4", gateway="10.24.63.254", site="rennes")
    networks = Networks({"lan": [vlan, G5kEnosProd4Network("172.16.96.0/20", "172.16.111.254", site="rennes")]})
    env = Environment(tmp_path)
    env["networks"] = networks
    env.dump()
    back = Environment.load(tmp_path)["networks"]
    assert back == networks
    assert [type(n) for n in back["lan"]] == [G5kEnosVlan4Network, G5kEnosProd4Network]
    assert (back["lan"][0].vlan_id, back["lan"][0].site) == ("4", "rennes")
    assert list(back["lan"][0].free_ips)[:1] == list(vlan.free_ips)[:1]
