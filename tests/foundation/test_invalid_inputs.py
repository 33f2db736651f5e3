"""Seeded randomized invalid-input trials over every provider schema in ``schemas/``.

Valid configurations are mutated (wrong types, trailing newlines, Unicode digits, control
characters, out-of-range and huge numbers, floats and bools for ints, unknown keys, missing
keys, empty strings and arrays, broken cross-field rules ...). Every mutant must be refused
with an :class:`EnosConfigError` whose message is non-empty and names a JSON path related to
what was changed: never accepted, never another exception. Hand-written valid variations must
stay accepted. Each configuration goes through one of the three ways a user gives one: a dict
to ``from_dictionary``, a dict to the provider's constructor, or the builders.

Whether a mutated value is invalid is decided by an oracle independent of jsonschema's
``re.search`` semantics: a schema pattern ``^body$(?!\\n)`` means ``re.fullmatch(body)``.
"""

from __future__ import annotations

import copy
import json
import math
import random
import re
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import enoslib as en
from enoslib.errors import EnosConfigError
from enoslib.infra.configuration import BaseConfiguration, load_schema, schema_names

SEED = 20261128
INVALID_PER_SCHEMA = 1200
VALID_PER_SCHEMA = 120

Path = tuple[Any, ...]

# -- valid configurations ------------------------------------------------------------------------

BASES: dict[str, list[dict[str, Any]]] = {
    "openstack": [
        {
            "key_name": "k", "image": "debian-12", "user": "debian", "rc_file": "/home/u/openrc.sh",
            "prefix": "exp", "gateway": True, "gateway_user": "cc", "configure_network": True,
            "dns_nameservers": ["8.8.8.8"], "network": {"name": "net"},
            "subnet": {"name": "sub", "cidr": "10.87.23.0/24"},
            "allocation_pool": {"start": "10.87.23.10", "end": "10.87.23.100"},
            "resources": {"machines": [{"roles": ["srv"], "flavour": "m1.small", "number": 2},
                                       {"roles": ["cli"], "flavour": "m1.tiny", "number": 1}],
                          "networks": ["lan"]},
        },
    ],
    "chameleonkvm": [
        {"key_name": "k", "image": "CC-Ubuntu22.04", "user": "cc", "network": {"name": "sharednet1"},
         "resources": {"machines": [{"roles": ["srv"], "flavour": "m1.small", "number": 1}], "networks": ["n"]}},
    ],
    "chameleonbaremetal": [
        {"key_name": "k", "lease_name": "exp", "walltime": "02:00:00", "reservation": "2030-01-01 10:00:00",
         "resources": {"machines": [{"roles": ["srv"], "flavour": "compute_haswell", "number": 2}],
                       "networks": ["n"]}},
    ],
    "g5k": [
        {
            "job_name": "exp-1", "walltime": "02:30:00", "queue": "default", "project": "myproj",
            "job_type": ["deploy"], "env_name": "debian12-min", "env_version": 2,
            "key": "/root/.ssh/id.pub", "force_deploy": False, "deploy_tries": 3,
            "check_deployed_command": "test -f /etc/ok", "dhcp": True, "root_access": True,
            "wait_ssh": True, "ssh_jump": "auto", "access_host": "access.grid5000.fr",
            "monitor": "prom_.*",
            "resources": {
                "machines": [
                    {"roles": ["server"], "cluster": "paravance", "nodes": 2, "min": 1,
                     "reservable_disks": False, "primary_network": "vlan", "secondary_networks": ["vlan2"]},
                    {"roles": ["client", "all"], "nodes": 1, "primary_network": "vlan",
                     "servers": ["parasilo-1.rennes.grid5000.fr", "parasilo-2.rennes.grid5000.fr"]},
                ],
                "networks": [
                    {"id": "vlan", "type": "kavlan", "roles": ["exp"], "site": "rennes"},
                    {"id": "vlan2", "type": "kavlan-local", "roles": ["exp2"], "site": "rennes"},
                    {"id": "sub", "type": "slash_22", "roles": ["vms"], "site": "rennes"},
                ],
            },
        },
        {
            "job_name": "b", "walltime": "100:00:00", "reservation": "2030-06-01 10:00:00",
            "queue": "production", "job_type": "allow_classic_ssh",
            "oargrid_jobids": [["rennes", 123], ["nancy", "456"]],
            "resources": {
                "machines": [{"roles": ["a"], "cluster": "gros", "nodes": 3}],
                "networks": [{"id": "p", "type": "prod", "roles": ["net"], "site": "nancy"}],
            },
        },
        {"resources": {"machines": [{"roles": ["x"], "cluster": "paravance"}]}},
    ],
    "local": [
        {
            "name": "exp-a1", "backend": "netns",
            "resources": {
                "machines": [
                    {"roles": ["server", "web"], "number": 2, "networks": ["n1", "n2"]},
                    {"roles": ["client"], "number": 3, "networks": ["n1"]},
                ],
                "networks": [
                    {"id": "n1", "roles": ["lan"], "cidr": "10.71.0.0/24"},
                    {"id": "n2", "roles": ["data"], "cidr": "192.168.5.0/28"},
                ],
            },
        },
        {"resources": {"machines": [{"roles": ["x"]}]}},
    ],
    "static": [
        {
            "resources": {
                "machines": [
                    {"roles": ["srv", "all"], "address": "10.0.0.1", "alias": "srv-1", "user": "root",
                     "keyfile": "/root/.ssh/id_rsa", "port": 22, "extra": {"k": "v"}},
                    {"roles": ["c"], "address": "node.example.org"},
                ],
                "networks": [
                    {"roles": ["lan"], "cidr": "10.0.0.0/24", "gateway": "10.0.0.254", "dns": "8.8.8.8",
                     "start": "10.0.0.10", "end": "10.0.0.20",
                     "mac_start": "02:00:00:00:00:01", "mac_end": "02:00:00:00:00:ff"},
                    {"roles": ["v6"], "cidr": "fd00::/64", "gateway": "fd00::1"},
                ],
            }
        },
        {"resources": {"machines": [{"roles": ["x"], "address": "h"}]}},
    ],
    "iotlab": [
        {
            "job_name": "exp-1", "walltime": "01:30", "start_time": "2030-06-01 10:00:00",
            "resources": {
                "machines": [
                    {"roles": ["sensor", "all"], "archi": "m3:at86rf231", "site": "grenoble", "number": 2,
                     "mobile": False, "image": "/fw/hello.elf", "profile": "watch"},
                    {"roles": ["linux"], "archi": "a8:at86rf231", "site": "grenoble"},
                ],
                "networks": [{"roles": ["lan"], "type": "prod", "site": "grenoble"}],
            },
            "monitoring": {"profiles": [
                {"name": "watch", "archi": "m3", "power": "dc",
                 "consumption": {"current": True, "power": True, "voltage": False, "period": 1100, "average": 64},
                 "radio": {"mode": "sniffer", "channels": [22]}},
                {"name": "rssi", "archi": "a8",
                 "radio": {"mode": "rssi", "channels": [11, 26], "period": 100, "num_per_channel": 1}},
            ]},
        },
        {
            "walltime": "0:10:30",
            "resources": {"machines": [
                {"roles": ["r"], "hostname": ["m3-1.grenoble.iot-lab.info", "a8-2.lille.iot-lab.info"],
                 "image": "fw.bin"},
                {"roles": ["s"], "hostname": ["nrf52dk-3.saclay.iot-lab.info"]},
            ]},
        },
        {"resources": {"machines": [{"roles": ["x"], "archi": "m3:at86rf231", "site": "lille"}]}},
    ],
    "vmong5k": [
        {
            "job_name": "vms-1", "walltime": "02:00:00", "queue": "default", "project": "p",
            "job_type": ["exotic"], "reservation": "2030-01-01 10:00:00", "image": "/grid5000/virt-images/d.qcow2",
            "skip": 2, "strategy": "copy", "subnet_type": "slash_16", "working_dir": "/tmp/vms",
            "domain_type": "kvm", "enable_taktuk": False, "force_deploy": False,
            "resources": {
                "machines": [
                    {"roles": ["db", "all"], "cluster": "paravance", "number": 2, "flavour": "large",
                     "vcore_type": "core", "macs": ["00:16:3e:9c:00:02", "00:16:3e:9c:00:03"]},
                    {"roles": ["web"], "cluster": "parasilo", "flavour_desc": {"core": 2, "mem": 1024, "disk": 5},
                     "undercloud": [{"address": "parasilo-1.rennes.grid5000.fr", "user": "root", "port": 22,
                                     "extra": {"gateway": "access.grid5000.fr"}}],
                     "extra_devices": "<disk type='file'>\n</disk>"},
                ],
                "networks": ["vm-net"],
            },
        },
        {"resources": {"machines": [{"roles": ["x"], "cluster": "nova"}]}},
    ],
    "vagrant": [
        {
            "backend": "libvirt", "box": "generic/debian11", "user": "root", "name_prefix": "exp",
            "config_extra": "config.vm.boot_timeout = 600\n",
            "resources": {
                "machines": [
                    {"roles": ["server", "web"], "number": 2, "flavour": "small"},
                    {"roles": ["client"], "flavour_desc": {"core": 2, "mem": 1024}, "name_prefix": "cli"},
                ],
                "networks": [
                    {"roles": ["lan"], "cidr": "10.71.0.0/24"},
                    {"roles": ["data"], "cidr": "192.168.5.0/28"},
                ],
            },
        },
        {"resources": {"machines": [{"roles": ["x"]}]}},
    ],
}


