"""The commands the netem services generate, for both engines (pure: no host needed)."""

import re
import subprocess

import pytest

from enoslib.api.results import Result
from enoslib.errors import EnosConfigError
from enoslib.objects import DefaultNetwork, Host, IPAddress, NetDevice, Roles
from enoslib.services.netem import (
    HTBConstraint, LatencyReport, Netem, NetemHTB, QueuePlan, check_netem_options, htb_commands, htb_nfqueue_commands,
    ms, netem_commands, netem_nfqueue_commands, parse_engines, parse_fping, probe_script,
    teardown_script, user_clock_ping_script,
)

NET = DefaultNetwork("10.9.0.0/24")


def host(name, ip):
    return Host(ip, alias=name, net_devices=[NetDevice("eth0", frozenset({IPAddress(f"{ip}/24", NET)}))])


def test_units_and_options():
    assert ms("10ms") == 10 and ms("1s") == 1000 and ms("500us") == 0.5
    assert check_netem_options("delay 10ms loss 1%") == ["delay", "10ms", "loss", "1%"]
    for bad in ("delay 10", "delay 10ms; reboot", "drop 1%", "", "loss 1"):
        with pytest.raises(EnosConfigError):
            check_netem_options(bad)
    with pytest.raises(EnosConfigError, match="rate"):
        HTBConstraint("eth0", None, "10.0.0.1", rate="fast")
    with pytest.raises(EnosConfigError, match="target"):
        HTBConstraint("eth0", None, "10.0.0.1; rm -rf /")


def test_symmetric_netem_uses_ifb():
    cmds = netem_commands(["eth0"], ["delay", "10ms"], symmetric=True)
    assert "tc qdisc add dev eth0 root netem delay 10ms" in cmds
    assert "ip link add ifb-eth0 type ifb" in cmds
    assert any("mirred egress redirect dev ifb-eth0" in c for c in cmds)
    assert "tc qdisc add dev ifb-eth0 root netem delay 10ms" in cmds


def test_htb_tree_per_destination():
    a, b = host("a", "10.9.0.2"), host("b", "10.9.0.3")
    cmds = htb_commands("eth0", [HTBConstraint("eth0", "20ms", "10.9.0.3", rate="1gbit")])
    assert "tc qdisc add dev eth0 root handle 1: htb default 1" in cmds
    assert "tc class add dev eth0 parent 1: classid 1:2 htb rate 1gbit ceil 1gbit" in cmds
    assert "tc qdisc add dev eth0 parent 1:2 handle 12: netem delay 20ms" in cmds
    assert "tc filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst 10.9.0.3/32 flowid 1:2" in cmds


def test_htb_symmetric_and_expected_rtts():
    a, b, c = host("a", "10.9.0.2"), host("b", "10.9.0.3"), host("c", "10.9.0.4")
    netem = NetemHTB().add_constraints([a], [b, c], delay="10ms", symmetric=True)
    scripts = netem.scripts()
    assert set(scripts) == {a, b, c}
    assert scripts[a].startswith("set -e\n") and "10.9.0.3/32" in scripts[a] and "10.9.0.4/32" in scripts[a]
    assert "10.9.0.2/32" in scripts[b]
    assert netem.expected_rtts()[(a, b)] == 20.0


def test_topology_dict():
    a, b = host("a", "10.9.0.2"), host("b", "10.9.0.3")
    roles = Roles(paris=[a], berlin=[b])
    topo = {"default_delay": "5ms", "groups": ["paris", "berlin"],
            "except": [{"src": "paris", "dst": "berlin", "delay": "25ms", "symmetric": True}]}
    netem = NetemHTB.from_topology(topo, roles)
    assert netem.expected_rtts()[(a, b)] == 50.0
    with pytest.raises(EnosConfigError, match="role 'tokyo'"):
        NetemHTB.from_topology({"groups": ["tokyo"]}, roles)


def test_netem_needs_interfaces():
    from enoslib.errors import EnosError

    with pytest.raises(EnosError, match="sync_info"):
        Netem().add_constraints("delay 1ms", [Host("x")]).scripts()


def test_parse_fping():
    out = "10.0.0.2 : 20.1 20.3 -\n10.0.0.3 : - - -\nICMP Host Unreachable\n"
    assert parse_fping(out) == {"10.0.0.2": [20.1, 20.3], "10.0.0.3": []}


# -- engines (tc netem, or nfqueue + the userspace delay daemon) ---------------------------
def _sh_ok(text):
    return subprocess.run(["sh", "-n", "-c", text], check=False).returncode == 0


def test_engine_is_checked():
    for cls in (Netem, NetemHTB):
        assert cls().engine == "auto"
        with pytest.raises(EnosConfigError, match="engine"):
            cls(engine="netem")


