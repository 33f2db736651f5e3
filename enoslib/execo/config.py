"""Settings of the execo-compatible process API (``configuration``, ``default_connection_params``).

As in execo, ``~/.execo.conf.py`` (a Python file) may define ``configuration`` and
``default_connection_params`` dicts: their keys override the defaults below when
:mod:`enoslib.execo` is first imported.

``default_connection_params`` keys:

- ``user`` / ``keyfile`` / ``port``: used when the Host does not set them;
- ``ssh`` / ``scp``: the programs to run (``"ssh"`` / ``"scp"``; e.g. ``"oarsh"``);
- ``ssh_options`` / ``scp_options``: extra options (a tuple of arguments) added to enoslib's own
  (batch mode, connect timeout, one multiplexed ControlMaster connection per host);
- ``jump_host``: reach hosts through this gateway (an address or a Host with user/port);
  hosts given as enoslib Hosts keep their own ``gateway`` extra;
- ``host_rewrite_func``: maps the address to connect to (``lambda address: address``);
- ``pty``: allocate a remote terminal (``ssh -tt``): killing the local ssh then hangs up the
  remote command (without it enoslib kills the remote process group itself);
- ``nice`` / ``ionice``: run remote commands under ``nice -n N`` / ``ionice -c N``;
- ``strict_host_key_checking``: None (the host's and enoslib's settings decide), or a value of
  ssh's ``StrictHostKeyChecking`` (``"no"`` also skips known_hosts).
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any, Mapping

log = logging.getLogger("enoslib.execo")

# stream selectors, as in execo
STDOUT = 1
STDERR = 2
# tools for get_remote / get_fileput / get_fileget
SSH = "ssh"
TAKTUK = "taktuk"
SCP = "scp"
CHAINPUT = "chainput"

configuration: dict[str, Any] = {
    # seconds between SIGTERM and SIGKILL when a process is killed (execo's kill_timeout)
    "kill_timeout": 5,
    "remote_tool": SSH,
    "fileput_tool": SCP,
    "fileget_tool": SCP,
    # how many characters of a process's output its string form shows
    "compact_output_threshold": 4096,
    # after a process exits, how long to wait for its output pipes to close (children that
    # inherited them, e.g. ``cmd &``) before ending it anyway
    "pipe_grace": 0.5,
    # kill the processes still running when the Python interpreter exits
    "kill_childs_at_end": True,
}

default_connection_params: dict[str, Any] = {
    "user": None,
    "keyfile": None,
    "port": None,
    "ssh": "ssh",
    "scp": "scp",
    "ssh_options": (),
    "scp_options": (),
    "jump_host": None,
    "host_rewrite_func": None,
    "pty": False,
    "nice": None,
    "ionice": None,
    "strict_host_key_checking": None,
    # accepted for scripts written for execo, not used (no taktuk binary is run)
    "taktuk": "taktuk",
    "taktuk_options": (),
    "taktuk_connector": "ssh",
    "taktuk_connector_options": (),
    "taktuk_gateway": None,
    "taktuk_gateway_connection_params": None,
    "chainput_chunk_size": 1 << 20,
    "chainput_nc_server_timeout": 30,
}

_KNOWN_PARAMS = frozenset(default_connection_params)


def make_connection_params(
    connection_params: Mapping[str, Any] | None = None,
    default_params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``default_params`` (default: ``default_connection_params``) updated with
    ``connection_params``; unknown keys raise ValueError naming them."""
    params = dict(default_connection_params if default_params is None else default_params)
    if connection_params:
        unknown = sorted(set(connection_params) - _KNOWN_PARAMS)
        if unknown:
            raise ValueError(
                f"unknown connection parameter(s) {', '.join(unknown)}; known: "
                f"{', '.join(sorted(_KNOWN_PARAMS))}"
            )
        params.update(connection_params)
    return params


@functools.lru_cache(maxsize=8)
def _executed(path: str, mtime_ns: int) -> dict[str, Any]:
    """The names the configuration file at ``path`` defines, executed once per version of the
    file (``enoslib.execo`` and ``enoslib.g5k`` both read it when imported)."""
    namespace: dict[str, Any] = {}
    with open(path, encoding="utf-8") as f:
        code = compile(f.read(), path, "exec")
    exec(code, namespace)  # noqa: S102 - the user's own configuration file, as in execo
    return namespace


def load_configuration(
    path: str = "~/.execo.conf.py", targets: Mapping[str, dict[str, Any]] | None = None
) -> bool:
    """Apply ``configuration`` / ``default_connection_params`` from an execo config file
    (a Python file the user wrote, executed as execo does); True when the file exists.

    ``targets`` maps other names the file may define to the dicts they update (the
    execo_g5k toolbox passes ``g5k_configuration`` and its connection parameter dicts)."""
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        return False
    namespace = _executed(path, os.stat(path).st_mtime_ns)
    if targets is None:
        targets = {"configuration": configuration,
                   "default_connection_params": default_connection_params}
    for name, target in targets.items():
        value = namespace.get(name)
        if isinstance(value, Mapping):
            target.update(value)
    log.debug("execo configuration loaded from %s", path)
    return True