def _set(path: Path, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(conf: dict[str, Any]) -> None:
        *parent, last = path
        _get(conf, tuple(parent))[last] = value
    return apply


def _rename_network(old: str, new: str) -> Callable[[dict[str, Any]], None]:
    def apply(conf: dict[str, Any]) -> None:
        for n in conf["resources"]["networks"]:
            n["id"] = new if n["id"] == old else n["id"]
        for m in conf["resources"]["machines"]:
            m["networks"] = [new if x == old else x for x in m.get("networks", [])]
    return apply


# variations that keep base 0 valid, combined at random (no over-rejection)
VALID_TWEAKS: dict[str, list[Callable[[dict[str, Any]], None]]] = {
    "openstack": [
        _set(("prefix",), "a.b-c_1"), _set(("rc_file",), ""), _set(("gateway",), False),
        _set(("resources", "machines", 0, "number"), 50), _set(("dns_nameservers",), []),
        _set(("subnet", "cidr"), "10.87.0.0/16"),
    ],
    "chameleonkvm": [
        _set(("prefix",), "x"), _set(("rc_file",), "/tmp/CHI-openrc.sh"), _set(("gateway",), False),
        _set(("resources", "machines", 0, "number"), 3),
    ],
    "chameleonbaremetal": [
        _set(("walltime",), "0:30:00"), _set(("lease_name",), "my lease"), _set(("prefix",), "bm"),
        _set(("resources", "machines", 0, "number"), 1),
    ],
    "g5k": [
        _set(("job_name",), "A" * 100), _set(("job_name",), "x.y:z+1_-"), _set(("job_name",), "9"),
        _set(("walltime",), "0:00:01"), _set(("walltime",), "1000:59:59"), _set(("walltime",), "12345:00:00"),
        _set(("reservation",), "2030-12-31 23:59:59"), _set(("reservation",), "2028-02-29 00:00:00"),
        _set(("queue",), "testing"), _set(("queue",), "production"),
        _set(("job_type",), "deploy"), _set(("job_type",), ["deploy", "exotic", "timesharing=user,*"]),
        _set(("job_type",), ["deploy", "inner=12345", "monitor=nvidia_.*"]),
        _set(("env_name",), "https://example.org/env.yaml"), _set(("env_name",), "debian12-nfs@user"),
        _set(("env_version",), 2024010100), _set(("deploy_tries",), 1), _set(("deploy_tries",), 10),
        _set(("check_deployed_command",), "test -f '/etc/a b' && true"), _set(("key",), "/home/a b/k.pub"),
        _set(("ssh_jump",), "never"), _set(("access_host",), "user@access.grid5000.fr"),
        _set(("oargrid_jobids",), [["rennes", 1], ["lyon", "2"]]),
        _set(("resources", "machines", 0, "nodes"), 10**6), _set(("resources", "machines", 0, "min"), 0),
        _set(("resources", "machines", 0, "roles"), ["rôle", "r1", "web-1.x", "UPPER"]),
        _set(("resources", "machines", 0, "cluster"), "a" * 63),
        _set(("resources", "machines", 1, "servers"), ["parasilo-10.rennes.grid5000.fr"]),
        _set(("resources", "networks", 2, "type"), "slash_16"),
        _set(("resources", "networks", 0, "type"), "kavlan-global"),
        _set(("resources", "networks", 2, "id"), "s" * 64),
        _set(("resources", "networks", 2, "site"), "lyon"),
    ],
    "local": [
        _set(("name",), "a"), _set(("name",), "abcdefghijkl"), _set(("name",), "a-b-c"), _set(("name",), "9x9"),
        _set(("backend",), "loopback"), _set(("backend",), "auto"),
        _set(("resources", "machines", 0, "number"), 5), _set(("resources", "machines", 1, "number"), 240),
        _set(("resources", "machines", 0, "roles"), ["Web_1.x", "rôle", "all"]),
        _set(("resources", "machines", 0, "roles"), ["a" * 55]),
        lambda c: c["resources"]["machines"][0]["networks"].reverse(),
        _set(("resources", "networks", 0, "cidr"), "172.16.0.0/12"),
        _set(("resources", "networks", 0, "cidr"), "10.71.0.1/24"),
        _set(("resources", "networks", 1, "cidr"), "192.168.200.0/29"),
        _rename_network("n2", "n-2"),
        _set(("resources", "networks", 1, "roles"), ["data", "any", "ü"]),
    ],
    "static": [
        _set(("resources", "machines", 0, "port"), 1), _set(("resources", "machines", 0, "port"), 65535),
        _set(("resources", "machines", 0, "address"), "fe80::1"),
        _set(("resources", "machines", 0, "address"), "[::1]"),
        _set(("resources", "machines", 0, "address"), "héte.example"),
        _set(("resources", "machines", 0, "alias"), "a-1"), _set(("resources", "machines", 0, "user"), "u@ad"),
        _set(("resources", "machines", 0, "keyfile"), "/home/my keys/id"),
        _set(("resources", "machines", 0, "extra"), {"x": [1, None, {"y": 2.5}], "ansible_port": 2222}),
        _set(("resources", "networks", 0, "mac_start"), "02-00-00-00-00-01"),
        _set(("resources", "networks", 0, "mac_end"), "02:00:00:00:FF:FF"),
        _set(("resources", "networks", 0, "end"), "10.0.0.10"),
        _set(("resources", "networks", 0, "dns"), "2001:4860:4860::8888"),
        _set(("resources", "networks", 0, "cidr"), "10.0.0.0/16"),
        _set(("resources", "networks", 1, "cidr"), "fd00::1/64"),
        _set(("resources", "networks", 1, "gateway"), "fd00::ffff"),
    ],
    "iotlab": [
        _set(("job_name",), "A" * 64), _set(("job_name",), "a.b_c-1"), _set(("walltime",), "9999:59"),
        _set(("walltime",), "0:01:00"), _set(("start_time",), "2031-12-31 23:59:59"),
        _set(("resources", "machines", 0, "number"), 1000), _set(("resources", "machines", 0, "mobile"), True),
        _set(("resources", "machines", 0, "image"), "my fw.hex"),
        _set(("resources", "machines", 1, "archi"), "nrf52840dk:multi"),
        _set(("monitoring", "profiles", 0, "power"), "battery"),
        _set(("monitoring", "profiles", 0, "consumption", "period"), 8244),
        _set(("monitoring", "profiles", 1, "radio", "num_per_channel"), 255),
    ],
    "vmong5k": [
        _set(("job_name",), "A" * 100), _set(("walltime",), "1000:00:00"), _set(("queue",), "besteffort"),
        _set(("job_type",), "night"), _set(("job_type",), []), _set(("skip",), 0), _set(("strategy",), "cow"),
        _set(("subnet_type",), "slash_22"), _set(("domain_type",), "qemu"), _set(("image",), "/home/u/my-image.qcow2"),
        _set(("resources", "machines", 0, "number"), 1), _set(("resources", "machines", 0, "flavour"), "tiny"),
        _set(("resources", "machines", 1, "flavour_desc"), {"core": 64, "mem": 1}),
        _set(("resources", "machines", 1, "undercloud"), []),
        _set(("resources", "machines", 1, "extra_devices"), ""),
        _set(("resources", "networks"), ["a", "b"]),
    ],
    "vagrant": [
        _set(("backend",), "virtualbox"), _set(("box",), "enoslib/debian12"), _set(("user",), "vagrant"),
        _set(("name_prefix",), "a"), _set(("name_prefix",), "A-1"), _set(("config_extra",), ""),
        _set(("config_extra",), "config.vm.provider :libvirt do |l|\n  l.cpus = 2\nend"),
        _set(("resources", "machines", 0, "number"), 1), _set(("resources", "machines", 0, "flavour"), "extra-large"),
        _set(("resources", "machines", 1, "flavour_desc"), {"core": 1, "mem": 64}),
        _set(("resources", "networks", 0, "cidr"), "172.16.0.0/12"),
        _set(("resources", "networks", 0, "cidr"), "10.71.0.1/24"),
        _set(("resources", "networks", 1, "roles"), ["data", "ü"]),
    ],
}


# -- cross-field rules: mutations a JSON schema cannot refuse, _check must ------------------------

def _cross(path: Path, *changes: tuple[Path, Any]) -> tuple[Path, list[tuple[Path, Any]]]:
    return path, list(changes)


def _cross_set(path: Path, value: Any) -> tuple[Path, list[tuple[Path, Any]]]:
    return _cross(path, (path, value))


DELETE = object()
CROSS: dict[str, list[tuple[Path, list[tuple[Path, Any]]]]] = {
    "openstack": [
        _cross_set(("allocation_pool", "start"), "10.9.0.1"),
        _cross_set(("allocation_pool", "end"), "10.87.23.5"),
    ],
    "chameleonkvm": [],
    "chameleonbaremetal": [],
    "g5k": [
        _cross_set(("resources", "machines", 0, "min"), 3),
        _cross_set(("resources", "networks", 1, "id"), "vlan"),
        _cross_set(("resources", "machines", 0, "primary_network"), "nope"),
        _cross_set(("resources", "machines", 0, "primary_network"), "sub"),
        _cross(("resources", "machines", 0, "secondary_networks", 0),
               (("resources", "machines", 0, "secondary_networks"), ["vlan"])),
        _cross(("resources", "machines", 0, "secondary_networks", 0),
               (("resources", "machines", 0, "secondary_networks"), ["sub"])),
        # kavlan without job type deploy or env_name is completed with a DeprecationWarning, as
        # EnOSlib does (tests/compat/test_configuration_compat.py), so it is not listed here
        _cross(("reservation",), (("job_type",), ["deploy", "besteffort"]), (("reservation",), "2030-01-01 00:00:00")),
        _cross(("queue",), (("job_type",), ["deploy", "besteffort"]), (("queue",), "production")),
        _cross_set(("walltime",), "0:00:00"),
        _cross(("resources", "machines", 1), (("resources", "machines", 1, "cluster"), "parasilo")),
        _cross(("resources", "machines", 1, "servers", 1),
               (("resources", "machines", 1, "servers", 1), "paravance-2.rennes.grid5000.fr")),
        _cross(("resources", "machines", 1, "servers", 1),
               (("resources", "machines", 1, "servers", 1), "parasilo-2.nancy.grid5000.fr")),
        _cross_set(("resources", "machines", 1, "nodes"), 3),
        _cross(("resources", "machines", 1, "primary_network"), (("resources", "networks", 0, "site"), "nancy")),
        _cross_set(("oargrid_jobids",), [["rennes", 1], ["rennes", 2]]),
    ],
    "local": [
        _cross_set(("resources", "networks", 1, "id"), "n1"),
        _cross_set(("resources", "networks", 0, "cidr"), "8.8.8.0/24"),
        _cross_set(("resources", "networks", 0, "cidr"), "fd00::/64"),
        _cross_set(("resources", "networks", 1, "cidr"), "10.71.0.128/25"),
        _cross(("resources", "machines", 1, "networks", 0), (("resources", "machines", 1, "networks"), ["n9"])),
        _cross_set(("resources", "networks", 1, "cidr"), "192.168.5.0/30"),
        _cross_set(("resources", "networks", 0, "cidr"), "10.71.0.0/32"),
    ],
    "static": [
        _cross_set(("resources", "networks", 0, "start"), "10.0.1.10"),
        _cross_set(("resources", "networks", 0, "end"), "10.0.0.9"),
        _cross_set(("resources", "networks", 0, "gateway"), "10.0.1.1"),
        _cross_set(("resources", "networks", 1, "gateway"), "10.0.0.1"),
        _cross_set(("resources", "networks", 0, "mac_end"), "02:00:00:00:00:00"),
        _cross(("resources", "networks", 0), (("resources", "networks", 0, "end"), DELETE)),
        _cross(("resources", "networks", 0), (("resources", "networks", 0, "mac_start"), DELETE)),
    ],
    "iotlab": [
        _cross_set(("resources", "machines", 0, "profile"), "nope"),
        _cross_set(("resources", "networks", 0, "site"), "lille"),
        _cross_set(("monitoring", "profiles", 1, "name"), "watch"),
        _cross_set(("monitoring", "profiles", 0, "radio", "channels"), [11, 12]),
        _cross(("monitoring", "profiles", 1, "radio"), (("monitoring", "profiles", 1, "radio", "period"), DELETE)),
    ],
    "vmong5k": [
        _cross_set(("resources", "machines", 0, "flavour_desc"), {"core": 1, "mem": 512}),
        _cross(("resources", "machines", 0, "macs"), (("resources", "machines", 0, "number"), 3)),
        _cross(("resources", "machines", 1), (("resources", "machines", 1, "cluster"), DELETE),
               (("resources", "machines", 1, "undercloud"), [])),
    ],
    "vagrant": [
        _cross(("resources", "machines", 0, "flavour_desc"),
               (("resources", "machines", 0, "flavour_desc"), {"core": 1, "mem": 512})),
        _cross_set(("resources", "networks", 1, "cidr"), "10.71.0.128/25"),
        _cross_set(("resources", "networks", 0, "cidr"), "fd00::/64"),
        _cross_set(("resources", "networks", 1, "cidr"), "192.168.5.0/29"),
        _cross_set(("resources", "networks", 0, "cidr"), "192.168.121.0/24"),
    ],
}

# -- schema walking ------------------------------------------------------------------------------


def _get(data: Any, path: Path) -> Any:
    for key in path:
        data = data[key]
    return data


def _resolve(root: dict[str, Any], node: Any) -> dict[str, Any]:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = root
        for key in node["$ref"][2:].split("/"):
            target = target[key]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _walk(root: dict[str, Any], schemas: list[dict[str, Any]], value: Any, path: Path) -> Iterator[tuple[Path, list[dict[str, Any]], Any]]:
    """Every location of a valid configuration with the subschemas that apply to it."""
    yield path, schemas, value
    if isinstance(value, dict):
        for key, item in value.items():
            subs = [_resolve(root, s["properties"][key]) for s in schemas if key in s.get("properties", {})]
            if subs:
                yield from _walk(root, subs, item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            subs = []
            for s in schemas:
                # JSON-schema 2020-12: items applies only past the prefixItems
                prefix = s.get("prefixItems", [])
                if i < len(prefix):
                    subs.append(_resolve(root, prefix[i]))
                elif "items" in s:
                    subs.append(_resolve(root, s["items"]))
            if subs:
                yield from _walk(root, subs, item, (*path, i))


# -- the oracle: is this value valid for these subschemas? (None: cannot tell) ------------------

_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"),
               (dict, "object"), (type(None), "null"))  # bool before int: True is an int in Python


def _json_type(value: Any) -> str:
    return next((name for kind, name in _JSON_TYPES if isinstance(value, kind)), "other")


def _body(pattern: str) -> str:
    assert pattern.startswith("^") and pattern.endswith("$(?!\\n)"), pattern
    return pattern[1:-len("$(?!\\n)")]


def _valid(schemas: list[dict[str, Any]], value: Any, *, changed_format: bool) -> bool | None:
    for s in schemas:
        verdict = _valid_one(s, value, changed_format=changed_format)
        if verdict is not True:
            return verdict
    return True


def _valid_one(s: dict[str, Any], value: Any, *, changed_format: bool) -> bool | None:
    kind = _json_type(value)
    types = s.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        if kind not in types and not (kind == "integer" and "number" in types):
            return False
    if "enum" in s and value not in s["enum"]:
        return False
    if kind == "string":
        if "pattern" in s and not re.fullmatch(_body(s["pattern"]), value):
            return False
        if len(value) < s.get("minLength", 0):
            return False
        if "format" in s:
            # every mutation of a valid walltime/date/cidr/ip/mac below breaks it
            return not changed_format
    if kind in ("integer", "number"):
        if "minimum" in s and value < s["minimum"]:
            return False
        if "maximum" in s and value > s["maximum"]:
            return False
    if kind == "array":
        if not s.get("minItems", 0) <= len(value) <= s.get("maxItems", math.inf):
            return False
        if s.get("uniqueItems") and len({json.dumps(v, sort_keys=True) for v in value}) < len(value):
            return False
        return None  # items: not judged here
    if kind == "object":
        return None
    return True


# -- mutations of one location -------------------------------------------------------------------

POOL = [None, True, False, 7, 0, -1, 2.0, 2.5, "x", "", [], ["x"], {}, {"a": 1}, float("nan"), float("inf")]
FORMAT_EXAMPLES = {
    "walltime": ["1:60:00", "1:00", "-1:00:00", "1:0:00", "0x1:00:00", "1:00:00.5", "１:00:00", "1:00:00\n",
                 "1:00:00 ", " 1:00:00", "1h", "2 days", "1:00:60", "٣:00:00"],
    "reservation-date": ["2026-02-30 10:00:00", "2026-1-1 10:00:00", "2026-01-01T10:00:00",
                         "2026-01-01  10:00:00", "2026-01-01 25:00:00", "2026-01-01 10:00", "２０２６-01-01 10:00:00",
                         "2026-01-01 10:00:00\n", "2026-01-01\t10:00:00", "tomorrow", "1735689600"],
    "cidr": ["10.0.0.0", "10.0.0.0/33", "10/8", "10.1/16", "10.0.0.0/8\n", "10.0.0.0/255.0.0.0", "256.0.0.0/8",
             "10.0.0.0/-1", "１0.0.0.0/8", "::/129", "10.0.0.0 /8", "010.0.0.0/8", "fe80::1%eth0/64", "10.0.0.0/8/8"],
    "ip-address": ["1", "1.2.3", "1.2.3.4/32", "256.1.1.1", "01.2.3.4", "1.2.3.4\n", "fe80::1%eth0", "0x1.2.3.4",
                   "1.2.3.4 ", "１.2.3.4", "::g", "1.2.3.4.5", "localhost"],
    "mac-address": ["1", "aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:ff:00", "aa:bb-cc:dd:ee:ff", "aabb.ccdd.eeff",
                    "gg:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:ff\n", "aabbccddeeff", "a:b:c:d:e:f", "０2:00:00:00:00:01",
                    "02:00:00:00:00:01 "],
}
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def _string_variants(v: str) -> list[str]:
    k = len(v) // 2
    out = [v + "\n", "\n" + v, v + "\r\n", v + " ", " " + v, v[:k] + " " + v[k:], v + "\t", v + "\x00",
           v[:k] + "\x1b" + v[k:], "", "-" + v, v + "é", "é" + v, v + "a" * 120, v + "\u00a0", v + "\u2028",
           v + "\x7f", v + "\n" + v]
    if any(c.isdigit() for c in v):
        out += [v.translate(FULLWIDTH), v.translate(ARABIC)]
    return [o for o in out if o != v]


def _int_variants(v: int, s: dict[str, Any]) -> list[Any]:
    out = [float(v), v + 0.5, True, False, str(v), None, -1, -(10**12), 0, 10**100, math.nan, math.inf, -math.inf]
    if "minimum" in s:
        out.append(s["minimum"] - 1)
    if "maximum" in s:
        out.append(s["maximum"] + 1)
    return out


Mutation = tuple[Path, str, Any]  # (path, op, argument); op: set | delete | addkey


def _mutations(root: dict[str, Any], conf: dict[str, Any]) -> list[Mutation]:
    found: list[Mutation] = []
    for path, schemas, value in _walk(root, [_resolve(root, root)], conf, ()):
        merged: dict[str, Any] = {}
        for s in schemas:
            for key, item in s.items():
                merged.setdefault(key, item)
        candidates: list[tuple[Any, bool]] = [(p, False) for p in POOL]
        if isinstance(value, str):
            candidates += [(x, True) for x in _string_variants(value)]
            if "format" in merged:
                candidates += [(x, False) for x in FORMAT_EXAMPLES[merged["format"]]]
                found += [(path, "set", x) for x in FORMAT_EXAMPLES[merged["format"]]]
            if "enum" in merged:
                candidates += [(value.upper(), False), ("x" + value, False)]
        elif isinstance(value, bool):
            candidates += [("true", False), (1, False), ("yes", False)]
        elif isinstance(value, int):
            candidates += [(x, False) for x in _int_variants(value, merged)]
        elif isinstance(value, list):
            if value:
                candidates += [([*value, value[0]], False), (value[:1], False), ([*value, None], False),
                               ([*value, 3], False), ([*value, "\n"], False), ([[*value]], False)]
        if path and "format" not in merged:
            for x, changed in candidates:
                if _json_type(x) == _json_type(value) == "array" and x and _valid(schemas, x, changed_format=False):
                    # an array of the right size: invalid if one of its new items is
                    item_schemas = [_resolve(root, s["items"]) for s in schemas if "items" in s]
                    if item_schemas and any(_valid(item_schemas, i, changed_format=False) is False for i in x[len(value):]):
                        found.append((path, "set", x))
                    continue
                if _valid(schemas, x, changed_format=changed) is False:
                    found.append((path, "set", x))
        elif path:
            found += [(path, "set", x) for x, changed in candidates
                      if not isinstance(x, str) or changed or _valid(schemas, x, changed_format=True) is False]
        if isinstance(value, dict) and merged.get("additionalProperties") is False:
            known = list(merged.get("properties", {}))
            found += [(path, "addkey", k) for k in ("zz_unknown", "", 5, "Roles", "role", "resources ", "\n")
                      if k not in known]
            found += [(path, "addkey", k + "s") for k in known if k + "s" not in known]
            for key in merged.get("required", []):
                if key in value:
                    found.append(((*path, key), "delete", None))
            for branch in merged.get("anyOf", []):
                # delete every way of satisfying the anyOf
                keys = [k for b in merged["anyOf"] for k in b.get("required", [])]
                if all(k in value for k in branch.get("required", [])):
                    found.append((path, "delete-all", keys))
    return found


def _apply(conf: dict[str, Any], mutation: Mutation) -> None:
    path, op, arg = mutation
    if op == "set":
        if not path:
            raise KeyError("root")
        _get(conf, path[:-1])[path[-1]] = copy.deepcopy(arg)
    elif op == "delete":
        del _get(conf, path[:-1])[path[-1]]
    elif op == "addkey":
        target = _get(conf, path)
        if arg in target:
            raise KeyError(arg)
        target[arg] = "x"
    elif op == "delete-all":
        target = _get(conf, path)
        for key in arg:
            target.pop(key, None)


def _path_text(path: Path) -> str:
    return "$" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path)


