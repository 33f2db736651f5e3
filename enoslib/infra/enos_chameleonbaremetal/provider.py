"""The Chameleon bare-metal provider: a Blazar lease, then servers booted on it.

>>> conf = (en.ChameleonbaremetalConf.from_settings(key_name="mykey", lease_name="exp",
...                                                 walltime="2:00:00")
...         .add_machine(roles=["server"], flavour="compute_haswell", number=2))
>>> with en.Chameleonbaremetal(conf) as (roles, networks):   # doctest: +SKIP
...     en.run_command("hostname", roles=roles)

``init`` reuses the live lease named ``lease_name`` or creates one (one ``physical:host``
reservation per node type), recorded the moment Blazar acknowledges it; waits until it is
ACTIVE (with its start time shown); boots the servers with flavor ``baremetal`` and the
scheduler hint ``reservation`` of their node type; then as the OpenStack provider.
``destroy`` deletes the servers, what the provider made on the network side, and the lease.

Inside :class:`~enoslib.infra.providers.Providers`, :meth:`start_times` reads the hosts and
their allocations from Blazar and answers the exact start times at which enough hosts of
every node type stay free for the whole walltime, on whole minutes (Blazar's dates have no
seconds); ``async_init`` creates the lease at the chosen time without waiting, and a
refusal (another lease took the hosts) is an :class:`~enoslib.errors.InvalidReservationTime`.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timezone
from typing import Any

from enoslib.errors import (EnosProviderError, EnosTimeoutError, InvalidReservationTime, InvalidReservationTooOld,
                            NegativeWalltime)
from enoslib.infra import slots
from enoslib.infra.configuration import RESERVATION_DATE, seconds_to_walltime, walltime_to_seconds
from enoslib.infra.enos_chameleonbaremetal.client import LIVE_STATES, BlazarClient, status_of
from enoslib.infra.enos_chameleonbaremetal.configuration import ChameleonbaremetalConf
from enoslib.infra.enos_openstack.client import describe_error, transient
from enoslib.infra.enos_openstack.provider import Openstack, _Progress
from enoslib.infra.provider import Time
from enoslib.infra.slots import Interval, IntervalSet, to_timestamp

logger = logging.getLogger(__name__)

BAREMETAL_FLAVOR = "baremetal"


def blazar_date(t: float) -> str:
    """Blazar's date format (minutes, UTC)."""
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M")


def parse_blazar_date(text: str) -> float:
    """A date as Blazar writes it (UTC) as epoch seconds."""
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            continue
    raise ValueError(f"unknown Blazar date {text!r}")


