"""EnOSlib's documented network-emulation API, used as EnOSlib users write it.

Written from EnOSlib's documentation (the "Network Emulation" API reference: module paths,
class and field names, signatures, defaults), organised by documented class. Unit tests
check what each constraint stands for (its ``tc`` commands); the ``root`` tests run
EnOSlib-style scripts unchanged on the Local provider's namespace hosts. This machine's
kernel may lack ``sch_netem``: there the default engine (``auto``) picks the userspace
one, so measured latencies are checked loosely.
"""

import dataclasses
import inspect
import os
import re
import shutil
import socket
import subprocess
import warnings

import pytest

import enoslib as en
from enoslib.errors import EnosConfigError, EnosError
from enoslib.objects import DefaultNetwork, Host, IPAddress, NetDevice, Roles
from enoslib.service.emul.htb import AccurateNetemHTB, HTBConstraint, HTBSource, NetemHTB, netem_htb
from enoslib.service.emul.netem import Netem, NetemInConstraint, NetemInOutSource, NetemOutConstraint, netem

NET = DefaultNetwork("10.9.0.0/24")


def host(name, ip, device="eth0"):
    return Host(ip, alias=name, net_devices=[NetDevice(device, frozenset({IPAddress(f"{ip}/24", NET)}))])


def fields(cls):
    return [(f.name, f.default if f.default is not dataclasses.MISSING else "required") for f in dataclasses.fields(cls)]


def params(func):
    return list(inspect.signature(func).parameters)


def sh_ok(commands):
    return subprocess.run(["sh", "-n", "-c", "\n".join(commands)], check=False).returncode == 0


# -- module paths ------------------------------------------------------------------------
def test_documented_module_paths_are_one_implementation():
    import enoslib.service as service
    import enoslib.service.emul.htb as htb
    import enoslib.service.emul.netem as emul_netem
    import enoslib.service.netem as old_path
    import enoslib.services.netem as impl

    classes = ["Netem", "NetemHTB", "AccurateNetemHTB", "NetemInConstraint", "NetemOutConstraint",
               "NetemInOutSource", "HTBConstraint", "HTBSource"]
    for name in [*classes, "netem", "netem_htb"]:
        obj = getattr(impl, name)
        assert getattr(en, name) is obj and getattr(old_path, name) is obj
        assert getattr(emul_netem if hasattr(emul_netem, name) else htb, name) is obj
    for name in classes:  # enoslib.service.netem is a module there, as in EnOSlib
        assert getattr(service, name) is getattr(impl, name)
    assert htb.DEFAULT_RATE == "10gbit" and htb.DEFAULT_LOSS is None


# -- NetemOutConstraint / NetemInConstraint ----------------------------------------------
class TestNetemOutConstraint:
    def test_fields_and_value_semantics(self):
        assert fields(NetemOutConstraint) == [("device", "required"), ("options", "required")]
        c = NetemOutConstraint("eth0", "delay 10ms")
        assert c == NetemOutConstraint(device="eth0", options="delay 10ms")
        assert len({c, NetemOutConstraint("eth0", "delay 10ms")}) == 1
        with pytest.raises(dataclasses.FrozenInstanceError):
            c.device = "eth1"

    def test_commands(self):
        c = NetemOutConstraint("eth0", "delay 10ms 2ms loss 1%")
        assert c.add_commands("ifb0") == ["tc qdisc add dev eth0 root netem delay 10ms 2ms loss 1%"]
        assert c.commands("ifb0") == []
        assert "tc qdisc del dev eth0 root 2>/dev/null || true" in c.remove_commands("ifb0")
        assert sh_ok(c.remove_commands("ifb0") + c.add_commands("ifb0"))

    def test_bad_options_are_refused_at_construction(self):
        for bad in ("", "delay 10", "delay 10ms; reboot", "drop 1%", "loss 1"):
            with pytest.raises(EnosConfigError) as info:
                NetemOutConstraint("eth0", bad)
            assert str(info.value)
        with pytest.raises(EnosConfigError, match="device name"):
            NetemOutConstraint("eth 0", "delay 1ms")


