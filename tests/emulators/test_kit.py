"""The shared emulator kit: a toy emulator built from its pieces, seen through a real HTTP client."""

from __future__ import annotations

import subprocess
import threading

import pytest
import requests

from enoslib.emulators.kit import (
    BasicAuth,
    EmulatorServer,
    FaultInjector,
    Hosts,
    Request,
    Response,
    Router,
    Ticker,
    TokenAuth,
    VirtualClock,
    json_error,
    make_hosts,
    netns_available,
    render_ssh_config,
)
from enoslib.emulators.kit.cli import add_common_arguments, admin_hints, parse_users, serve


class ToyEmulator:
    """A tiny "queue" testbed: items submitted over HTTP become ``done`` 10 virtual seconds later."""

    def __init__(self, *, users=None, speed=0.0, faults=None, port=0, token_auth=False):
        self.clock = VirtualClock(start=1000.0, speed=speed)
        self.faults = FaultInjector(faults, clock=self.clock.now)
        self.lock = threading.Lock()
        self.items: dict[str, dict] = {}
        self.users = users or {"alice": "pw"}
        self.tokens = {"tok-123": "alice"}
        router = Router()
        router.add("GET", "/items", lambda req: {"items": sorted(self.items)})
        router.add("POST", "/items", self.submit)
        router.add("GET", "/items/{name}", self.item)
        router.add("GET", "/whoami", lambda req: {"user": req.user})
        router.add("GET", "/echo", lambda req: {"query": req.query, "lists": req.query_lists})
        auth = TokenAuth(self.tokens.get) if token_auth else BasicAuth(self.users, realm="Toy")
        self.server = EmulatorServer(
            router.dispatch,
            prefix="/api",
            auth=auth,
            faults=self.faults,
            clock=self.clock,
            admin_password="admin-secret",
            port=port,
        )
        self.server.admin.add("DELETE", "/items/{name}", self.drop)
        self.ticker = Ticker(self.clock, lambda: None, interval=0.05)

    def submit(self, req: Request) -> Response:
        name = req.body["name"]
        with self.lock:
            self.items[name] = {"name": name, "owner": req.user, "at": self.clock.now()}
        return Response(201, self.items[name], headers={"Location": f"/api/items/{name}"})

    def item(self, req: Request, name: str) -> Response:
        with self.lock:
            found = self.items.get(name)
        if found is None:
            return json_error(404, f"no item {name}")
        state = "done" if self.clock.now() >= found["at"] + 10 else "waiting"
        return Response(200, {**found, "state": state})

    def drop(self, req: Request, name: str):
        with self.lock:
            del self.items[name]
        return {"dropped": name}

    @property
    def url(self) -> str:
        return self.server.url

    def start(self):
        self.server.start()
        self.ticker.start()
        return self

    def stop(self):
        self.ticker.stop()
        self.server.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


@pytest.fixture()
def toy():
    with ToyEmulator() as emu:
        yield emu


def test_toy_emulator_routes_auth_and_clock(toy):
    s = requests.Session()
    s.auth = ("alice", "pw")
    assert requests.get(toy.url + "/items").status_code == 401
    bad = requests.get(toy.url + "/items", auth=("alice", "nope"))
    assert bad.status_code == 401 and bad.headers["WWW-Authenticate"] == 'Basic realm="Toy"'
    assert bad.json()["message"] == "Invalid credentials"
    made = s.post(toy.url + "/items", json={"name": "a"})
    assert made.status_code == 201 and made.headers["Location"] == "/api/items/a"
    assert made.json()["owner"] == "alice"
    assert s.get(toy.url + "/items/a/").json()["state"] == "waiting"  # trailing slash ok
    assert s.get(toy.url + "/items/zzz").status_code == 404
    wrong = s.delete(toy.url + "/items")
    assert wrong.status_code == 405 and "GET, POST" in wrong.json()["message"]
    assert requests.get(toy.server.base_url + "/elsewhere", auth=s.auth).status_code == 404

    # admin: own secret, API credentials refused, built-in clock and an emulator route
    admin = toy.server.admin_auth
    clock_url = toy.server.admin_url + "/clock"
    assert requests.get(clock_url, auth=("alice", "pw")).status_code == 401
    assert requests.post(clock_url, json={"advance": 10}, auth=admin).json()["now"] == 1010.0
    assert s.get(toy.url + "/items/a").json()["state"] == "done"
    assert requests.delete(toy.server.admin_url + "/items/a", auth=admin).json() == {"dropped": "a"}
    assert requests.delete(toy.server.admin_url + "/items/a", auth=admin).status_code == 400
    assert requests.get(toy.server.admin_url + "/nothing", auth=admin).status_code == 404
    assert requests.post(clock_url, data=b"{nope", auth=admin).status_code == 400