class Chameleonbaremetal(Openstack):
    """Bare-metal nodes on Chameleon, reserved with a Blazar lease.

    Takes the arguments of :class:`~enoslib.infra.enos_openstack.Openstack`, plus
    ``lease_timeout`` (seconds to wait for the lease to become ACTIVE after its start).
    """

    configuration_class = ChameleonbaremetalConf
    provider_conf: ChameleonbaremetalConf
    movable_reservation = False

    def __init__(self, provider_conf: ChameleonbaremetalConf | dict[str, Any], name: str | None = None, *,
                 lease_timeout: float = 1800.0, **kwargs: Any) -> None:
        super().__init__(provider_conf, name, **kwargs)
        self.created["lease"] = []
        self.lease_timeout = lease_timeout
        self.lease: dict[str, Any] | None = None
        self._blazar: BlazarClient | None = None
        date = self.settings.get("reservation")
        self.reservation = (datetime.strptime(date, RESERVATION_DATE).replace(tzinfo=timezone.utc).timestamp()
                            if date else None)

    @property
    def blazar(self) -> BlazarClient:
        if self._blazar is None:
            self._blazar = BlazarClient(self.client)
        return self._blazar

    @property
    def walltime(self) -> float:
        return float(walltime_to_seconds(self.settings["walltime"]))

    # -- planning ------------------------------------------------------------------------------
    def set_reservation(self, timestamp: Time) -> None:
        self.reservation = to_timestamp(timestamp)

    def offset_walltime(self, offset: float) -> None:
        new = self.walltime + offset
        if new <= 0:
            raise NegativeWalltime(f"{self.name}: walltime {self.settings['walltime']} offset by {offset:g}s "
                                   "is not positive")
        self.provider_conf.walltime = seconds_to_walltime(new)

    def _host_windows(self, start: float, end: float) -> dict[str, list[IntervalSet]]:
        """Per node type needed, each host's free windows within ``[start, end]``."""
        needed = self.provider_conf.node_types()
        busy: dict[str, list[Interval]] = {}
        for alloc in self.blazar.allocations():
            for r in alloc.get("reservations") or []:
                if self.lease is not None and r.get("lease_id") == self.lease.get("id"):
                    continue  # our own lease is not in our way
                busy.setdefault(str(alloc["resource_id"]), []).append(
                    Interval(parse_blazar_date(r["start_date"]), parse_blazar_date(r["end_date"])))
        window = IntervalSet([Interval(start, end)])
        out: dict[str, list[IntervalSet]] = {t: [] for t in needed}
        for host in self.blazar.hosts():
            kind = host.get("node_type")
            if kind in out and str(host.get("reservable", True)).lower() != "false":
                out[kind].append(window.difference(IntervalSet(busy.get(str(host["id"]), []))))
        return out

    def availability_by_resource(self, start: Time, end: Time) -> dict[str, IntervalSet]:
        """Per node type, when enough of its hosts are free at once."""
        needed = self.provider_conf.node_types()
        out = {}
        for kind, frees in self._host_windows(to_timestamp(start), to_timestamp(end)).items():
            out[f"{kind} hosts"] = _at_least(frees, needed[kind])
        return out

    def availability(self, start: Time, end: Time) -> IntervalSet:
        sets = list(self.availability_by_resource(start, end).values())
        return sets[0].intersection(*sets[1:]) if sets else IntervalSet([Interval(to_timestamp(start),
                                                                                  to_timestamp(end))])

    def start_times(self, start: Time, end: Time) -> IntervalSet:
        """Whole minutes ``t`` in ``[start, end]`` at which enough hosts of every node type are
        each free for ``[t, t + walltime)``."""
        s, e = to_timestamp(start), to_timestamp(end)
        needed = self.provider_conf.node_types()
        wall = self.walltime
        sets = []
        for kind, frees in self._host_windows(s, e + wall).items():
            sets.append(_at_least([f.windows_of_length(wall) for f in frees], needed[kind]))
        feasible = sets[0].intersection(*sets[1:]) if sets else IntervalSet([Interval(s, e)])
        points = []
        for interval in feasible.clip(Interval(s, e)):
            t = math.ceil(interval.start / 60) * 60
            while t <= interval.end:
                if interval.contains(t):
                    points.append(Interval.point(t))
                t += 60
        return IntervalSet(points)

    def test_slot(self, start_time: Time, end_time: Time) -> bool:
        s, e = to_timestamp(start_time), to_timestamp(end_time)
        return bool(self.availability(s, e).covers(Interval(s, e)))

    # -- the lease -----------------------------------------------------------------------------
    def async_init(self, start_time: Time | None = None, **kwargs: Any) -> None:
        if start_time is not None:
            self.set_reservation(start_time)
        self._ensure_lease()

    def _before_boot(self) -> None:
        self._ensure_lease()
        self._wait_lease()

    def _find_live_lease(self, states: tuple[str, ...] = LIVE_STATES) -> dict[str, Any] | None:
        name = self.settings["lease_name"]
        for lease in self.blazar.leases():
            if lease.get("name") == name and lease.get("status") in states:
                return lease
        return None

    def _ensure_lease(self) -> dict[str, Any]:
        if self.lease is not None:
            found = self.blazar.lease(self.lease["id"])
            if found is not None and found.get("status") in LIVE_STATES:
                self.lease = found
                return found
            self.lease = None
        found = self._find_live_lease()
        if found is not None:
            logger.info("%s: reusing lease %s (%s)", self.name, found["name"], found["status"])
            self.lease = found
            self._record("lease", found["id"])
            return found
        now = self.now()
        start = self.reservation
        if start is not None and start < now - 60:
            raise InvalidReservationTooOld(f"{self.name}: reservation date {blazar_date(start)} is in the past")
        when = "now" if start is None or start <= now else blazar_date(math.ceil(start / 60) * 60)
        begin = now if when == "now" else parse_blazar_date(when)
        end = blazar_date(begin + self.walltime) if when != "now" else blazar_date(math.ceil((now + self.walltime) / 60) * 60)
        reservations = [{"resource_type": "physical:host", "min": n, "max": n,
                         "resource_properties": f'["=", "$node_type", "{kind}"]', "hypervisor_properties": ""}
                        for kind, n in self.provider_conf.node_types().items()]
        c = self.client
        delay = c.backoff
        for attempt in range(c.retries + 1):
            try:
                lease = self.blazar.create_lease(self.settings["lease_name"], when, end, reservations)
            except Exception as exc:  # noqa: BLE001
                if transient(exc) and attempt < c.retries:
                    self.sleep(delay)
                    delay = min(2 * delay, c.max_backoff)
                    found = self._find_live_lease(LIVE_STATES + ("ERROR",))  # made anyway?
                    if found is not None:
                        lease = found
                        break
                    continue
                code = status_of(exc)
                if code == 409:
                    raise InvalidReservationTime(f"{self.name}: Blazar refused the lease at {when}: "
                                                 f"{describe_error(exc)}") from exc
                raise EnosProviderError(f"{self.name}: creating lease {self.settings['lease_name']!r} failed: "
                                        f"{describe_error(exc)}") from exc
            break
        self._record("lease", lease["id"])
        self.lease = lease
        return lease

    def _wait_lease(self) -> None:
        assert self.lease is not None
        lease = self.lease
        deadline: float | None = None
        with _Progress(f"{self.name}: lease {lease['name']}", 1) as bar:
            while True:
                status = lease.get("status")
                if status == "ACTIVE":
                    bar.update(1)
                    break
                if status not in LIVE_STATES:
                    raise EnosProviderError(f"{self.name}: lease {lease['name']} is {status}")
                start = parse_blazar_date(lease["start_date"])
                if deadline is None or start + self.lease_timeout > deadline:
                    deadline = start + self.lease_timeout
                if self.now() > deadline:
                    raise EnosTimeoutError(f"{self.name}: lease {lease['name']} not ACTIVE "
                                           f"{self.lease_timeout:.0f}s after its start")
                self.sleep(max(self.poll_interval, min(60.0, start - self.now())))
                found = self.blazar.lease(lease["id"])
                if found is None:
                    raise EnosProviderError(f"{self.name}: lease {lease['name']} vanished")
                lease = self.lease = found

    # -- servers on the lease ------------------------------------------------------------------
    def _flavor_name(self, flavour: str) -> str:
        return BAREMETAL_FLAVOR

    def _server_extra(self, spec: dict[str, Any]) -> dict[str, Any]:
        assert self.lease is not None
        kinds = list(self.provider_conf.node_types())
        reservation = self.lease["reservations"][kinds.index(spec["flavour"])]
        return {"scheduler_hints": {"reservation": reservation["id"]}}

    def _after_destroy(self) -> list[str]:
        left = []
        ids = list(self.created["lease"])
        try:
            ids += [le["id"] for le in self.blazar.leases()
                    if le.get("name") == self.settings["lease_name"] and le.get("status") != "TERMINATED"
                    and le["id"] not in ids]
        except Exception as exc:  # noqa: BLE001
            left.append(f"listing leases ({describe_error(exc)})")
        for lease_id in ids:
            try:
                self._retry_busy(self.blazar.delete_lease, lease_id)
                self._forget("lease", lease_id)
            except Exception as exc:  # noqa: BLE001
                left.append(f"lease {lease_id} ({describe_error(exc)})")
        self.lease = None
        return left

    def is_created(self) -> bool:
        return self._find_live_lease() is not None


def _at_least(sets: list[IntervalSet], n: int) -> IntervalSet:
    """Times in at least ``n`` of ``sets``."""
    if n <= 0:
        return IntervalSet.everything()
    if len(sets) < n:
        return IntervalSet()
    return slots._sweep([s.intervals for s in sets], lambda state: sum(state) >= n)
