"""Defaults and flavours of the VMonG5k provider (the schema, ``schemas/vmong5k.json``, has the same)."""

from __future__ import annotations

from enoslib.infra.configuration import load_schema

_TOP = load_schema("vmong5k")["properties"]
_MACHINE = load_schema("vmong5k")["$defs"]["machine"]["properties"]

DEFAULT_JOB_NAME: str = _TOP["job_name"]["default"]
DEFAULT_QUEUE: str = _TOP["queue"]["default"]
DEFAULT_WALLTIME: str = _TOP["walltime"]["default"]
DEFAULT_IMAGE: str = _TOP["image"]["default"]
DEFAULT_STRATEGY: str = _TOP["strategy"]["default"]
DEFAULT_SUBNET_TYPE: str = _TOP["subnet_type"]["default"]
DEFAULT_WORKING_DIR: str = _TOP["working_dir"]["default"]
DEFAULT_DOMAIN_TYPE: str = _TOP["domain_type"]["default"]
DEFAULT_NETWORKS: list[str] = _TOP["resources"]["properties"]["networks"]["default"]
DEFAULT_NUMBER: int = _MACHINE["number"]["default"]
DEFAULT_VCORE_TYPE: str = _MACHINE["vcore_type"]["default"]
VCORE_TYPES: list[str] = _MACHINE["vcore_type"]["enum"]
STRATEGIES: list[str] = _TOP["strategy"]["enum"]

from enoslib.infra.flavours import DEFAULT_FLAVOUR, FLAVOURS  # noqa: E402 - one table for every provider

#: the bridge of the nodes' standard environment, on their primary NIC
BRIDGE = "br0"
#: memory a node keeps for itself: 2% of its RAM, between these bounds (MiB)
RESERVED_MEMORY_MIN = 256
RESERVED_MEMORY_MAX = 4096
