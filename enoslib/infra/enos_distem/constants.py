"""Defaults of the Distem provider (the schema ``schemas/distem.json`` carries the same ones)."""

from __future__ import annotations

# the predefined flavours (cores, memory in MiB) are VMonG5k's, as in EnOSlib
from enoslib.infra.flavours import DEFAULT_FLAVOUR, FLAVOURS

DEFAULT_JOB_NAME = "EnOslib-distem"
DEFAULT_QUEUE = "default"
DEFAULT_WALLTIME = "02:00:00"
DEFAULT_IMAGE = "file:///home/public/distem-fs-bookworm.tar.gz"
DEFAULT_ENV_NAME = "debian12-nfs"
DEFAULT_NUMBER = 1
DEFAULT_VCORE_TYPE = "thread"
DEFAULT_NETWORKS = ["slash_22"]

#: the coordinator's REST API (``distemd``); 4568 is the pnodes' internal port
COORDINATOR_PORT = 4567


#: the vnetwork used when the job reserves no subnet: private, reached through the coordinator
PRIVATE_VNETWORK = "10.144.0.0/18"
VNETWORK_NAME = "vnet"
#: the vnode interface Distem attaches to the vnetwork
VIFACE = "if0"

SUBNET_TYPES = ("slash_22", "slash_16")
