"""Configuration of the FIT/IoT-LAB provider (fields: ``schemas/iotlab.json``).

>>> conf = (IotlabConf.from_settings(job_name="demo", walltime="00:30")
...         .add_machine(roles=["sensor"], archi="m3:at86rf231", site="grenoble", number=2,
...                      image="hello.elf", profile="energy")
...         .add_machine(roles=["linux"], archi="a8:at86rf231", site="grenoble")
...         .add_network(roles=["lan"], site="grenoble")
...         .add_profile(name="energy", archi="m3",
...                      consumption=ConsumptionConfiguration(power=True, period=1100, average=64)))
>>> IotlabConf.from_dictionary(conf.to_dict()) == conf
True
"""

from __future__ import annotations

import copy
import math
from typing import Any, Mapping

from enoslib.infra.configuration import BaseConfiguration, ItemConfiguration, validate

SCHEMA = "iotlab"


def _clean(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


class BoardConfiguration(ItemConfiguration):
    """``number`` boards of architecture ``archi`` on ``site`` (IoT-LAB picks which)."""

    __slots__ = ()
    schema_name = SCHEMA
    kind = "machines"
    _def = "board"  # a machine group is a board group or a node list: fields from its own definition

    def __init__(self, *, roles: list[str] | None = None, archi: str | None = None, site: str | None = None,
                 number: int | None = None, image: str | None = None, profile: str | None = None,
                 mobile: bool | None = None) -> None:
        self._fill(roles=roles, archi=archi, site=site, number=number, image=image, profile=profile,
                   mobile=mobile)

    def _fill(self, **fields: Any) -> None:
        ItemConfiguration.__init__(self)
        object.__setattr__(self, "_pointer", f"/$defs/{self._def}")
        for name, value in fields.items():
            if value is not None:
                setattr(self, name, value)

    @classmethod
    def _class_for(cls, data: dict[str, Any]) -> type:
        return PhysNodeConfiguration if "hostname" in data else BoardConfiguration

    @classmethod
    def _view(cls, conf: BaseConfiguration, index: int, data: dict[str, Any]) -> Any:
        item = super()._view(conf, index, data)
        object.__setattr__(item, "_pointer", f"/$defs/{item._def}")
        return item


class PhysNodeConfiguration(BoardConfiguration):
    """Nodes chosen by name (``hostname=["m3-1.grenoble.iot-lab.info", ...]``)."""

    __slots__ = ()
    _def = "physical"

    def __init__(self, *, roles: list[str] | None = None, hostname: list[str] | None = None,  # type: ignore[override]
                 image: str | None = None, profile: str | None = None) -> None:
        self._fill(roles=roles, hostname=hostname, image=image, profile=profile)


class NetworkConfiguration(ItemConfiguration):
    """The production network of ``site`` (its IPv6/IPv4 prefixes), given ``roles``."""

    __slots__ = ()
    schema_name = SCHEMA
    kind = "networks"

    def __init__(self, *, roles: list[str] | None = None, type: str | None = None,  # noqa: A002
                 site: str | None = None) -> None:
        super().__init__(roles=roles, type=type, site=site)


class _Part(dict):  # type: ignore[type-arg]
    """A profile part (radio, consumption): a validated dict."""

    _def: str = ""

    def __init__(self, **fields: Any) -> None:
        super().__init__(_clean(**fields))
        validate(SCHEMA, dict(self), pointer=self._def, path="$")


class RadioConfiguration(_Part):
    """Radio monitoring: ``mode`` rssi (``period``, ``num_per_channel``) or sniffer (one channel)."""

    _def = "/$defs/profile/properties/radio"

    def __init__(self, *, mode: str | None = None, num_per_channel: int | None = None, period: int | None = None,
                 channels: list[int] | None = None) -> None:
        super().__init__(mode=mode, num_per_channel=num_per_channel, period=period, channels=channels)


class ConsumptionConfiguration(_Part):
    """Consumption monitoring: which values (``current``, ``power``, ``voltage``), ``period``
    (µs) and ``average`` (samples)."""

    _def = "/$defs/profile/properties/consumption"

    def __init__(self, *, current: bool | None = None, power: bool | None = None, voltage: bool | None = None,
                 period: int | None = None, average: int | None = None) -> None:
        super().__init__(current=current, power=power, voltage=voltage, period=period, average=average)


class ProfileConfiguration(_Part):
    """A monitoring profile ``name`` for ``archi`` (m3, a8, custom)."""

    _def = "/$defs/profile"

    def __init__(self, *, name: str | None = None, archi: str | None = None, power: str | None = None,
                 radio: Mapping[str, Any] | None = None, consumption: Mapping[str, Any] | None = None) -> None:
        super().__init__(name=name, archi=archi, power=power, radio=None if radio is None else dict(radio),
                         consumption=None if consumption is None else dict(consumption))


class IotlabConf(BaseConfiguration):
    """One FIT/IoT-LAB experiment."""

    __slots__ = ()
    schema_name = SCHEMA
    machine_class = BoardConfiguration
    network_class = NetworkConfiguration

    # -- builders -----------------------------------------------------------------------------
    def add_profile(self, profile: Mapping[str, Any] | None = None, **fields: Any) -> IotlabConf:
        """Add a monitoring profile (a :class:`ProfileConfiguration`, a dict, or its fields)."""
        item = dict(profile) if profile is not None else dict(ProfileConfiguration(**fields))
        profiles = self._data.setdefault("monitoring", {}).setdefault("profiles", [])
        validate(SCHEMA, item, pointer="/$defs/profile", path=f"$.monitoring.profiles[{len(profiles)}]")
        profiles.append(copy.deepcopy(item))
        return self

    add_profile_conf = add_profile

    # -- what the provider reads ----------------------------------------------------------------
    def machine_specs(self) -> list[dict[str, Any]]:
        """The machine groups with their defaults filled in."""
        out = []
        for m in self.to_dict(defaults=True)["resources"]["machines"]:
            # the items are an if/then/else: the defaults of the group's own definition apply
            out.append(m if "hostname" in m else {"number": 1, "mobile": False, **m})
        return out

    def network_specs(self) -> list[dict[str, Any]]:
        return self.to_dict(defaults=True)["resources"].get("networks", [])

    def profiles(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self._data.get("monitoring", {}).get("profiles", []))

    @property
    def walltime_minutes(self) -> int:
        """The duration IoT-LAB is asked for, in minutes (H:MM:SS rounded up)."""
        parts = [int(p) for p in self.walltime.split(":")]
        seconds = parts[0] * 3600 + parts[1] * 60 + (parts[2] if len(parts) == 3 else 0)
        return max(1, math.ceil(seconds / 60))

    def experiment_type(self) -> str:
        """``physical`` (nodes by name) or ``alias`` (boards by architecture)."""
        return "physical" if any("hostname" in m for m in self.machine_specs()) else "alias"

    # -- cross-field rules ------------------------------------------------------------------------
    def _check(self) -> None:
        machines = self.machine_specs()
        kinds = {"hostname" in m for m in machines}
        if len(kinds) > 1:
            i = next(i for i, m in enumerate(machines) if ("hostname" in m) != ("hostname" in machines[0]))
            self._fail(f"$.resources.machines[{i}]", "IoT-LAB experiments take nodes either by name (hostname) "
                       "or by architecture (archi/site/number), not both", "experiment-type")
        seen: dict[str, int] = {}
        for i, m in enumerate(machines):
            for k, name in enumerate(m.get("hostname", [])):
                if name in seen:
                    self._fail(f"$.resources.machines[{i}].hostname[{k}]",
                               f"{name} is already in machines[{seen[name]}]", "unique")
                seen[name] = i
        profiles = self.profiles()
        names = [p["name"] for p in profiles]
        for i, p in enumerate(profiles):
            if names.index(p["name"]) != i:
                self._fail(f"$.monitoring.profiles[{i}].name", f"profile {p['name']!r} is defined twice", "unique")
            radio = p.get("radio")
            if radio and radio["mode"] == "sniffer" and len(radio["channels"]) != 1:
                self._fail(f"$.monitoring.profiles[{i}].radio.channels",
                           "the sniffer mode listens on exactly one channel", "sniffer-channel")
            if radio and radio["mode"] == "rssi" and ("period" not in radio or "num_per_channel" not in radio):
                self._fail(f"$.monitoring.profiles[{i}].radio",
                           "the rssi mode needs 'period' and 'num_per_channel'", "rssi")
        for i, m in enumerate(machines):
            if m.get("profile") is not None and m["profile"] not in names:
                known = ", ".join(names) or "none defined in $.monitoring.profiles"
                self._fail(f"$.resources.machines[{i}].profile",
                           f"no monitoring profile named {m['profile']!r} (known: {known})", "reference")
        sites = {m["site"] for m in machines if "site" in m} | {
            h.split(".")[1] for m in machines for h in m.get("hostname", [])}
        for i, n in enumerate(self.network_specs()):
            if n["site"] not in sites:
                self._fail(f"$.resources.networks[{i}].site",
                           f"no machine of the experiment is on site {n['site']!r} (sites: {', '.join(sorted(sites))})",
                           "reference")


#: the configuration class of this provider under EnOSlib's conventional name
Configuration = IotlabConf