def _related(a: str, b: str) -> bool:
    """Same location, or one inside the other."""
    def inside(x: str, y: str) -> bool:
        return x == y or (x.startswith(y) and x[len(y)] in ".[")
    return inside(a, b) or inside(b, a)


# -- the three ways a configuration reaches us ---------------------------------------------------

def _classes(name: str) -> tuple[type[BaseConfiguration], type[Any]]:
    providers = [en.G5k, en.Static, en.Local, en.Iotlab, en.Vagrant, en.Openstack, en.Chameleonkvm,
                 en.Chameleonbaremetal, en.VMonG5k]
    for provider in providers:
        if provider.configuration_class.schema_name == name:
            return provider.configuration_class, provider
    raise AssertionError(f"no provider for schema {name!r}: add it to this test")


def _through_builders(conf_class: type[BaseConfiguration], data: Any) -> bool:
    """Build with from_settings/add_network/add_machine when the data allows it."""
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        return False
    resources = data.get("resources")
    if not isinstance(resources, dict) or set(resources) - {"machines", "networks"}:
        return False
    groups = [resources.get(kind, []) for kind in ("networks", "machines")]
    if not all(isinstance(g, list) and all(isinstance(i, dict) and all(isinstance(k, str) for k in i) for i in g)
               for g in groups) or "machines" not in resources:
        return False
    conf = conf_class.from_settings(**{k: v for k, v in data.items() if k != "resources"})
    for network in groups[0]:
        conf.add_network(**copy.deepcopy(network))
    for machine in groups[1]:
        conf.add_machine(**copy.deepcopy(machine))
    conf.finalize()
    return True