class TestNetemInConstraint:
    def test_is_an_out_constraint_of_its_own_kind(self):
        assert fields(NetemInConstraint) == [("device", "required"), ("options", "required")]
        assert issubclass(NetemInConstraint, NetemOutConstraint)
        assert NetemInConstraint("eth0", "delay 1ms") != NetemOutConstraint("eth0", "delay 1ms")

    def test_commands_go_through_the_ifb_device(self):
        c = NetemInConstraint("eth0", "delay 10ms")
        add, cmds = c.add_commands("ifb0"), c.commands("ifb0")
        assert add == ["ip link add ifb0 type ifb", "ip link set dev ifb0 up",
                       "tc qdisc add dev eth0 handle ffff: ingress"]
        assert cmds[0].endswith("action mirred egress redirect dev ifb0")
        assert cmds[1] == "tc qdisc add dev ifb0 root netem delay 10ms"
        assert "ip link del ifb0 2>/dev/null || true" in c.remove_commands("ifb0")


# -- NetemInOutSource ----------------------------------------------------------------------
class TestNetemInOutSource:
    def test_fields_and_defaults(self):
        assert [f for f, _ in fields(NetemInOutSource)] == ["host", "constraints"]
        a = host("a", "10.9.0.2")
        assert NetemInOutSource(a).constraints == set()
        assert NetemInOutSource(a) == NetemInOutSource(host=a, constraints=set())

    def test_a_constraint_replaces_the_one_of_same_device_and_direction(self):
        s = NetemInOutSource(host("a", "10.9.0.2"))
        s.add_constraints([NetemOutConstraint("eth0", "delay 1ms")])
        s.add_constraints([NetemOutConstraint("eth0", "delay 2ms"), NetemInConstraint("eth0", "delay 3ms"),
                           NetemOutConstraint("eth1", "delay 4ms")])
        assert s.outbounds == [NetemOutConstraint("eth0", "delay 2ms"), NetemOutConstraint("eth1", "delay 4ms")]
        assert s.inbounds == [NetemInConstraint("eth0", "delay 3ms")]
        assert s.equal(NetemOutConstraint("eth0", "delay 9ms"), NetemOutConstraint("eth0", "delay 1ms"))

    def test_all_commands_remove_then_add_then_commands(self):
        s = NetemInOutSource(host("a", "10.9.0.2"), {NetemOutConstraint("eth0", "delay 5ms"),
                                                     NetemInConstraint("eth0", "delay 5ms")})
        remove, add, cmds = s.all_commands()
        assert remove == s.remove_commands() and add == s.add_commands() and cmds == s.commands()
        assert len(remove) == len(set(remove))  # one reset per device
        assert "tc qdisc add dev eth0 root netem delay 5ms" in add
        assert "tc qdisc add dev ifb-eth0 root netem delay 5ms" in cmds
        assert sh_ok(remove + add + cmds)