def test_htb_nfqueue_rules_and_queues():
    a, b, c, d = host("a", "10.9.0.2"), host("b", "10.9.0.3"), host("c", "10.9.0.4"), host("d", "10.9.0.5")
    plan = QueuePlan()
    cs = [HTBConstraint("eth0", "20ms", "10.9.0.3", rate="1gbit"),
          HTBConstraint("eth0", "20ms", "10.9.0.4"),  # same delay: same queue
          HTBConstraint("eth0", "5ms", "10.9.0.5", loss="50%"),
          HTBConstraint("eth0", None, "10.9.0.6", rate="10mbit")]  # rate only: no queue
    tc, rules = htb_nfqueue_commands("eth0", cs, plan)
    assert not any(" netem " in x for x in tc)  # no netem leaf: rates stay in HTB
    assert "tc class add dev eth0 parent 1: classid 1:2 htb rate 1gbit ceil 1gbit" in tc
    assert rules == [
        "enos_ipt iptables -t mangle -A ENOS-NETEM-OUT -o eth0 -d 10.9.0.3/32 -j NFQUEUE --queue-num 7300 --queue-bypass",
        "enos_ipt iptables -t mangle -A ENOS-NETEM-OUT -o eth0 -d 10.9.0.4/32 -j NFQUEUE --queue-num 7300 --queue-bypass",
        "enos_ipt iptables -t mangle -A ENOS-NETEM-OUT -o eth0 -d 10.9.0.5/32 -j NFQUEUE --queue-num 7301 --queue-bypass",
    ]
    # outgoing packets are re-injected (the sender's TCP budget is not held by the delay)
    assert plan.delayd_args() == ["--reinject-queue", "7300:20:0", "--reinject-queue", "7301:5:50", "--mark", "0x454e"]
    _, v6 = htb_nfqueue_commands("eth0", [HTBConstraint("eth0", "1ms", "fd00::3")], QueuePlan())
    assert v6[0].startswith("enos_ipt ip6tables") and "-d fd00::3/128" in v6[0]


def test_htb_nfqueue_touches_senders_only():
    a, b = host("a", "10.9.0.2"), host("b", "10.9.0.3")
    netem = NetemHTB(engine="nfqueue").add_constraints([a], [b], delay="10ms", rate="1gbit")
    scripts = netem.scripts()
    assert set(scripts) == {a}
    assert "-o eth0 -d 10.9.0.3/32 -j NFQUEUE --queue-num 7300" in scripts[a]
    assert "tc class add dev eth0 parent 1: classid 1:2 htb rate 1gbit ceil 1gbit" in scripts[a]
    # per-host engines (auto, after probing)
    mixed = NetemHTB().add_constraints([a], [b], delay="10ms", symmetric=True).scripts(engines={"a": "nfqueue", "b": "tc"})
    assert "NFQUEUE --queue-num" in mixed[a] and "netem delay" not in mixed[a]
    assert "netem delay 10ms" in mixed[b] and "NFQUEUE --queue-num" not in mixed[b]


def test_netem_nfqueue_symmetric_and_rate():
    plan = QueuePlan()
    tc, rules = netem_nfqueue_commands(["eth0"], ["delay", "10ms", "loss", "1%", "rate", "10mbit"], True, plan)
    assert "enos_ipt iptables -t mangle -A ENOS-NETEM-OUT -o eth0 -j NFQUEUE --queue-num 7300 --queue-bypass" in rules
    assert any("ip6tables" in x and "ENOS-NETEM-IN -i eth0" in x and "enos_v6" in x for x in rules)
    assert "enos_ipt iptables -t mangle -A ENOS-NETEM-IN -i eth0 -j NFQUEUE --queue-num 7301 --queue-bypass" in rules
    assert "tc class add dev eth0 parent 1: classid 1:1 htb rate 10mbit ceil 10mbit" in tc
    assert "tc class add dev ifb-eth0 parent 1: classid 1:1 htb rate 10mbit ceil 10mbit" in tc
    assert not any(" netem " in x for x in tc)
    # out: re-injected; in: held in the kernel (the packet has left its sender already)
    assert plan.delayd_args() == ["--reinject-queue", "7300:10:1", "--queue", "7301:10:1", "--mark", "0x454e"]
    with pytest.raises(EnosConfigError, match="duplicate"):
        netem_nfqueue_commands(["eth0"], ["delay", "1ms", "duplicate", "1%"], False, QueuePlan())


def test_nfqueue_script_order():
    a, b = host("a", "10.9.0.2"), host("b", "10.9.0.3")
    text = NetemHTB(engine="nfqueue").add_constraints([a], [b], delay="10ms", symmetric=True).scripts()[a]
    assert text.startswith("set -e\n") and _sh_ok(text)
    assert "enos_engine=nfqueue\n" in text and "netem delay" not in text and "enos-probe0" not in text
    # previous state of both engines undone first (a redeploy replaces), then the daemon is
    # shipped verbatim and started, then the chains and rules
    start = '"$enos_state.py" --pidfile "$enos_state.pid"'
    assert text.index("\nenos_stop\nenos_nfq_clean\n") < text.index("def parse_messages") < text.index(start)
    assert text.index(start) < text.index("enos_nfq_chains iptables") < text.index("-j NFQUEUE --queue-num 7300 --queue-bypass")
    assert "--reinject-queue 7300:10:0 --mark 0x454e" in text
    assert "-A ENOS-NETEM-OUT -m mark --mark 0x454e -j RETURN" in text  # re-injected packets pass
    assert text.rstrip().endswith('echo "enoslib-netem-engine=$enos_engine"')


