"""Settings of the execo_g5k-compatible toolbox (``g5k_configuration``, as in execo_g5k).

Keys used here:

- ``default_frontend``: the site used when a function is given ``frontend=None`` (default:
  the site of this machine when it is a Grid'5000 frontend or node, else an error);
- ``polling_interval``: the longest sleep while waiting for a job to start (seconds);
- ``check_deployed_command``: the shell command :func:`enoslib.g5k.deploy` runs to tell a
  deployed node (exit 0) from one still on the standard environment;
- ``default_env_name``: the environment deployed when a Deployment names none.

The API connection itself is the one of :func:`enoslib.g5k.set_api` (or
``~/.python-grid5000.yaml``), shared with the G5k provider.
"""

from __future__ import annotations

import socket
from typing import Any

g5k_configuration: dict[str, Any] = {
    "default_frontend": None,
    "polling_interval": 20,
    # the standard environment lives on the disk's 2nd partition, deployed ones on the 3rd
    "check_deployed_command": "findmnt -n -o SOURCE / | grep -qvE '(sd[a-z]|vd[a-z]|nvme[0-9]+n[0-9]+p)2$'",
    "default_env_name": None,
}


def default_site(frontend: str | None = None) -> str:
    """``frontend`` as a site name: ``rennes``, ``frontend.rennes.grid5000.fr`` or None
    (``g5k_configuration['default_frontend']``, else this machine's site)."""
    name = frontend or g5k_configuration.get("default_frontend")
    if not name:
        fqdn = socket.getfqdn()
        if fqdn.endswith(".grid5000.fr") and fqdn.count(".") >= 3:
            name = fqdn.split(".")[-3]
    if not name:
        raise ValueError("no site given and no default: pass frontend='rennes' or set "
                         "g5k_configuration['default_frontend']")
    parts = str(name).split(".")
    if len(parts) >= 3 and parts[-2:] == ["grid5000", "fr"]:
        return parts[-3]
    return parts[0]