# -- HTBConstraint / HTBSource ---------------------------------------------------------------
class TestHTBConstraint:
    def test_fields_and_defaults(self):
        assert fields(HTBConstraint) == [("device", "required"), ("delay", "required"), ("target", "required"),
                                         ("rate", "10gbit"), ("loss", None)]
        c = HTBConstraint("eth0", "10ms", "10.9.0.3")
        assert (c.rate, c.loss) == ("10gbit", None)
        assert c == HTBConstraint(device="eth0", delay="10ms", target="10.9.0.3", rate="10gbit")
        assert hash(c) == hash(HTBConstraint("eth0", "10ms", "10.9.0.3"))

    def test_commands(self):
        c = HTBConstraint("eth0", "10ms", "10.9.0.3", rate="1gbit", loss="1%")
        assert c.add_commands() == ["tc qdisc add dev eth0 root handle 1: htb default 1",
                                    "tc class add dev eth0 parent 1: classid 1:1 htb rate 100gbit"]
        assert c.commands(0) == [
            "tc class add dev eth0 parent 1: classid 1:2 htb rate 1gbit ceil 1gbit",
            "tc qdisc add dev eth0 parent 1:2 handle 12: netem delay 10ms loss 1%",
            "tc filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst 10.9.0.3/32 flowid 1:2",
        ]
        v6 = HTBConstraint("eth0", "1ms", "fd00::3").commands(3)
        assert "classid 1:5" in v6[0] and "protocol ipv6" in v6[2] and "match ip6 dst fd00::3/128" in v6[2]

    def test_bad_values_name_the_field(self):
        for kwargs, field in (({"rate": "fast"}, "rate"), ({"loss": "1"}, "loss"), ({"delay": "10"}, "delay"),
                              ({"target": "10.0.0.1; reboot"}, "target")):
            args = {"device": "eth0", "delay": "1ms", "target": "10.9.0.3", **kwargs}
            with pytest.raises(EnosConfigError, match=field):
                HTBConstraint(**args)


class TestHTBSource:
    def test_fields_and_add_constraint(self):
        assert [f for f, _ in fields(HTBSource)] == ["host", "constraints"]
        s = HTBSource(host("a", "10.9.0.2"))
        s.add_constraint("eth0", "10ms", "10.9.0.3")
        s.add_constraint(delay="20ms", device="eth0", target="10.9.0.3", rate="1gbit")  # same device+target
        s.add_constraint("eth0", "5ms", "10.9.0.4")
        assert s.constraints == {HTBConstraint("eth0", "20ms", "10.9.0.3", "1gbit"),
                                 HTBConstraint("eth0", "5ms", "10.9.0.4")}
        assert HTBSource.equal(HTBConstraint("eth0", "1ms", "10.9.0.3"), HTBConstraint("eth0", "9ms", "10.9.0.3"))
        assert not HTBSource.equal(HTBConstraint("eth0", "1ms", "10.9.0.3"), HTBConstraint("eth1", "1ms", "10.9.0.3"))

    def test_all_commands_one_tree_per_device(self):
        s = HTBSource(host("a", "10.9.0.2")).add_constraints(
            [HTBConstraint("eth0", "5ms", "10.9.0.4"), HTBConstraint("eth0", "20ms", "10.9.0.3"),
             HTBConstraint("eth1", "1ms", "10.8.0.3")])
        remove, add, cmds = s.all_commands()
        assert [c for c in add if "root handle 1: htb" in c] == [
            "tc qdisc add dev eth0 root handle 1: htb default 1", "tc qdisc add dev eth1 root handle 1: htb default 1"]
        # class ids follow the targets' order on each device, whatever the set's order
        assert "tc qdisc add dev eth0 parent 1:2 handle 12: netem delay 20ms" in cmds
        assert "tc qdisc add dev eth0 parent 1:3 handle 13: netem delay 5ms" in cmds
        assert "tc qdisc add dev eth1 parent 1:2 handle 12: netem delay 1ms" in cmds
        assert sh_ok(remove + add + cmds)


# -- Netem ---------------------------------------------------------------------------------
class TestNetem:
    def test_signatures(self):
        assert params(Netem.add_constraints) == ["self", "options", "hosts", "symmetric", "networks", "symetric"]
        assert params(Netem.validate)[:3] == ["self", "networks", "output_dir"]
        assert params(Netem.deploy)[:2] == ["self", "chunk_size"]
        assert callable(Netem().backup)

    def test_add_constraints_builds_sources(self):
        a, b = host("a", "10.9.0.2"), host("b", "10.9.0.3")
        netem = Netem().add_constraints("delay 10ms", hosts=[a, b], symmetric=True)
        assert set(netem.sources) == {a, b}
        assert netem.sources[a].constraints == {NetemOutConstraint("eth0", "delay 10ms"),
                                                NetemInConstraint("eth0", "delay 10ms")}
        # positional, as EnOSlib documents: options, hosts, symmetric, networks
        netem.add_constraints("delay 20ms", [a], False, [NET])
        assert netem.sources[a].outbounds == [NetemOutConstraint("eth0", "delay 20ms")]
        script = netem.scripts(engines={"a": "tc", "b": "tc"})[a]
        assert "tc qdisc add dev eth0 root netem delay 20ms" in script

    def test_symetric_spelling_still_works_with_a_warning(self):
        a = host("a", "10.9.0.2")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            netem = Netem().add_constraints("delay 1ms", [a], symetric=True)
        assert netem.sources[a].inbounds and any("symmetric" in str(w.message) for w in caught)