def test_faults_over_http_never_hit_admin(toy):
    s = requests.Session()
    s.auth = ("alice", "pw")
    faults = toy.server.admin_url + "/faults"
    admin = toy.server.admin_auth
    knobs = requests.put(faults, json={"error_next": 2, "error_code": 502}, auth=admin).json()
    assert knobs["error_next"] == 2
    assert [s.get(toy.url + "/items").status_code for _ in range(3)] == [502, 502, 200]

    # per-route rule: only POSTs on /items fail, the next one only
    rule = {"path": "^/items$", "method": "POST", "code": 500, "next": 1}
    requests.put(faults, json={"rules": [rule]}, auth=admin)
    assert s.get(toy.url + "/items").status_code == 200
    assert s.post(toy.url + "/items", json={"name": "b"}).status_code == 500
    assert s.post(toy.url + "/items", json={"name": "b"}).status_code == 201
    bad = requests.put(faults, json={"rules": [{"method": "GET"}]}, auth=admin)
    assert bad.status_code == 400 and "rules[0]" in bad.json()["message"]
    assert requests.put(faults, json={"nope": 1}, auth=admin).status_code == 400

    requests.put(faults, json={"reset_next": 1}, auth=admin)
    with pytest.raises(requests.ConnectionError):
        requests.get(toy.url + "/items", auth=s.auth)
    requests.put(faults, json={"down_for": 60}, auth=admin)
    down = s.get(toy.url + "/items")
    assert down.status_code == 503 and "down" in down.json()["message"]
    assert requests.get(faults, auth=admin).status_code == 200  # admin never faulted
    requests.post(toy.server.admin_url + "/clock", json={"advance": 61}, auth=admin)
    assert s.get(toy.url + "/items").status_code == 200
    assert requests.delete(faults, auth=admin).json()["rules"] == []


def test_token_auth():
    with ToyEmulator(token_auth=True) as emu:
        assert requests.get(emu.url + "/whoami").status_code == 401
        assert requests.get(emu.url + "/whoami", headers={"X-Auth-Token": "bad"}).status_code == 401
        ok = requests.get(emu.url + "/whoami", headers={"X-Auth-Token": "tok-123"})
        assert ok.json() == {"user": "alice"}
        echo = requests.get(emu.url + "/echo?id=a&id=b&name=x", headers={"X-Auth-Token": "tok-123"})
        assert echo.json() == {"query": {"id": "b", "name": "x"},
                               "lists": {"id": ["a", "b"], "name": ["x"]}}


def test_fault_draws_are_seeded():
    def draws(seed):
        inj = FaultInjector({"error_rate": 0.5, "seed": seed})
        return [inj.http("GET", "/x") is not None for _ in range(40)]

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)
    inj = FaultInjector({"rules": [{"path": "^/slow", "latency": 0.25}], "latency": 0.5})
    assert inj.latency_for("GET", "/slow/x") == 0.75 and inj.latency_for("GET", "/fast") == 0.5
    assert inj.http("GET", "/slow") is None  # a latency-only rule never fails a request


def test_clock_and_ticker():
    clock = VirtualClock(start=0.0, speed=0)
    assert clock.advance(5) == 5.0 and clock.now() == 5.0
    with pytest.raises(ValueError):
        clock.advance(-1)
    ticked = threading.Event()
    ticker = Ticker(clock, ticked.set, interval=0.01).start()
    try:
        assert not ticked.wait(0.2)  # frozen clock: no ticks
        clock.speed = 100
        assert ticked.wait(30)
    finally:
        ticker.stop()