def _g5k_builder_differs(data: Any) -> bool:
    """The G5k builders give networks an id when missing and take network descriptions (dicts)
    in place of ids: not errors there."""
    try:
        resources = data["resources"]
        refs = [[m.get("primary_network"), *m.get("secondary_networks", [])] for m in resources["machines"]]
        return any("id" not in n for n in resources.get("networks", [])) or any(
            isinstance(r, dict) for group in refs for r in group
        )
    except (KeyError, TypeError, AttributeError):
        return False


def _submit(name: str, data: Any, way: int) -> None:
    conf_class, provider = _classes(name)
    if way == 2 and name == "g5k" and _g5k_builder_differs(data):
        way = 0
    if way == 0 or (way == 2 and not _through_builders(conf_class, data)):
        conf_class.from_dictionary(data).finalize()
    elif way == 1:
        provider(data)


# -- the trials ----------------------------------------------------------------------------------

def _invalid_trials(name: str, rng: random.Random) -> Iterator[tuple[Any, list[str]]]:
    """Distinct invalid configurations of schema ``name``, with the paths that were changed."""
    root = load_schema(name)
    per_base = [(base, _mutations(root, base)) for base in BASES[name]]
    seen: set[str] = set()
    yield from ((x, ["$"]) for x in (None, [], "x", 3, [BASES[name][0]]))
    for path, cross in CROSS[name]:
        conf = copy.deepcopy(BASES[name][0])
        for where, value in cross:
            if value is DELETE:
                _get(conf, where[:-1]).pop(where[-1], None)
            else:
                _get(conf, where[:-1])[where[-1]] = value
        seen.add(repr(conf))
        yield conf, [_path_text(path)]
    attempts = 0
    while len(seen) < INVALID_PER_SCHEMA and attempts < 20 * INVALID_PER_SCHEMA:
        attempts += 1
        base, mutations = rng.choice(per_base)
        chosen = rng.sample(mutations, 1 if rng.random() < 0.7 else rng.randint(2, 3))
        conf = copy.deepcopy(base)
        try:
            for m in chosen:
                _apply(conf, m)
        except (KeyError, IndexError, TypeError, AttributeError):
            continue  # an earlier mutation removed what a later one changes
        key = repr(conf)
        if key in seen:
            continue
        seen.add(key)
        paths = [_path_text(p) + (f".{a}" if op == "addkey" else "") for p, op, a in chosen]
        yield conf, paths


