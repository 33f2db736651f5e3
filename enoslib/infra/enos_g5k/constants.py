"""Grid'5000 constants, under the names EnOSlib documents (``enoslib.infra.enos_g5k.constants``).

Defaults of the configuration (job name, walltime, queue, environment), network types and
their KaVLAN numbering, and a few testbed facts (DNS name, MAC prefix of subnet addresses).
Pure data: importing this module costs nothing.
"""

from __future__ import annotations

# -- configuration defaults -----------------------------------------------------------------
JOB_TYPE_DEPLOY = "deploy"
DEFAULT_JOB_NAME = "EnOSlib"
DEFAULT_WALLTIME = "02:00:00"
DEFAULT_QUEUE = "default"
DEFAULT_NUMBER = 1
# the environment deployed when a deploy job names none (EnOSlib's historical default)
DEFAULT_ENV_NAME_COMPAT = "debian11-nfs"
DEFAULT_ENV_NAME = DEFAULT_ENV_NAME_COMPAT
MAX_DEPLOY = 3                        # deployment rounds before giving up on a node
DEFAULT_SSH_KEYFILE = "~/.ssh/id_rsa.pub"
DEFAULT_ACCESS_HOST = "access.grid5000.fr"   # SSH gateway used from outside Grid'5000
QUEUE_TYPES = ["default", "production", "testing", "besteffort", "admin"]

# -- networks -------------------------------------------------------------------------------
PROD = "prod"
NATURE_PROD = PROD
NETWORK_ROLE_PROD = PROD
PROD_VLAN_ID = "DEFAULT"              # the production network's uid in the vlans API
KAVLAN = "kavlan"                     # routed vlans
KAVLAN_LOCAL = "kavlan-local"
KAVLAN_GLOBAL = "kavlan-global"
KAVLAN_TYPE = [KAVLAN, KAVLAN_LOCAL, KAVLAN_GLOBAL]
KAVLAN_LOCAL_IDS = ["1", "2", "3"]
KAVLAN_IDS = ["4", "5", "6", "7", "8", "9"]
SLASH_22 = "slash_22"
SLASH_16 = "slash_16"
SUBNET_TYPES = [SLASH_16, SLASH_22]
NETWORK_TYPES = [PROD, *KAVLAN_TYPE, *SUBNET_TYPES]

# -- testbed facts --------------------------------------------------------------------------
NAMESERVER = "dns.grid5000.fr"
G5KMACPREFIX = "00:16:3E"             # DHCP gives a subnet address to 00:16:3E + its last 3 bytes
G5K_DOMAIN = "grid5000.fr"

# -- planning (Providers synchronising several testbeds) ------------------------------------
SYNCHRONISATION_OFFSET = 60           # seconds added to a common start so every job fits
SYNCHRONISATION_INTERVAL = 300        # step (seconds) between two start times tried

__all__ = [
    "DEFAULT_ACCESS_HOST", "DEFAULT_ENV_NAME", "DEFAULT_ENV_NAME_COMPAT", "DEFAULT_JOB_NAME", "DEFAULT_NUMBER",
    "DEFAULT_QUEUE", "DEFAULT_SSH_KEYFILE", "DEFAULT_WALLTIME", "G5KMACPREFIX", "G5K_DOMAIN", "JOB_TYPE_DEPLOY",
    "KAVLAN", "KAVLAN_GLOBAL", "KAVLAN_IDS", "KAVLAN_LOCAL", "KAVLAN_LOCAL_IDS", "KAVLAN_TYPE", "MAX_DEPLOY",
    "NAMESERVER", "NATURE_PROD", "NETWORK_ROLE_PROD", "NETWORK_TYPES", "PROD", "PROD_VLAN_ID", "QUEUE_TYPES",
    "SLASH_16", "SLASH_22", "SUBNET_TYPES", "SYNCHRONISATION_INTERVAL", "SYNCHRONISATION_OFFSET",
]