# -- NetemHTB / AccurateNetemHTB -------------------------------------------------------------
class TestNetemHTB:
    def test_signatures(self):
        assert params(NetemHTB.add_constraints) == ["self", "src", "dest", "delay", "rate", "loss", "networks",
                                                    "symmetric", "symetric"]
        assert params(NetemHTB.from_dict)[:3] == ["network_constraints", "roles", "networks"]
        assert issubclass(AccurateNetemHTB, NetemHTB)
        assert "networks" in params(NetemHTB.validate) and "output_dir" in params(NetemHTB.validate)

    def test_add_constraints_positional_and_symmetric(self):
        a, b = host("a", "10.9.0.2"), host("b", "10.9.0.3")
        netem = NetemHTB().add_constraints([a], [b], "10ms", "1gbit", "1%", [NET], True)
        assert netem.sources[a].constraints == {HTBConstraint("eth0", "10ms", "10.9.0.3", "1gbit", "1%")}
        assert netem.sources[b].constraints == {HTBConstraint("eth0", "10ms", "10.9.0.2", "1gbit", "1%")}
        assert netem.dests == {a, b}
        assert netem.expected_rtts()[(a, b)] == 20.0

    def test_from_dict_enoslib_shape(self):
        p1, p2, b1, t1 = (host("p1", "10.9.0.2"), host("p2", "10.9.0.3"), host("b1", "10.9.0.4"),
                          host("t1", "10.9.0.5"))
        roles = Roles(paris=[p1, p2], berlin=[b1], tokyo=[t1])
        spec = {"default_delay": "5ms", "default_rate": "1gbit", "except": ["tokyo"],
                "constraints": [{"src": "paris", "dst": "berlin", "delay": "25ms", "symmetric": True}]}
        netem = NetemHTB.from_dict(spec, roles, Roles(wan=[NET]))
        assert t1 not in netem.sources and t1 not in netem.dests
        rtts = netem.expected_rtts()
        assert rtts[(p1, p2)] == 10.0 and rtts[(p1, b1)] == 50.0 and rtts[(b1, p2)] == 50.0
        assert HTBConstraint("eth0", "25ms", "10.9.0.4", "1gbit") in netem.sources[p1].constraints
        assert NetemHTB.from_dict({**spec, "default_network": "wan"}, roles, {"wan": [NET]}).expected_rtts() == rtts

    def test_from_dict_errors_name_the_place(self):
        roles = Roles(paris=[host("p1", "10.9.0.2")])
        cases = [({"default_delay": "5ms"}, "$.default_rate"),
                 ({"default_delay": "5ms", "default_rate": "1gbit", "groups": ["rome"]}, "$.groups[0]"),
                 ({"default_delay": "5ms", "default_rate": "1gbit",
                   "constraints": [{"src": "paris", "dst": "paris", "dealy": "1ms"}]}, "$.constraints[0].dealy"),
                 ({"default_delay": "5ms", "default_rate": "1gbit", "default_network": "wan"}, "$.default_network")]
        for spec, where in cases:
            with pytest.raises(EnosConfigError) as info:
                NetemHTB.from_dict(spec, roles, {})
            assert info.value.path == where and str(info.value)


