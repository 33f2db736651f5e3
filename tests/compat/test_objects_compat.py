"""EnOSlib's documented objects, errors and results, used the way EnOSlib's documentation and
users' scripts use them. Organised by documented class; each test runs the idiom unchanged.

Written from the documentation (class/method names, signatures, documented semantics), not
from EnOSlib's code. Where we add to EnOSlib (insertion order, set operators), the addition is
tested in tests/foundation; here only the documented behaviour is checked.
"""

from __future__ import annotations

import io
import time
from datetime import datetime, timezone

import pytest

import enoslib as en
from enoslib.api import STATUS_FAILED, STATUS_OK, STATUS_SKIPPED, STATUS_UNREACHABLE
from enoslib.api.results import DEFAULT_ERROR_STATUSES, Result, Results
from enoslib.errors import (
    EnosError,
    InvalidReservationCritical,
    InvalidReservationTime,
    InvalidReservationTooOld,
    MissingNetworkError,
    NegativeWalltime,
    NoSlotError,
)
from enoslib.infra.enos_static import StaticConf
from enoslib.infra.provider import Provider
from enoslib.infra.providers import find_slot
from enoslib.infra.slots import Interval, IntervalSet
from enoslib.objects import (
    DefaultNetwork,
    Host,
    HostsView,
    IPAddress,
    NetDevice,
    Networks,
    NetworksView,
    Roles,
)


def render(obj: object) -> str:
    """What a user sees when printing ``obj`` with rich (wide enough not to wrap)."""
    from rich.console import Console

    out = io.StringIO()
    Console(file=out, width=300, color_system=None).print(obj)
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# Host
# --------------------------------------------------------------------------------------------


class TestHost:
    def test_constructor_order_is_address_alias_user_keyfile_port_extra(self):
        h = Host("10.0.0.1", "node-1", "root", "/k", 2222, {"x": 1})
        assert (h.address, h.alias, h.user, h.keyfile, h.port, h.extra) == (
            "10.0.0.1", "node-1", "root", "/k", 2222, {"x": 1})
        assert Host("10.0.0.1").alias == "10.0.0.1"
        assert str(Host("10.0.0.1", alias="n1")) == "n1"

    def test_net_devices_given_as_a_set(self):
        dev = NetDevice("eth0", {IPAddress("10.0.0.1/24")})
        h = Host("10.0.0.1", net_devices={dev})
        assert h.net_devices == {dev}

    def test_equality_and_hash(self):
        a = Host("10.0.0.1", alias="n1", user="root")
        assert a == Host("10.0.0.1", alias="n1", user="root")
        assert hash(a) == hash(Host("10.0.0.1", alias="n1", user="root"))
        assert a != Host("10.0.0.1", alias="n2", user="root")
        assert a != Host("10.0.0.1", alias="n1", user="other")
        assert len({a, Host("10.0.0.1", alias="n1", user="root")}) == 1
        # per-host variables do not change which machine it is
        assert hash(Host("x", extra={"a": 1})) == hash(Host("x"))

    def test_set_get_reset_extra(self):
        h = Host("10.0.0.1", extra={"kept": 1})
        assert h.set_extra(a=1, b="two") is h  # chainable
        assert h.get_extra() == {"kept": 1, "a": 1, "b": "two"}
        copy = h.get_extra()
        copy["c"] = 3  # "a copy of the extra vars"
        assert "c" not in h.extra
        h.reset_extra()  # "recover the extra vars to the original ones"
        assert h.get_extra() == {"kept": 1}

    def test_addresses_and_interfaces(self):
        net = DefaultNetwork("10.0.0.0/24")
        h = Host("n1", net_devices={
            NetDevice("eth0", {IPAddress("10.0.0.2/24", net), IPAddress("fd00::0002/64")}),
            NetDevice("eth1"),
        })
        assert h.filter_interfaces([net]) == ["eth0"]
        assert h.filter_interfaces() == ["eth0"] and h.filter_interfaces(include_unknown=True) == ["eth0", "eth1"]
        assert h.filter_addresses([net]) == ["10.0.0.2/24"]
        assert h.filter_addresses([net], include_unknown=True) == ["10.0.0.2/24", "fd00::2/64"]
        assert h.has_address("10.0.0.2") and h.has_address("fd00:0::2") and not h.has_address("10.0.0.3")

    def test_sortable(self):
        assert sorted([Host("b"), Host("a")])[0].address == "a"


