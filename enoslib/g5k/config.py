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

Connection parameters for the execo-compatible processes (:mod:`enoslib.execo`), as in
execo_g5k:

- ``default_frontend_connection_params``: reach a site's frontend given the site name
  (``Remote("hostname", ["rennes", "lyon"], connection_params=default_frontend_connection_params)``);
  ``rennes`` becomes ``frontend.rennes.grid5000.fr``, which the SSH configuration of a
  Grid'5000 user (or ``enos emulate g5k``'s) reaches through ``access.grid5000.fr``;
- ``default_oarsh_oarcp_params``: reach the nodes of a job with ``oarsh``/``oarcp`` as from a
  frontend (copy it and set ``user="oar"``, ``port=6667``, ``keyfile``, ``ssh="ssh"`` to connect
  directly to OAR's sshd from elsewhere, as execo's documentation shows).

Like ``g5k_configuration``, both can be updated from ``~/.execo.conf.py``; the toolbox's own
functions talk to the REST API and do not use them.
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


def frontend_address(host: Any) -> str:
    """The address of a site's frontend: ``rennes`` -> ``frontend.rennes.grid5000.fr``;
    anything with a dot (a full name, an address) is kept."""
    name = str(getattr(host, "address", host))
    return name if "." in name else f"frontend.{name}.grid5000.fr"


default_frontend_connection_params: dict[str, Any] = {"host_rewrite_func": frontend_address}

default_oarsh_oarcp_params: dict[str, Any] = {
    "user": None,
    "keyfile": None,
    "port": None,
    "ssh": "oarsh",
    "scp": "oarcp",
    "taktuk_connector": "oarsh",
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


def _load_user_configuration() -> None:
    from enoslib.execo.config import load_configuration

    load_configuration(targets={
        "g5k_configuration": g5k_configuration,
        "default_frontend_connection_params": default_frontend_connection_params,
        "default_oarsh_oarcp_params": default_oarsh_oarcp_params,
    })


_load_user_configuration()
