"""The FIT/IoT-LAB provider.

>>> conf = (en.IotlabConf.from_settings(job_name="demo", walltime="00:30")
...         .add_machine(roles=["sensor"], archi="m3:at86rf231", site="grenoble", number=2, image="fw.elf")
...         .add_machine(roles=["linux"], archi="a8:at86rf231", site="grenoble"))
>>> with en.Iotlab(conf) as (roles, networks):                        # doctest: +SKIP
...     en.run_command("uname -a", roles=roles["linux"])
...     with en.IotlabSerial(roles["sensor"][0], interactive=True) as s:
...         s.write("help\\n"); print(s.read())

``init`` creates the configuration's monitoring profiles, then submits one experiment named
``job_name`` (``iotlabcli``), or reloads the live experiment of that name (a second run of the
script never submits twice); waits for it to run, with progress; reflashes the boards whose
firmware failed at start (a few rounds); on a reload with ``force_deploy``, flashes every firmware
and applies every profile again. Roles hold :class:`IotlabSensor` boards and
:class:`IotlabHost` Linux nodes (A8, reached as root through the site's frontend).

The experiment is recorded the moment IoT-LAB acknowledges it: a failure or Ctrl-C before it
runs stops it, and ``destroy`` stops it by id and, as a fallback, every live experiment of that
name (a submission whose answer was lost).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from enoslib.errors import EnosConfigError, EnosFilePathError, EnosProviderError, EnosReservationError
from enoslib.infra.enos_iotlab.client import ACTIVE_STATES, ENDED_STATES, IotlabClient
from enoslib.infra.enos_iotlab.configuration import IotlabConf
from enoslib.infra.enos_iotlab.objects import (SITE_NETWORKS, IotlabHost, IotlabNetwork, IotlabSensor, frontend,
                                               ssh_enabled)
from enoslib.infra.provider import Provider, Time, to_timestamp
from enoslib.infra.slots import CapacityTimeline, Interval, IntervalSet
from enoslib.objects import Host, Networks, Roles

logger = logging.getLogger(__name__)

FLASH_ROUNDS = 3
UNUSABLE_STATES = ("Absent", "Suspected", "Dead")


class Iotlab(Provider):
    """FIT/IoT-LAB through its REST API (``iotlabcli``).

    ``client``: an :class:`~enoslib.infra.enos_iotlab.client.IotlabClient`, a dict of its
    settings (``user``, ``password``, ``url``, ``poll_interval`` ...), or None (credentials from
    ``~/.iotlabrc``, URL from ``IOTLAB_API_URL`` or ``~/.iotlab.api-url``).
    """

    configuration_class = IotlabConf
    provider_conf: IotlabConf

    def __init__(self, provider_conf: IotlabConf | dict[str, Any], name: str | None = None, *,
                 client: IotlabClient | dict[str, Any] | None = None) -> None:
        super().__init__(provider_conf, name)
        self._client_spec = client
        self._client: IotlabClient | None = client if isinstance(client, IotlabClient) else None
        self.exp_id: int | None = None
        self.experiment: dict[str, Any] = {}
        # whether a submission may have reached IoT-LAB since the last release: then destroy
        # also stops the live experiments of that name
        self._posted = False
        self.sensors: list[IotlabSensor] = []
        self.hosts: list[IotlabHost] = []
        self.networks: list[IotlabNetwork] = []
        self.reloaded = False

    @property
    def client(self) -> IotlabClient:
        if self._client is None:
            spec = self._client_spec if isinstance(self._client_spec, dict) else {}
            self._client = IotlabClient(**spec)
        return self._client

    @property
    def walltime_seconds(self) -> float:  # type: ignore[override]
        return self.provider_conf.walltime_minutes * 60.0

    # -- lifecycle --------------------------------------------------------------------------
    def init(self, force_deploy: bool = False, start_time: Time | None = None, **kwargs: Any) -> tuple[Roles, Networks]:
        if start_time is not None:
            self.set_reservation(start_time)
        self.reserve()
        try:
            self.wait()
            self._deploy(force_deploy)
        except BaseException:
            self._release_on_failure()
            raise
        return self._to_enoslib()

    def async_init(self, start_time: Time | None = None, **kwargs: Any) -> None:
        """Submit (or reload) the experiment without waiting for it to run."""
        if start_time is not None:
            self.set_reservation(start_time)
        self.reserve()

    def reserve(self) -> int:
        """Reload the live experiment named ``job_name``, or submit it; its id."""
        self._check_files()
        conf = self.provider_conf
        try:
            for profile in conf.profiles():
                self.client.add_profile(_api_profile(profile))
            found = self.client.active_experiments(conf.job_name)
            if found:
                self.exp_id = int(found[0]["id"])
                self.reloaded = True
                if len(found) > 1:
                    logger.warning("%d live experiments named %r (%s): using %s", len(found), conf.job_name,
                                   ", ".join(str(e["id"]) for e in found), self.exp_id)
                logger.info("reloading IoT-LAB experiment %s (%r)", self.exp_id, conf.job_name)
                return self.exp_id
            self._posted = True
            start = None if not conf.start_time else int(to_timestamp(_utc(conf.start_time)))
            self.exp_id = self.client.submit(conf.job_name, conf.walltime_minutes, self._groups(), start)
            self.reloaded = False
            logger.info("submitted IoT-LAB experiment %s (%r)", self.exp_id, conf.job_name)
            return self.exp_id
        except BaseException:
            self._release_on_failure()
            raise

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait until the experiment runs (progress shown); the experiment."""
        if self.exp_id is None:
            raise EnosProviderError("no IoT-LAB experiment to wait for: call init() or async_init() first")
        client = self.client
        deadline = None if timeout is None else client.now() + timeout
        with _Status(f"IoT-LAB experiment {self.exp_id}") as status:
            while True:
                exp = client.experiment(self.exp_id)
                self.experiment = exp
                state = exp.get("state")
                if state == "Running":
                    status.update(f"IoT-LAB experiment {self.exp_id}: Running")
                    return exp
                if state in ENDED_STATES or state not in (*ACTIVE_STATES, "Finishing"):
                    raise EnosReservationError(f"IoT-LAB experiment {self.exp_id} ({self.provider_conf.job_name!r}) "
                                               f"is {state} instead of Running")
                when = exp.get("scheduled_date") or exp.get("start_date")
                status.update(f"IoT-LAB experiment {self.exp_id}: {state}" +
                              (f" (scheduled {when})" if when and not when.startswith("1970") else ""))
                if deadline is not None and client.now() >= deadline:
                    from enoslib.errors import EnosTimeoutError

                    raise EnosTimeoutError(f"IoT-LAB experiment {self.exp_id} not running after {timeout:.0f}s")
                client.sleep(client.poll_interval)

    def _release_on_failure(self) -> None:
        if self.exp_id is None and not self._posted:
            return
        from enoslib._signals import sigint_deferred

        logger.warning("IoT-LAB reservation failed: stopping experiment %s", self.exp_id or f"named {self.provider_conf.job_name!r}")
        with sigint_deferred():
            try:
                self.destroy()
            except Exception as exc:  # noqa: BLE001 - the original error matters more
                logger.error("stopping the experiment after the failure failed too: %s", exc)

    def destroy(self, wait: bool = False, **kwargs: Any) -> None:
        """Stop the experiment (by id, then every live one of that name when a submission may
        have been lost). Safe to call twice."""
        if self.exp_id is None and not self._posted:
            return
        client = self.client
        ids = [self.exp_id] if self.exp_id is not None else []
        if self._posted:
            ids += [int(e["id"]) for e in client.active_experiments(self.provider_conf.job_name)
                    if int(e["id"]) not in ids]
        for exp_id in ids:
            if client.stop(exp_id):
                logger.info("stopped IoT-LAB experiment %s", exp_id)
        if wait:
            for exp_id in ids:
                while client.experiment(exp_id).get("state") not in ENDED_STATES:
                    client.sleep(client.poll_interval)
        self.exp_id, self._posted, self.experiment = None, False, {}
        self.sensors, self.hosts, self.networks = [], [], []

    def is_created(self) -> bool:
        return bool(self.client.active_experiments(self.provider_conf.job_name))

    # -- firmware, profiles, mapping ---------------------------------------------------------
    def _check_files(self) -> None:
        for i, m in enumerate(self.provider_conf.machine_specs()):
            if m.get("image") and not Path(m["image"]).expanduser().is_file():
                raise EnosFilePathError(m["image"], f"invalid iotlab configuration at $.resources.machines[{i}].image: "
                                                    f"firmware {m['image']} not found")

    def _groups(self) -> list[dict[str, Any]]:
        groups = []
        for m in self.provider_conf.machine_specs():
            g = dict(m)
            if g.get("image"):
                g["image"] = str(Path(g["image"]).expanduser())
            groups.append(g)
        return groups

    def _deploy(self, force: bool) -> None:
        client, exp_id = self.client, self.exp_id
        assert exp_id is not None
        nodes = client.experiment_nodes(exp_id)
        self.hosts, self.sensors, assigned = [], [], self._assign(nodes)
        failed = set((self.experiment.get("deploymentresults") or {}).get("1", []))
        for i, m in enumerate(self.provider_conf.machine_specs()):
            names = [n["network_address"] for n in assigned[i]]
            image = m.get("image") and str(Path(m["image"]).expanduser())
            if image:
                todo = names if (force and self.reloaded) else [n for n in names if n in failed]
                self._flash(image, todo)
            if m.get("profile") and force and self.reloaded:
                _, bad = client.node_command("profile", exp_id, names, m["profile"])
                if bad:
                    raise EnosProviderError(f"profile {m['profile']!r} could not be applied on {', '.join(bad)}")
        by_address = {}
        for i, m in enumerate(self.provider_conf.machine_specs()):
            for n in assigned[i]:
                address = n["network_address"]
                site, uid, archi = n.get("site") or address.split(".")[1], str(n.get("uid", "")), n.get("archi", "")
                if address in by_address:
                    by_address[address].roles.extend(r for r in m["roles"] if r not in by_address[address].roles)
                    continue
                if ssh_enabled(address):
                    item: Any = IotlabHost(address, m["roles"], site, uid, archi, login=client.user,
                                           extra={"ansible_host_key_checking": False})
                    self.hosts.append(item)
                else:
                    item = IotlabSensor(address, m["roles"], site, uid, archi, m.get("image"), client, exp_id,
                                        frontend_host=Host(frontend(site), user=client.user))
                    self.sensors.append(item)
                by_address[address] = item
        self.networks = []
        for n in self.provider_conf.network_specs():
            prefixes = SITE_NETWORKS.get(n["site"])
            if prefixes is None:
                logger.warning("no known network prefixes for site %s", n["site"])
                continue
            for family in ("ipv6", "ipv4"):
                self.networks.append(IotlabNetwork(n["roles"], prefixes[family], site=n["site"],
                                                   name=f"{n['site']}-{family}"))

    def _flash(self, image: str, nodes: Sequence[str]) -> None:
        todo = list(nodes)
        for attempt in range(1, FLASH_ROUNDS + 1):
            if not todo:
                return
            logger.info("flashing %s on %d node(s) (round %d)", os.path.basename(image), len(todo), attempt)
            _, todo = self.client.node_command("flash", self.exp_id, todo, image)  # type: ignore[arg-type]
        if todo:
            raise EnosProviderError(f"firmware {os.path.basename(image)} could not be flashed on {', '.join(todo)} "
                                    f"after {FLASH_ROUNDS} rounds")

    def _assign(self, nodes: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
        """The experiment's nodes of each machine group, the same on every run (sorted names)."""
        free = sorted(nodes, key=lambda n: _sort_key(n["network_address"]))
        out: dict[int, list[dict[str, Any]]] = {}
        specs = self.provider_conf.machine_specs()
        for i, m in enumerate(specs):
            if "hostname" in m:
                have = {n["network_address"]: n for n in free}
                missing = [h for h in m["hostname"] if h not in have]
                if missing:
                    raise EnosProviderError(f"$.resources.machines[{i}]: node(s) {', '.join(missing)} not in "
                                            f"experiment {self.exp_id}")
                out[i] = [have[h] for h in m["hostname"]]
                continue
            fits = [n for n in free if _archi_matches(n, m["archi"]) and _site(n) == m["site"]]
            if len(fits) < m["number"]:
                raise EnosProviderError(f"$.resources.machines[{i}]: experiment {self.exp_id} has {len(fits)} "
                                        f"{m['archi']} node(s) on {m['site']} left for this group, {m['number']} asked")
            out[i] = fits[:m["number"]]
            taken = {n["network_address"] for n in out[i]}
            free = [n for n in free if n["network_address"] not in taken]
        return out

    def _to_enoslib(self) -> tuple[Roles, Networks]:
        roles = Roles()
        for item in [*self.sensors, *self.hosts]:
            roles.add_one(item, item.roles)
        networks = Networks()
        for net in self.networks:
            networks.add_one(net, net.roles)
        return roles, networks

    # -- results on the frontends ---------------------------------------------------------------
    def collect_data(self, dest: str | os.PathLike[str]) -> Path:
        """Fetch the experiment's folder (``~/.iot-lab/<exp_id>``: serial logs, pcaps,
        consumption and radio measures) from every frontend into ``dest/<site>/``."""
        from enoslib.api import get

        if self.exp_id is None:
            raise EnosProviderError("no IoT-LAB experiment: nothing to collect")
        sites = sorted({s.site for s in self.sensors} | {h.site for h in self.hosts})
        fronts = [Host(frontend(s), alias=s, user=self.client.user) for s in sites]
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        get(fronts, f".iot-lab/{self.exp_id}", dest)
        return dest

    # -- planning ---------------------------------------------------------------------------
    def availability_by_resource(self, start: Time, end: Time) -> dict[str, IntervalSet]:
        s, e = to_timestamp(start), to_timestamp(end)
        window = Interval(s, e)
        busy: dict[str, list[tuple[float, float, int]]] = {}
        gantt = self.client.gantt(s, e)
        out: dict[str, IntervalSet] = {}
        for name, pool, amount in self._demands():
            reservations = []
            for exp in gantt:
                if self.exp_id is not None and int(exp.get("id", -1)) == self.exp_id:
                    continue
                held = sum(1 for n in exp.get("nodes", []) if n in pool)
                if held:
                    begin = _parse_date(exp.get("start_date"))
                    reservations.append((begin, begin + 60.0 * float(exp.get("submitted_duration") or 0), held))
            busy[name] = reservations
            out[name] = CapacityTimeline(len(pool), reservations).available(amount, window)
        return out

    def _demands(self) -> list[tuple[str, set[str], int]]:
        demands = []
        for m in self.provider_conf.machine_specs():
            if "hostname" in m:
                usable = {n["network_address"] for n in self.client.testbed_nodes()
                          if n["network_address"] in m["hostname"] and n.get("state") not in UNUSABLE_STATES}
                demands.append((f"nodes {', '.join(m['hostname'])}", usable, len(m["hostname"])))
            else:
                usable = {n["network_address"] for n in self.client.testbed_nodes(site=m["site"], archi=m["archi"])
                          if n.get("state") not in UNUSABLE_STATES}
                demands.append((f"{m['archi']} nodes on {m['site']}", usable, m["number"]))
        return demands

    def availability(self, start: Time, end: Time) -> IntervalSet:
        result = IntervalSet([Interval(to_timestamp(start), to_timestamp(end))])
        for free in self.availability_by_resource(start, end).values():
            result = result.intersection(free)
        return result

    def test_slot(self, start_time: Time, end_time: Time) -> bool:
        s, e = to_timestamp(start_time), to_timestamp(end_time)
        if e <= s:
            return False
        return any(i.start <= s and i.end >= e for i in self.availability(s, e))

    def set_reservation(self, timestamp: Time) -> None:
        self.provider_conf.start_time = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(to_timestamp(timestamp)))

    def offset_walltime(self, offset: float) -> None:
        seconds = self.provider_conf.walltime_minutes * 60 + int(offset)
        if seconds < 60:
            from enoslib.errors import NegativeWalltime

            raise NegativeWalltime(f"invalid iotlab configuration at $.walltime: {self.provider_conf.walltime} "
                                   f"{offset:+.0f}s is less than a minute")
        minutes = -(-seconds // 60)
        self.provider_conf.walltime = f"{minutes // 60:02d}:{minutes % 60:02d}"


def _api_profile(p: dict[str, Any]) -> dict[str, Any]:
    """A configuration profile as the API takes it (``profilename``, ``nodearch`` ...)."""
    consumption = p.get("consumption")
    if consumption is not None:
        consumption = {"current": False, "power": False, "voltage": False, **consumption}
    radio = p.get("radio")
    if radio is not None:
        radio = {"period": None, "num_per_channel": None, **radio}
    return {"profilename": p["name"], "nodearch": p["archi"], "power": p.get("power", "dc"),
            "consumption": consumption, "radio": radio}


def _utc(text: str) -> Any:
    from datetime import datetime, timezone

    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)


def _parse_date(text: str | None) -> float:
    from datetime import datetime, timezone

    if not text:
        return time.time()
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def _site(node: dict[str, Any]) -> str:
    return str(node.get("site") or node["network_address"].split(".")[1])


def _archi_matches(node: dict[str, Any], archi: str) -> bool:
    have = str(node.get("archi") or "")
    return have == archi or (not have and node["network_address"].startswith(archi.split(":")[0] + "-"))


def _sort_key(address: str) -> tuple[str, str, int]:
    host, _, site = address.partition(".")
    kind, _, number = host.rpartition("-")
    return (site, kind, int(number) if number.isdigit() else 0)


class _Status:
    """A rich status line while waiting (plain log lines when not on a terminal)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._status: Any = None
        self._last = ""

    def __enter__(self) -> _Status:
        from rich.console import Console

        console = Console(stderr=True)
        if console.is_terminal:
            self._status = console.status(self.text)
            self._status.__enter__()
        return self

    def update(self, text: str) -> None:
        if text == self._last:
            return
        self._last = text
        if self._status is not None:
            self._status.update(text)
        else:
            logger.info("%s", text)

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(*exc)