class TestLocalHost:
    def test_local_connection(self):
        h = en.LocalHost()
        assert h.alias == "localhost" and h.address == "localhost"
        assert h.get_extra() == {"ansible_connection": "local"}
        assert en.LocalHost(alias="me").alias == "me"
        assert isinstance(h, Host)
        roles = Roles(local=[h])
        assert list(roles["local"]) == [h]


# --------------------------------------------------------------------------------------------
# Roles / RolesDict
# --------------------------------------------------------------------------------------------


@pytest.fixture
def hosts() -> list[Host]:
    return [Host(f"10.0.0.{i}", alias=f"n{i}") for i in range(1, 7)]


class TestRoles:
    def test_missing_role_is_an_empty_group_that_append_creates(self, hosts):
        roles = Roles()
        assert len(roles["server"]) == 0
        assert "server" not in roles  # reading does not create it
        roles["server"].append(hosts[0])
        assert "server" in roles and list(roles["server"]) == [hosts[0]]
        roles["client"] += [hosts[1], hosts[2]]
        assert list(roles["client"]) == hosts[1:3]
        roles["other"].extend([hosts[3]])
        assert list(roles["other"]) == [hosts[3]]
        early, late = roles["later"], roles["later"]  # two reads before any addition
        early.append(hosts[4])
        late.append(hosts[5])
        assert list(roles["later"]) == [hosts[4], hosts[5]]

    def test_built_from_a_dict_or_keywords(self, hosts):
        roles = Roles({"a": hosts[:2]})
        assert isinstance(roles["a"], HostsView)
        assert Roles(a=hosts[:2]) == roles
        roles["b"] = [hosts[2]]  # a plain list becomes a HostsView
        assert isinstance(roles["b"], HostsView)

    def test_plus_and_plus_equal(self, hosts):
        r1, r2 = Roles(a=hosts[:2]), Roles(a=[hosts[2]], b=[hosts[3]])
        both = r1 + r2
        assert isinstance(both, Roles)
        assert set(both["a"]) == set(hosts[:3]) and set(both["b"]) == {hosts[3]}
        assert len(r1["a"]) == 2  # + makes a new one
        r1 += r2
        assert set(r1["a"]) == set(hosts[:3]) and "b" in r1

    def test_extend_with_roles_and_add_one(self, hosts):
        roles = Roles(a=[hosts[0]])
        roles.extend(Roles(a=[hosts[1]], c=[hosts[2]]))
        assert set(roles["a"]) == {hosts[0], hosts[1]} and set(roles["c"]) == {hosts[2]}
        roles.add_one(hosts[3], ["x", "y"])
        assert hosts[3] in roles["x"] and hosts[3] in roles["y"]

    def test_all(self, hosts):
        roles = Roles(a=hosts[:3], b=hosts[2:5])
        everything = roles.all()
        assert isinstance(everything, HostsView) and set(everything) == set(hosts[:5])
        assert len(everything) == 5

    def test_with_alias_and_with_ip(self, hosts):
        net = DefaultNetwork("192.168.0.0/24")
        hosts[0].net_devices.add(NetDevice("eth1", {IPAddress("192.168.0.7/24", net)}))
        roles = Roles(a=[hosts[0]], b=[hosts[1]], c=[hosts[0], hosts[2]])
        assert roles.with_alias("n1") == {"a", "c"}
        assert roles.with_alias("nope") == set()
        assert roles.with_ip("192.168.0.7") == {"a", "c"}

    def test_set_operations_between_roles(self, hosts):
        roles = Roles(a=hosts[:3], b=hosts[2:4])
        assert set(roles["a"] & roles["b"]) == {hosts[2]}
        assert set(roles["a"] | roles["b"]) == set(hosts[:4])
        assert set(roles["a"] - roles["b"]) == set(hosts[:2])
        assert roles["a"] == set(hosts[:3])

    def test_usual_dict_idioms(self, hosts):
        roles = Roles(a=hosts[:2], b=hosts[2:3])
        assert sorted(roles) == ["a", "b"] and "a" in roles and len(roles) == 2
        assert {k: len(v) for k, v in roles.items()} == {"a": 2, "b": 1}
        assert roles.get("missing") is None