# -- the functions -------------------------------------------------------------------------
def test_functions_signatures():
    assert params(netem)[:2] == ["sources", "chunk_size"]
    assert params(netem_htb)[:2] == ["htb_hosts", "chunk_size"]
    assert inspect.signature(netem).parameters["chunk_size"].default == 100


# -- Local(backend="loopback") hosts own no device ------------------------------------------
def test_services_refuse_loopback_hosts_before_running_anything():
    from enoslib.infra.local.provider import LOOPBACK_EXTRA

    lo = Host("127.0.0.1", alias="lo-1", port=20001, extra={LOOPBACK_EXTRA: "loopback"},
              net_devices=[NetDevice("eth0", frozenset({IPAddress("10.9.0.2/24", NET)}))])
    other = host("b", "10.9.0.3")
    attempts = [lambda: Netem().add_constraints("delay 10ms", [lo]),
                lambda: NetemHTB().add_constraints([lo], [other], delay="10ms"),
                lambda: netem([NetemInOutSource(lo, {NetemOutConstraint("eth0", "delay 1ms")})], engine="tc"),
                lambda: netem_htb([HTBSource(lo).add_constraint("eth0", "1ms", "10.9.0.3")], engine="tc")]
    for attempt in attempts:
        with pytest.raises(EnosError, match="lo-1 is a Local host of the 'loopback' backend"):
            attempt()


# -- end to end, on the Local provider's namespace hosts --------------------------------------
def on_local_hosts(func):
    """Marks of the tests that build a Local testbed (namespaces, bridges, sshd)."""
    for mark in (pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="the local testbed needs root"),
                 pytest.mark.skipif(shutil.which("fping") is None, reason="fping is needed to measure")):
        func = mark(func)
    return func


@pytest.fixture(scope="module")
def testbed():
    from enoslib.nodes import NamespaceLab

    with en.Local(en.LocalConf.from_settings(name="nccompat").add_machine(roles=["a"], number=1)
                  .add_machine(roles=["b"], number=1)) as (roles, networks):
        yield roles, networks
    assert NamespaceLab.leftovers("nccompat") == []


def rtt(src, dst_host, count=10):
    """Median RTT (ms) measured with ping from ``src`` to ``dst_host``."""
    out = en.run_command(f"ping -n -q -c {count} -i 0.05 {dst_host.address}", roles=[src])[0].stdout
    return float(re.search(r"= [\d.]+/([\d.]+)/", out).group(1))


def leftovers(hosts):
    out = en.run_command("tc qdisc show; ip -o link show; (iptables-legacy -w -t mangle -S 2>/dev/null || "
                         "iptables -w -t mangle -S)", roles=hosts)
    return [r.host for r in out if re.search(r"qdisc (htb|netem|ingress)|ifb-|ENOS-NETEM", r.stdout)]


@on_local_hosts
def test_e2e_netemhtb_script_runs_unchanged(testbed, tmp_path):
    roles, networks = testbed
    netem = NetemHTB()
    netem.add_constraints(src=roles["a"], dest=roles["b"], delay="10ms", rate="1gbit", symmetric=True)
    netem.deploy()
    try:
        report = netem.validate(output_dir=tmp_path)
        a, b = roles["a"][0].alias, roles["b"][0].alias
        assert report.expected[(a, b)] == 20.0
        print("NetemHTB 10 ms each way, RTT measured:", report.measured[(a, b)], "engines:", report.engines)
        assert 15 <= report.measured[(a, b)] <= 60, report.to_dict()
        assert (tmp_path / f"{a}.fpingout").read_text().strip()
    finally:
        netem.destroy()
    assert leftovers(roles.all()) == []


