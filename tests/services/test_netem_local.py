"""The netem services on real hosts: the Local provider's namespaces (root only).

This machine's kernel may have no ``sch_netem``: most tests force the nfqueue engine
(iptables NFQUEUE rules + the userspace delay daemon), which works on any kernel with
NFQUEUE; ``test_auto_engine`` checks the per-host choice.
"""

import json
import os
import re
import shutil
import time

import pytest
from latency_checks import report_problems

import enoslib as en
from enoslib.nodes import NamespaceLab
from enoslib.services.netem import Netem, NetemHTB

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="the local testbed needs root"),
    pytest.mark.skipif(not (shutil.which("iptables-legacy") or shutil.which("iptables")), reason="no iptables"),
    pytest.mark.skipif(not os.path.exists("/usr/bin/python3"), reason="the delay daemon runs with /usr/bin/python3"),
    pytest.mark.skipif(shutil.which("fping") is None, reason="validate() needs fping"),
]

NAME = "netemt"
DAEMONS = "for p in $(pgrep -f '^/usr/bin/python3 /tmp/enoslib-delayd'); do " \
          '[ "$(readlink /proc/$p/ns/net)" = "$(readlink /proc/self/ns/net)" ] && echo "$p"; done; true'


@pytest.fixture(scope="module")
def testbed():
    conf = (en.LocalConf.from_settings(name=NAME)
            .add_machine(roles=["a"], number=2).add_machine(roles=["b"], number=1))
    provider = en.Local(conf)
    roles, networks = provider.init()
    try:
        yield roles, networks
    finally:
        provider.destroy()
        assert NamespaceLab.leftovers(NAME) == []


def daemons(hosts):
    """{alias: [pid of a delay daemon in that host's network namespace]}."""
    return {r.host: r.stdout.split() for r in en.run_command(DAEMONS, roles=hosts)}


def assert_clean(hosts):
    """No daemon, no iptables chain, no qdisc but the default, no ifb, no daemon file."""
    out = en.run_command(
        "(iptables-legacy -w -t mangle -S 2>/dev/null || iptables -w -t mangle -S); "
        "tc qdisc show; ip -o link show; ls /tmp", roles=hosts)
    for r in out:
        assert "ENOS-NETEM" not in r.stdout, r.stdout
        assert not re.search(r"qdisc (htb|netem|ingress|tbf)", r.stdout), r.stdout
        assert "ifb-" not in r.stdout and "enos-probe" not in r.stdout, r.stdout
        assert ".py" not in r.stdout and ".pid" not in r.stdout, r.stdout
    assert all(pids == [] for pids in daemons(hosts).values())


def rtt_errors(report):
    return {pair: round(report.measured[pair] - e, 3) for pair, e in report.expected.items()
            if report.measured.get(pair) is not None}


def validated(netem):
    """The latency report, measured again once if the machine's load made it look slow."""
    for attempt in (1, 2):
        report = netem.validate(count=10)
        print("RTT errors (ms):", rtt_errors(report))
        problems = report_problems(report)
        if not problems:
            return report
    raise AssertionError(f"RTTs do not match after {attempt} measurements: {problems}")


def iperf(client, server, seconds=2):
    """Mbit/s received, client -> server."""
    en.run_command("iperf3 -s -D -1", roles=[server])
    time.sleep(0.3)
    out = en.run_command(f"iperf3 -c {server.address} -t {seconds} -J", roles=[client])
    return json.loads(out[0].stdout)["end"]["sum_received"]["bits_per_second"] / 1e6


def test_htb_delays_symmetric_redeploy_destroy(testbed):
    roles, _ = testbed
    (a1, a2), b1 = roles["a"], roles["b"][0]
    netem = (NetemHTB(engine="nfqueue")
             .add_constraints([a1], [a2], delay="10ms", symmetric=True)
             .add_constraints([a1, a2], [b1], delay="25ms", symmetric=True))
    try:
        for _ in range(3):  # deploy, then redeploy twice: each replaces the previous one
            netem.deploy()
            assert netem.engines == {a1.alias: "nfqueue", a2.alias: "nfqueue", b1.alias: "nfqueue"}
            assert all(len(pids) == 1 for pids in daemons(roles.all()).values())
        report = validated(netem)
        assert report.expected[(a1.alias, a2.alias)] == 20.0 and report.expected[(b1.alias, a1.alias)] == 50.0
        assert report.engines == {a1.alias: "nfqueue", a2.alias: "nfqueue", b1.alias: "nfqueue"}
    finally:
        netem.destroy()
    assert_clean(roles.all())