class TestHostsView:
    def test_list_like_operations(self, hosts):
        view = HostsView()
        view.append(hosts[0])
        view.append(hosts[0])  # a set: once
        view.extend(hosts[1:3])
        assert len(view) == 3 and view[0] in view
        assert set(view + [hosts[3]]) == set(hosts[:4])
        assert set([hosts[3]] + view) == set(hosts[:4])
        view -= [hosts[0]]
        assert hosts[0] not in view
        view.remove(hosts[1])
        view.discard(hosts[5])  # absent: no error
        assert list(view) == [hosts[2]]

    def test_scales_to_10000_hosts(self):
        many = [Host(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}") for i in range(10_000)]
        roles = Roles()
        for h in many:
            roles["all"].append(h)
        assert len(roles["all"]) == 10_000 and roles["all"][9_999] == many[-1]


# --------------------------------------------------------------------------------------------
# Networks / DefaultNetwork / IPAddress / NetDevice
# --------------------------------------------------------------------------------------------


class TestNetworks:
    def test_like_roles(self):
        n1, n2 = DefaultNetwork("10.0.0.0/24"), DefaultNetwork("10.1.0.0/24")
        networks = Networks()
        networks["prod"].append(n1)
        networks.add_one(n2, ["prod", "exp"])
        assert set(networks["prod"]) == {n1, n2} and isinstance(networks["exp"], NetworksView)
        assert set((networks + Networks(x=[n1]))["x"]) == {n1}


class TestDefaultNetwork:
    def test_equality_by_cidr(self):
        a = DefaultNetwork("10.0.0.0/24", gateway="10.0.0.254")
        assert a == DefaultNetwork("10.0.0.0/24")
        # the address given may carry host bits: still the same network
        assert a == DefaultNetwork("10.0.0.1/24") and hash(a) == hash(DefaultNetwork("10.0.0.1/24"))
        assert a != DefaultNetwork("10.0.1.0/24")
        assert len({a, DefaultNetwork("10.0.0.1/24", dns="10.0.0.53")}) == 1

    def test_pools(self):
        n = DefaultNetwork("10.0.0.0/24", gateway="10.0.0.1", dns="10.0.0.2",
                           ip_start="10.0.0.10", ip_end="10.0.0.12",
                           mac_start="00:16:3e:00:00:01", mac_end="00:16:3e:00:00:02")
        assert n.has_free_ips and n.has_free_macs
        assert [str(ip) for ip in n.free_ips] == ["10.0.0.10", "10.0.0.11", "10.0.0.12"]
        assert len(list(n.free_macs)) == 2
        assert str(n.gateway) == "10.0.0.1" and str(n.dns) == "10.0.0.2"
        plain = DefaultNetwork("fd00::/64")
        assert not plain.has_free_ips and list(plain.free_ips) == []


class TestIPAddress:
    def test_spellings(self):
        import ipaddress

        net = DefaultNetwork("10.0.0.0/24")
        a = IPAddress("10.0.0.5/24", net)
        assert a.network is net and a.ip == "10.0.0.5"
        assert IPAddress(ipaddress.ip_interface("10.0.0.5/24"), net) == a
        # equality includes the network it belongs to (documented: provenance counts)
        assert IPAddress("10.0.0.5/24") != a and IPAddress("10.0.0.5/24", DefaultNetwork("10.0.0.0/24")) == a
        assert IPAddress("10.0.0.5") == IPAddress("10.0.0.5/32")
        assert IPAddress(int(ipaddress.ip_address("10.0.0.5"))).ip == "10.0.0.5"
        assert IPAddress("fd00::5/64").version == 6


class TestNetDevice:
    def test_set_of_addresses(self):
        dev = NetDevice("eth0", {IPAddress("10.0.0.1/24"), IPAddress("fd00::1/64")})
        assert len(dev.addresses) == 2
        # equal iff same name and same addresses, and usable in a set
        assert dev == NetDevice("eth0", [IPAddress("fd00::1/64"), IPAddress("10.0.0.1/24")])
        assert len({dev, NetDevice("eth0", {IPAddress("10.0.0.1/24"), IPAddress("fd00::1/64")})}) == 1
        assert dev != NetDevice("eth1", set(dev.addresses))
        assert NetDevice("lo").addresses == set()


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class TestErrors:
    def test_invalid_reservation_time_from_a_datetime(self):
        when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
        err = InvalidReservationTime(when)
        assert "2030-01-02 03:04:05" in str(err)
        assert err.datetime == when and err.next_time == when.timestamp()
        naive = InvalidReservationTime(datetime(2030, 1, 2, 3, 4, 5))
        assert "2030-01-02 03:04:05" in str(naive) and naive.next_time == when.timestamp()

    @pytest.mark.parametrize("cls", [NegativeWalltime, InvalidReservationTooOld, NoSlotError,
                                     InvalidReservationCritical, MissingNetworkError])
    def test_documented_errors_exist_with_a_message(self, cls):
        err = cls()
        assert isinstance(err, EnosError) and str(err)
        with pytest.raises(EnosError):
            raise err

    def test_negative_walltime_is_a_configuration_error(self):
        err = NegativeWalltime()
        assert isinstance(err, en.EnosConfigError) and err.path == "$.walltime" and err.rule == "minimum"

    def test_missing_network_and_critical(self):
        err = MissingNetworkError("rennes", "kavlan")
        assert (err.site, err.n_type) == ("rennes", "kavlan") and "kavlan" in str(err) and "rennes" in str(err)
        assert str(InvalidReservationCritical("quota exceeded")) == "quota exceeded"

    def test_top_level_names(self):
        for name in ("EnosReservationError", "EnosHostsError", "NegativeWalltime", "NoSlotError",
                     "InvalidReservationTime", "InvalidReservationTooOld", "InvalidReservationCritical",
                     "MissingNetworkError"):
            assert issubclass(getattr(en, name), EnosError)
            assert getattr(en, name) is getattr(en.errors, name)


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@pytest.fixture
def results() -> Results:
    return Results([
        Result("n1", "uptime", STATUS_OK, stdout="up", rc=0),
        Result("n2", "uptime", "failed", stderr="boom", rc=1),
        Result("n3", "uptime", "unreachable"),
        Result("n1", "other", "skipped"),
    ])


class TestResults:
    def test_status_constants(self, results):
        assert (STATUS_OK, STATUS_FAILED, STATUS_UNREACHABLE, STATUS_SKIPPED) == (
            "OK", "FAILED", "UNREACHABLE", "SKIPPED")
        assert (en.STATUS_OK, en.api.STATUS_FAILED) == (STATUS_OK, STATUS_FAILED)
        assert [r.status for r in results] == [STATUS_OK, STATUS_FAILED, STATUS_UNREACHABLE, STATUS_SKIPPED]
        assert [r.status in DEFAULT_ERROR_STATUSES for r in results] == [False, True, True, False]
        assert en.DEFAULT_ERROR_STATUSES == {STATUS_FAILED, STATUS_UNREACHABLE}

    def test_filter(self, results):
        assert [r.host for r in results.filter(status=STATUS_OK)] == ["n1"]
        assert [r.task for r in results.filter(host="n1")] == ["uptime", "other"]
        assert len(results.filter(task="uptime", status=STATUS_FAILED)) == 1
        assert [r.host for r in results.filter(rc=1)] == ["n2"]
        assert isinstance(results.filter(host="n1"), Results)

    def test_ok_as_a_method(self, results):
        assert [r.host for r in results.ok()] == ["n1"]
        assert [r.host for r in results.ok(task="other")] == []

    def test_match(self, results):
        r = results[0]
        assert r.match(host="n1") and r.match(host="n1", status=STATUS_OK, rc=0)
        assert not r.match(status=STATUS_FAILED)
        assert r.match(status="ok")  # any case
        with pytest.raises(AttributeError, match="no 'nope'"):
            r.match(nope=1)

    def test_to_dict(self, results):
        d = results.to_dict(include_payload=False)[1]
        assert d["host"] == "n2" and d["status"] == "FAILED" and d["rc"] == 1 and "payload" not in d


# --------------------------------------------------------------------------------------------
# enoslib.check() and find_slot
# --------------------------------------------------------------------------------------------


def test_check_is_a_function(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    assert en.check(["g5k"]) in (True, False)
    out = capsys.readouterr().out
    assert "g5k" in out and "core dependencies" in out
    en.check(["Grid'5000", "IOT-lab"])  # EnOSlib's platform names
    out = capsys.readouterr().out
    assert "g5k" in out and "iotlab" in out and "openstack" not in out
    with pytest.raises(ValueError, match="unknown platform"):
        en.check(["nope"])


class _Windows(Provider):
    """A provider free exactly in the given windows (only ``availability`` is implemented: the
    optional planning attributes keep their documented defaults)."""

    configuration_class = StaticConf

    def __init__(self, free: list[tuple[float, float]], walltime: float) -> None:
        super().__init__({"resources": {"machines": [{"roles": ["a"], "address": "127.0.0.1"}],
                                        "networks": []}})
        self.free = IntervalSet([Interval(s, e) for s, e in free])
        self.walltime_seconds = walltime

    def availability(self, start, end):
        return self.free

    def init(self, force_deploy=False, start_time=None, **kwargs):
        raise AssertionError("not started here")

    def destroy(self, wait=False, **kwargs):
        pass

    def is_created(self):
        return False

    def test_slot(self, start, end):
        return any(i.covers(Interval(start, end)) for i in self.free.intervals)

    def set_reservation(self, timestamp):
        pass

    def offset_walltime(self, offset):
        self.walltime_seconds += offset


class TestProvider:
    def test_documented_parameter_names(self):
        static = en.Static({"resources": {"machines": [{"roles": ["a"], "address": "127.0.0.1"}],
                                          "networks": []}})
        now = time.time()
        assert static.test_slot(start_time=now, end_time=now + 60) is True
        static.set_reservation(timestamp=now + 60)
        assert static.is_created() in (True, False)


class TestFindSlot:
    def test_declared_planning_attributes_have_defaults(self):
        p = _Windows([(0, 10)], 5)
        assert (p.slot_margin, p.movable_reservation, p.concurrent_init) == (0.0, False, True)
        assert p.start_times(0, 1) is None and p.availability_by_resource(0, 1) is None

    def test_found(self):
        now = time.time() + 3600
        assert find_slot([_Windows([(now + 100, now + 200)], 50)], 1000, now) == int(now + 100) + (
            0 if float(now + 100).is_integer() else 1)

    def test_impossible_window_raises_no_slot_error(self):
        now = time.time() + 3600
        # free too late for the window
        with pytest.raises(NoSlotError):
            find_slot([_Windows([(now + 5000, now + 6000)], 60)], 100, now)
        # a gap shorter than the walltime
        with pytest.raises(NoSlotError):
            find_slot([_Windows([(now, now + 30)], 60)], 100, now)
        # a negative window contains no start at all
        with pytest.raises(NoSlotError, match="negative"):
            find_slot([_Windows([(now, now + 3000)], 60)], -10, now)