@on_local_hosts
def test_e2e_netem_symmetric_and_context_manager(testbed):
    roles, _ = testbed
    a, b = roles["a"][0], roles["b"][0]
    base = rtt(a, b)
    with Netem().add_constraints("delay 10ms", hosts=roles["a"], symmetric=True) as netem:
        assert set(netem.engines) == {a.alias}
        # out and in on a: 20 ms more per round trip (applications see it; ping -U from b
        # would, plain ping from a may not with the userspace engine: measure from b)
        out = en.run_command(f"ping -n -q -c 10 -i 0.05 {a.address}", roles=[b])[0].stdout
        measured = float(re.search(r"= [\d.]+/([\d.]+)/", out).group(1))
        print(f"Netem symmetric 10ms on a: RTT b->a {base:.3f} -> {measured:.3f} ms")
        assert 15 <= measured - base <= 60, (base, measured)
    assert leftovers([a, b]) == []


@on_local_hosts
def test_e2e_functional_netem_htb_per_source(testbed):
    from enoslib.services.netem import teardown_script

    roles, _ = testbed
    a, b = roles["a"][0], roles["b"][0]
    device = sorted(d.name for d in a.net_devices)[0]
    source = HTBSource(host=a)
    source.add_constraint(device=device, delay="15ms", target=b.address, rate="1gbit")
    try:
        netem_htb([source])
        assert rtt(a, b) >= 12
    finally:
        en.run_scripts({a: teardown_script([device])})
    assert rtt(a, b) < 12 and leftovers([a]) == []


@on_local_hosts
def test_e2e_accurate_netem_htb(testbed):
    roles, _ = testbed
    a, b = roles["a"][0], roles["b"][0]
    netem = AccurateNetemHTB().add_constraints([a], [b], "10ms", "1gbit")
    try:
        deployed = netem.deploy(count=20)
        (corrected,) = deployed[0].constraints
        print("AccurateNetemHTB: 10ms asked, set", corrected.delay)
        assert 0 <= float(corrected.delay[:-2]) <= 10.0  # the infrastructure's share taken off
        assert netem.sources[a].constraints == {HTBConstraint(corrected.device, "10ms", b.address, "1gbit")}
        assert 7 <= rtt(a, b) <= 40
        with pytest.raises(EnosError, match="less than the infrastructure"):
            AccurateNetemHTB().add_constraints([a], [b], "0.001ms", "1gbit").deploy(count=5)
    finally:
        netem.destroy()
    assert leftovers([a]) == []


@on_local_hosts
def test_loopback_backend_reports_no_device_and_netem_refuses():
    conf = (en.LocalConf.from_settings(name="ncloop", backend="loopback")
            .add_network(id="n1", roles=["lan"], cidr="10.93.0.0/24")
            .add_machine(roles=["a"], number=2))
    machine = {name for _, name in socket.if_nameindex()}
    uplink = re.search(r"dev (\S+)", subprocess.run(["ip", "route", "show", "default"], capture_output=True,
                                                     text=True).stdout + " dev lo").group(1)
    before = subprocess.run(["tc", "qdisc", "show", "dev", uplink], capture_output=True, text=True).stdout
    with en.Local(conf) as (roles, networks):
        hosts = list(roles["a"])
        assert all(h.address == "127.0.0.1" for h in hosts)
        for h in hosts:
            assert not ({d.name for d in h.net_devices} & machine), h.net_devices
            assert h.net_devices == set()
        with pytest.raises(EnosError, match="'loopback' backend") as info:
            Netem().add_constraints("delay 10ms", hosts=hosts, symmetric=True)
        assert "netns" in str(info.value)
        with pytest.raises(EnosError, match="'loopback' backend"):
            NetemHTB().add_constraints(hosts[:1], hosts[1:], delay="10ms", rate="1gbit")
        # even once sync_info has listed the interfaces the host sees (the machine's)
        synced = en.sync_info(roles, networks)
        with pytest.raises(EnosError, match="'loopback' backend"):
            Netem().add_constraints("delay 10ms", hosts=synced["a"])
    assert subprocess.run(["tc", "qdisc", "show", "dev", uplink], capture_output=True, text=True).stdout == before