def test_address_only_hosts_and_ssh_config():
    hosts = make_hosts("address")
    assert isinstance(hosts, Hosts) and hosts.kind == "address"
    hosts.add_network("lan", "10.9.0.0/24")
    hosts.add_network("lan", "10.9.0.0/24")  # idempotent
    with pytest.raises(ValueError, match="another cidr"):
        hosts.add_network("lan", "10.8.0.0/24")
    hosts.add_network("vlan", "10.9.1.0/24")
    hosts.add_hosts(["a", "b"], ["lan"], addresses={"b": {"lan": "10.9.0.50"}})
    assert hosts.address("a") == "10.9.0.2" and hosts.address("b") == "10.9.0.50"
    with pytest.raises(ValueError, match="already exist"):
        hosts.add_hosts(["a"], ["lan"])
    hosts.move("a", "lan", "vlan", address="10.9.1.7")
    assert hosts.interfaces("a") == [("vlan", "10.9.1.7")]
    text = hosts.ssh_config(
        [(["a.site", "a"], hosts.address("a")), (["gone"], None)],
        extra={"a.site": ["ProxyJump gw"]},
    )
    assert text == (
        "# emulated nodes\nHost a.site a\n    HostName 10.9.1.7\n    User root\n"
        "    ProxyJump gw\n"
    )
    hosts.close()
    assert hosts.names == []
    assert render_ssh_config([(["x"], "1.2.3.4")], user="u", options=["Port 22"], header="") == (
        "Host x\n    HostName 1.2.3.4\n    User u\n    Port 22\n"
    )


def test_cli_serve_prints_banner_and_stops_on_ctrl_c(capsys):
    import argparse

    args = add_common_arguments(argparse.ArgumentParser()).parse_args(
        ["--speed", "0", "--user", "bob:pw"]
    )
    assert parse_users(args.user) == {"bob": "pw"}
    with pytest.raises(ValueError, match="LOGIN:PASSWORD"):
        parse_users(["nocolon"])
    made = []

    def start():
        made.append(ToyEmulator(users=parse_users(args.user), speed=args.speed).start())
        return made[0]

    def ctrl_c(emu):
        raise KeyboardInterrupt

    status = serve(
        start,
        lambda emu: [f"Toy listening on {emu.url}", *admin_hints(emu.server.admin_url, emu.server.admin_auth)],
        idle=ctrl_c,
        interval=0.01,
    )
    out = capsys.readouterr().out
    assert status == 0 and "Toy listening on http://127.0.0.1:" in out
    assert "emulator-admin:admin-secret" in out and out.rstrip().endswith("emulator stopped")
    with pytest.raises(requests.ConnectionError):
        requests.get(made[0].url + "/items", timeout=5)

    def broken():
        raise ValueError("bad knob")

    assert serve(broken, lambda emu: []) == 1
    assert "cannot start the emulator: bad knob" in capsys.readouterr().err


usable, why = netns_available()


@pytest.mark.root
@pytest.mark.skipif(not usable, reason=f"netns: {why}")
def test_netns_hosts_are_real_ssh_hosts(tmp_path):
    hosts = make_hosts("netns", tag="kit")
    try:
        hosts.add_network("lan", "10.97.0.0/24")
        hosts.add_network("vlan", "10.97.1.0/24")
        hosts.add_hosts(["n1.toy", "n2.toy"], ["lan"], addresses={"n1.toy": {"lan": "10.97.0.10"}})
        assert hosts.address("n1.toy") == "10.97.0.10"
        config = tmp_path / "ssh_config"
        config.write_text(hosts.ssh_config([([n], hosts.address(n)) for n in hosts.names]))
        out = subprocess.run(
            ["ssh", "-F", str(config), "n1.toy", "hostname; ip -4 -o addr"],
            capture_output=True, text=True, timeout=30, check=False,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines()[0] == "n1.toy" and "10.97.0.10/24" in out.stdout
        hosts.move("n2.toy", "lan", "vlan", address="10.97.1.5")
        assert hosts.interfaces("n2.toy") == [("vlan", "10.97.1.5")]
        config.write_text(hosts.ssh_config([([n], hosts.address(n)) for n in hosts.names]))
        out = subprocess.run(
            ["ssh", "-F", str(config), "n2.toy", "ip -4 -o addr"],
            capture_output=True, text=True, timeout=30, check=False,
        )
        assert "10.97.1.5/24" in out.stdout, out.stderr
    finally:
        hosts.close()
    assert hosts.names == []