def _valid_trials(name: str, rng: random.Random) -> Iterator[dict[str, Any]]:
    yield from copy.deepcopy(BASES[name])
    seen: set[str] = set()
    for _ in range(VALID_PER_SCHEMA * 5):
        if len(seen) >= VALID_PER_SCHEMA:
            break
        conf = copy.deepcopy(BASES[name][0])
        for tweak in rng.sample(VALID_TWEAKS[name], rng.randint(1, 4)):
            tweak(conf)
        if repr(conf) not in seen:
            seen.add(repr(conf))
            yield conf


def test_every_schema_is_covered():
    assert sorted(BASES) == sorted(VALID_TWEAKS) == sorted(CROSS) == schema_names()


def test_every_pattern_is_anchored_without_a_trailing_newline():
    """``$`` alone lets ``re.search`` (jsonschema) accept ``"x\\n"``."""
    for name in schema_names():
        for pattern in re.findall(r'"pattern": ("(?:[^"\\]|\\.)*")', json.dumps(load_schema(name))):
            _body(json.loads(pattern))


def test_every_string_field_is_constrained():
    """Free text only inside ``extra``: every string has a pattern, a format or an enum."""
    def strings(node: Any, where: str) -> Iterator[str]:
        if isinstance(node, dict):
            if node.get("type") == "string" or "string" in (node.get("type") or []):
                if not {"pattern", "format", "enum"} & set(node):
                    yield where
            for key, sub in node.items():
                yield from strings(sub, f"{where}/{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                yield from strings(sub, f"{where}/{i}")
    assert [w for name in schema_names() for w in strings(load_schema(name), name)] == []


def test_randomized_invalid_configurations_are_refused_with_a_path(capsys):
    rng = random.Random(SEED)
    generated, accepted, crashed, unclear = 0, [], [], []
    # schemas added later draw after the others, so the earlier ones keep their trials
    for name in sorted(schema_names(), key=lambda n: n in ("openstack", "chameleonkvm", "chameleonbaremetal")):
        for conf, paths in _invalid_trials(name, rng):
            generated += 1
            way = generated % 3
            try:
                _submit(name, conf, way)
            except EnosConfigError as e:
                text = str(e)
                found = [p for p, _, _ in e.errors] or [e.path]
                if not (text.strip() and e.path.startswith("$") and e.path in text
                        and any(_related(f, p) for f in found for p in paths)):
                    unclear.append(f"{name} way={way} changed {paths}: {text!r} (paths {found})")
            except Exception:
                crashed.append(f"{name} way={way} {conf!r}:\n{traceback.format_exc(limit=-3)}")
            else:
                accepted.append(f"{name} way={way} changed {paths}: {conf!r}")
    with capsys.disabled():
        print(f"\ninvalid-input trials: {generated} generated, {len(accepted)} accepted, "
              f"{len(crashed)} crashes, {len(unclear)} unclear errors")
    assert generated >= 3000
    assert accepted == [], f"{len(accepted)} accepted:\n" + "\n".join(accepted[:20])
    assert crashed == [], f"{len(crashed)} crashes:\n" + "\n".join(crashed[:10])
    assert unclear == [], f"{len(unclear)} unclear:\n" + "\n".join(unclear[:20])


def test_valid_configurations_stay_accepted():
    rng = random.Random(SEED)
    refused, count = [], 0
    for name in schema_names():
        for conf in _valid_trials(name, rng):
            for way in range(3):
                count += 1
                try:
                    _submit(name, copy.deepcopy(conf), way)
                except EnosConfigError as e:
                    refused.append(f"{name} way={way}: {e}\n  {conf!r}")
    assert count >= 900
    assert refused == [], f"{len(refused)} refused:\n" + "\n".join(refused[:20])


@pytest.mark.parametrize("name", ["g5k", "local", "static"])
def test_mutations_reach_every_field(name):
    """The generator covers every field of the full base configuration."""
    root = load_schema(name)
    touched = {p[:2] if p and p[0] == "resources" else p[:1] for p, _, _ in _mutations(root, BASES[name][0])}
    fields = {(k,) for k in BASES[name][0] if k != "resources"}
    assert fields <= touched


# -- the examples of issue 11, one by one ----------------------------------------------------------

def _local(**settings: Any) -> en.LocalConf:
    return en.LocalConf.from_settings(**settings).add_machine(roles=["a"])


@pytest.mark.parametrize(
    ("build", "path"),
    [
        (lambda: _local(name="rpx-"), "$.name"),
        (lambda: _local(name="-rpx"), "$.name"),
        (lambda: _local(name="rpx\n"), "$.name"),
        (lambda: en.G5kConf.from_settings(job_name="exp\n"), "$.job_name"),
        (lambda: en.G5kConf.from_settings(walltime="1:00:00\n"), "$.walltime"),
        (lambda: en.G5kConf.from_settings(walltime="１:00:00"), "$.walltime"),
        (lambda: en.G5kConf.from_settings(reservation="２０３０-01-01 10:00:00"), "$.reservation"),
        (lambda: en.G5kConf.from_settings(oargrid_jobids=[["rennes", "0"]]), "$.oargrid_jobids[0][1]"),
        (lambda: en.G5kConf.from_settings(oargrid_jobids=[["rennes", "12\n"]]), "$.oargrid_jobids[0][1]"),
        (lambda: en.StaticConf.from_settings().add_network(roles=["n"], cidr="10.0.0.0/24\n"),
         "$.resources.networks[0].cidr"),
        (lambda: en.StaticConf.from_settings().add_network(roles=["n"], cidr="10.0.0.0/24", mac_start="1",
                                                           mac_end="02:00:00:00:00:09"),
         "$.resources.networks[0].mac_start"),
        (lambda: en.StaticConf.from_settings().add_machine(roles=["r\n"], address="h"),
         "$.resources.machines[0].roles[0]"),
        (lambda: en.StaticConf.from_settings().add_machine(roles=["r"], address="-oProxyCommand=x"),
         "$.resources.machines[0].address"),
        (lambda: en.LocalConf.from_settings().add_machine(roles=["a"], number=2.0), "$.resources.machines[0].number"),
        (lambda: en.LocalConf.from_dictionary({"resources": {"machines": [{"roles": ["a"], "number": 2.0}]}}),
         "$.resources.machines[0].number"),
        (lambda: en.Local({"resources": {"machines": [{"roles": ["a b"]}]}}), "$.resources.machines[0].roles[0]"),
        (lambda: en.G5kConf.from_settings().add_machine(roles=["a"], cluster="c", secondary_networks={}),
         "$.resources.machines[0].secondary_networks"),
    ],
)
def test_issue_examples_are_refused_with_their_path(build, path):
    with pytest.raises(EnosConfigError) as info:
        build().finalize()
    assert info.value.path == path and path in str(info.value)


def test_lab_names_are_exact():
    """The lab layer under the Local provider: a name is never a prefix of another."""
    from enoslib.infra.configuration import walltime_to_seconds
    from enoslib.infra.slots import clock_to_seconds
    from enoslib.nodes import NamespaceLab
    from enoslib.nodes._names import check_lab_name, is_lab_link, link_alias, veth_ifname
    from enoslib.nodes._types import LabError
    from enoslib.services.netem import ms

    for bad in ("rpx-", "-rpx", "rpx\n", "a" * 13, "Rpx", "r.x"):
        with pytest.raises(LabError):
            check_lab_name(bad)
    with pytest.raises(LabError):  # refused before looking at the machine: safe without root
        NamespaceLab.cleanup_all("rpx-")
    assert is_lab_link("rpx", veth_ifname("rpx", 3), "")
    assert not is_lab_link("rpx", veth_ifname("rpx", 3) + "x", "")
    assert not is_lab_link("rpx", "eth0", link_alias("rpx-a"))
    for bad in ("1:00:00\n", "１:00:00", "1:0:00"):
        with pytest.raises(ValueError):
            walltime_to_seconds(bad)
    assert clock_to_seconds("²") is None and clock_to_seconds("１:00") is None
    with pytest.raises(EnosConfigError):
        ms("10ms\n")