def test_tc_engine_and_auto_default_without_probe():
    a, b = host("a", "10.9.0.2"), host("b", "10.9.0.3")
    for engine in ("tc", "auto"):  # auto before probing: what a netem-capable host gets
        text = NetemHTB(engine=engine).add_constraints([a], [b], delay="10ms").scripts()[a]
        assert "enos_engine=tc\n" in text and "def parse_messages" not in text and "NFQUEUE" not in text
        assert "tc qdisc add dev eth0 parent 1:2 handle 12: netem delay 10ms" in text and _sh_ok(text)
        assert "\nenos_stop\nenos_nfq_clean\n" in text  # leftovers of an nfqueue deployment go
    with pytest.raises(EnosConfigError, match="need the kernel's netem"):
        Netem(engine="nfqueue").add_constraints("delay 1ms reorder 10%", [a]).scripts()
    assert "reorder 10%" in Netem().add_constraints("delay 1ms reorder 10%", [a]).scripts()[a]


def test_probe_script():
    text = probe_script("eth0")
    assert "ip link add enos-probe0 type ifb" in text and "tc qdisc add dev enos-probe0 root netem delay 1ms" in text
    assert re.search(r"else\n  tc qdisc del dev eth0 root", text)  # no ifb: probe on the interface
    assert text.rstrip().endswith('echo "enoslib-netem-engine=$enos_engine"') and _sh_ok(text)


def test_values_are_quoted():
    a = Host("10.9.0.2", alias="a", net_devices=[NetDevice("e;x$(id)", frozenset({IPAddress("10.9.0.2/24", NET)}))])
    text = Netem(engine="nfqueue").add_constraints("delay 1ms", [a]).scripts()[a]
    assert "-o 'e;x$(id)' -j NFQUEUE" in text and _sh_ok(text)
    # names Linux refuses (blanks, '/', ':') are refused before anything runs
    b = Host("10.9.0.3", alias="b", net_devices=[NetDevice("e th0", frozenset({IPAddress("10.9.0.3/24", NET)}))])
    with pytest.raises(EnosConfigError, match="device name 'e th0'"):
        Netem().add_constraints("delay 1ms", [b])


def test_teardown_and_engine_report():
    text = teardown_script(["eth0"])
    assert "enos_stop" in text and "enos_nfq_clean" in text and "tc qdisc del dev eth0 root" in text and _sh_ok(text)
    results = [Result(host="a", task="t", status="ok", stdout="x\nenoslib-netem-engine=nfqueue"),
               Result(host="b", task="t", status="ok", stdout="enoslib-netem-engine=tc\n")]
    assert parse_engines(results) == {"a": "nfqueue", "b": "tc"}
    report = LatencyReport(expected={("a", "b"): 10.0}, measured={("a", "b"): 10.1}, engines={"a": "nfqueue"})
    assert report.to_dict()["engines"] == {"a": "nfqueue"} and report.engine_summary() == "nfqueue"
    assert "engine: nfqueue" in report.table().title
    report.engines["b"] = "tc"
    assert report.engine_summary() == "nfqueue on a; tc on b"


def test_user_clock_ping_output_parses_like_fping():
    text = user_clock_ping_script(["10.9.0.3", "fd00::3"], 5)
    assert "ping -U -n -c 5" in text and _sh_ok(text)
    assert parse_fping("10.9.0.3 : 20.1 20.3 \nfd00::3 : \n") == {"10.9.0.3": [20.1, 20.3], "fd00::3": []}


def test_option_grammar_jitter_and_correlations():
    assert check_netem_options("delay 10ms 2ms 25% loss random 1% 5%") == ["delay", "10ms", "2ms", "25%", "loss", "1%", "5%"]
    assert check_netem_options("delay 10ms distribution normal limit 1000 rate 1mbit") == [
        "delay", "10ms", "distribution", "normal", "limit", "1000", "rate", "1mbit"]
    for bad in ("delay 10ms delay 5ms", "distribution gaussian", "limit lots"):
        with pytest.raises(EnosConfigError):
            check_netem_options(bad)
    # the userspace engine does jitter (its daemon's 4th queue field), not correlations
    plan = QueuePlan()
    netem_nfqueue_commands(["eth0"], ["delay", "10ms", "2ms"], False, plan)
    assert plan.delayd_args() == ["--reinject-queue", "7300:10:0:2", "--mark", "0x454e"]
    with pytest.raises(EnosConfigError, match="delay correlation"):
        netem_nfqueue_commands(["eth0"], ["delay", "10ms", "2ms", "25%"], False, QueuePlan())
    with pytest.raises(EnosConfigError, match="distribution"):
        netem_nfqueue_commands(["eth0"], ["delay", "10ms", "distribution", "normal"], False, QueuePlan())