def test_loss(testbed):
    roles, _ = testbed
    a1, b1 = roles["a"][0], roles["b"][0]
    netem = NetemHTB(engine="nfqueue").add_constraints([a1], [b1], loss="50%")
    try:
        netem.deploy()
        out = en.run_command(f"ping -q -n -c 300 -i 0.005 -W 1 {b1.address} || true", roles=[a1])
        loss = float(re.search(r"([\d.]+)% packet loss", out[0].stdout).group(1))
        print("loss measured for 50%:", loss)
        assert 38 <= loss <= 62
    finally:
        netem.destroy()
    assert_clean([a1])


def test_netem_symmetric_ingress(testbed):
    roles, _ = testbed
    a1, b1 = roles["a"][0], roles["b"][0]
    netem = (Netem(engine="nfqueue")
             .add_constraints("delay 5ms", [a1], symmetric=True)  # out and in: 10 ms per round trip
             .add_constraints("delay 2ms", [b1]))  # out only
    try:
        netem.deploy()
        rules = en.run_command("iptables-legacy -w -t mangle -S ENOS-NETEM-IN", roles=[a1])[0].stdout
        assert "-i eth0 -j NFQUEUE" in rules
        report = validated(netem)
        assert report.expected[(a1.alias, b1.alias)] == 12.0
    finally:
        netem.destroy()
    assert_clean([a1, b1])


@pytest.mark.skipif(shutil.which("iperf3") is None, reason="no iperf3")
def test_rates_and_throughput_through_a_delayed_queue(testbed):
    roles, _ = testbed
    a2, b1 = roles["a"][1], roles["b"][0]
    cap = NetemHTB(engine="nfqueue").add_constraints([a2], [b1], rate="10mbit")
    try:
        cap.deploy()
        mbit = iperf(a2, b1)
        print("HTB 10mbit:", round(mbit, 2), "Mbit/s")
        assert 8.0 <= mbit <= 10.6
        # a TCP sender behind a delay: its packets are re-injected, not held (TCP small queues)
        delayed = NetemHTB(engine="nfqueue").add_constraints([a2], [b1], delay="10ms", rate="100mbit", symmetric=True)
        delayed.deploy()  # replaces the cap on a2
        mbit = iperf(a2, b1)
        print("HTB 100mbit + 10 ms each way through the daemon:", round(mbit, 1), "Mbit/s")
        assert mbit >= 60
        delayed.destroy()
        egress = Netem(engine="nfqueue").add_constraints("delay 10ms rate 100mbit", [a2])
        egress.deploy()
        mbit = iperf(a2, b1)
        print("Netem 100mbit + 10 ms out of the sender:", round(mbit, 1), "Mbit/s")
        assert mbit >= 60
        egress.destroy()
    finally:
        cap.destroy()
    assert_clean([a2, b1])


def test_auto_engine(testbed):
    roles, _ = testbed
    a1, b1 = roles["a"][0], roles["b"][0]
    netem = NetemHTB().add_constraints([a1], [b1], delay="5ms", symmetric=True)
    try:
        netem.deploy()
        # the same probe as the deploy script's, from the test's side
        probe = en.run_command(
            "ip link add enos-tprobe type ifb && (tc qdisc add dev enos-tprobe root netem delay 1ms "
            "&& echo tc || echo nfqueue); ip link del enos-tprobe", roles=[a1])[0].stdout.split()[-1]
        assert netem.engines == {a1.alias: probe, b1.alias: probe}
        assert all(len(p) == (1 if probe == "nfqueue" else 0) for p in daemons([a1, b1]).values())
        report = netem.validate(count=10)
        assert report.ok, report.to_dict()
        assert report.engine_summary() == probe
    finally:
        netem.destroy()
    assert_clean([a1, b1])
