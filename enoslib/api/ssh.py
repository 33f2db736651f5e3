"""One persistent, multiplexed OpenSSH connection per host, shared by every remote path.

Every ``ssh``/``scp`` we spawn, and every connection Ansible opens, uses the same
``ControlPath`` for a host, so the TCP+key exchange happens once per host and later commands
cost one local fork and one channel. We run the system's OpenSSH client, which keeps
``~/.ssh/config`` (``Host`` blocks, ``ProxyJump``, identities) working as users expect:
options are passed only where enoslib must decide (batch mode, multiplexing, timeouts) or
where the Host object says so (user, port, key).

Per-host connection extras (in ``Host.extra``):

- ``gateway`` / ``gateway_user`` / ``gateway_port``: reach the host through a jump host. The
  jump host gets its own multiplexed master, so N hosts behind one gateway cost one
  handshake with the gateway, not N.
- ``ansible_ssh_common_args`` / ``ansible_ssh_extra_args``: extra ssh arguments (a string,
  split like a shell would), used by the fast path as by Ansible.
- ``ansible_host_key_checking``: ``False`` for hosts whose keys change by design (nodes a
  provider creates or reinstalls: Local, emulators, Grid'5000): ``StrictHostKeyChecking=no``
  with ``UserKnownHostsFile=/dev/null``, logged once. Other hosts (Static, plain ``Host``)
  are checked against the user's known_hosts as ``ssh`` would. The config setting
  ``ssh_strict_host_key_checking``, when set, applies to every host. A gateway follows its
  host unless ``gateway_host_key_checking`` says otherwise.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import shlex
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from enoslib.api.proc import Job, run_jobs
from enoslib.config import cache_dir, get_config
from enoslib.objects import Host

log = logging.getLogger("enoslib.api.ssh")

# sun_path is 108 bytes on Linux (104 on BSD/macOS); ssh first binds "<path>.<16 random chars>"
# then renames it, so the path itself must stay well below that.
_MAX_SOCKET_PATH = 104 - 18

# ssh's own failures (exit code 255) as opposed to a remote command exiting with 255
SSH_ERROR = re.compile(
    r"^(ssh: |kex_exchange_identification|ssh_exchange_identification"
    r"|Connection (closed|reset|timed out|refused)"
    r"|Connection to .* closed|Permission denied \(|Host key verification failed|.*banner exchange"
    r"|mux_client|Control ?[sS]ocket|Bad (owner|configuration)|Received disconnect|Load key"
    r"|Timeout, server .* not responding|client_loop: |packet_write_wait|ssh_dispatch_run_fatal"
    r"|ProxyCommand|channel \d+: open failed|Too many authentication failures|Could not resolve)",
    re.MULTILINE,
)
# failures before authentication: the command did not start, retrying is safe (sshd's
# MaxStartups drops concurrent handshakes when many connections go through one gateway)
_TRANSIENT = re.compile(
    r"kex_exchange_identification|ssh_exchange_identification|Connection (closed|reset) by .* port",
    re.M,
)


def is_ssh_failure(rc: int | None, stderr: str) -> bool:
    """True when ``ssh`` itself failed (host unreachable, auth refused ...)."""
    return rc == 255 and SSH_ERROR.search(stderr) is not None


def is_transient(rc: int | None, stdout: str, stderr: str) -> bool:
    """Whether an ssh failure (exit code 255, no output) looks like a connection problem worth retrying."""
    return rc == 255 and not stdout and _TRANSIENT.search(stderr) is not None


@functools.lru_cache(maxsize=8)
def _socket_dir_for(base: str) -> Path:
    d = cache_dir("cm")
    if len(str(d)) + 18 > _MAX_SOCKET_PATH:  # long home dirs: fall back to a short private dir
        short = private_dir(Path(tempfile.gettempdir()) / f"enoslib-{os.getuid()}")
        # one per cache dir, as the sockets under each cache dir are: processes with their
        # own cache dirs never share a master (one's close_connections would cut the other)
        d = private_dir(short / hashlib.sha256(str(d).encode()).hexdigest()[:10])
    return d


def private_dir(path: Path) -> Path:
    """``path`` as a directory only the user can use (mode 0700), created if missing; one
    that exists with another owner, group/other access or as a symlink is refused (in a
    shared ``$TMPDIR`` anyone could have made it, to read or hijack our sockets)."""
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise PermissionError(
            f"refusing ssh control directory {path}: it must be a directory owned by uid "
            f"{os.getuid()} with mode 0700 (found uid {st.st_uid}, mode "
            f"{stat.filemode(st.st_mode)}); remove it or set enoslib's cache_dir to a shorter path"
        )
    return path


def _socket_dir() -> Path:
    return _socket_dir_for(str(get_config()["cache_dir"]))


def _opt(key: str, value: object) -> str:
    text = str(value)
    # ssh parses "-o" like a config line: quote values with blanks
    return f'{key}="{text}"' if re.search(r"\s", text) else f"{key}={text}"


@dataclass(frozen=True)
class Connection:
    """How to reach one host: ``argv()`` builds an ssh command line, ``options`` are shared
    with scp and Ansible."""

    destination: str
    options: tuple[str, ...]  # ("-o", "Key=Value", ...) and "-F file"
    control_path: str

    def argv(self, command: str | None = None) -> list[str]:
        argv = ["ssh", *self.options, self.destination]
        if command is not None:
            argv += ["--", command]
        return argv

    def scp_argv(self, *paths: str) -> list[str]:
        return ["scp", "-q", *self.options, *paths]

    def remote(self, path: str) -> str:
        """``destination:path`` for scp (IPv6 addresses bracketed)."""
        host = f"[{self.destination}]" if ":" in self.destination else self.destination
        return f"{host}:{path}"


def _common_options() -> list[str]:
    cfg = get_config()
    opts = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={int(cfg['ssh_connect_timeout'])}"]
    opts += ["-o", "ControlMaster=auto", "-o", _opt("ControlPersist", cfg["ssh_control_persist"])]
    opts += ["-o", "ServerAliveInterval=15", "-o", "LogLevel=ERROR"]
    if cfg.get("ssh_config_file"):
        opts = ["-F", os.path.expanduser(cfg["ssh_config_file"]), *opts]
    return opts


_FALSE = {"false", "no", "off", "0", "n"}
_warned_unchecked = False


def host_key_checking(host: Host) -> str | None:
    """``StrictHostKeyChecking`` for ``host``: the config's ``ssh_strict_host_key_checking``
    when set, ``"no"`` when the host's ``ansible_host_key_checking`` is false, else None
    (ssh's own configuration and the user's known_hosts decide)."""
    checking = get_config().get("ssh_strict_host_key_checking")
    if checking is not None:
        return str(checking)
    flag = host.extra.get("ansible_host_key_checking")
    if flag is not None and (flag is False or str(flag).strip().lower() in _FALSE):
        return "no"
    return None


def _host_key_options(host: Host) -> list[str]:
    global _warned_unchecked
    checking = host_key_checking(host)
    if checking is None:
        return []
    if checking != "no":
        return ["-o", f"StrictHostKeyChecking={checking}"]
    if not _warned_unchecked:
        _warned_unchecked = True
        log.info(
            "host keys not checked for hosts reinstalled by design (e.g. %s): "
            "StrictHostKeyChecking=no, UserKnownHostsFile=/dev/null",
            host.alias,
        )
    # their keys change at each deployment: keep them out of known_hosts
    return ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]


def _control_path(*identity: object) -> str:
    digest = hashlib.sha256(repr(identity).encode()).hexdigest()[:20]
    return str(_socket_dir() / digest)


def _user_args(host: Host) -> list[str]:
    args: list[str] = []
    for key in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        value = host.extra.get(key)
        if value:
            args += shlex.split(str(value))
    return args


def _proxy_command(host: Host) -> list[str]:
    """ProxyCommand through the host's gateway, over the gateway's own multiplexed master."""
    gateway = host.extra.get("gateway")
    if not gateway:
        return []
    extra = host.extra
    checking = extra.get("gateway_host_key_checking", extra.get("ansible_host_key_checking"))
    gw = Host(
        str(gateway),
        user=host.extra.get("gateway_user"),
        port=host.extra.get("gateway_port"),
        keyfile=host.keyfile,
        extra=None if checking is None else {"ansible_host_key_checking": checking},
    )
    gw_conn = connection(gw)
    argv = ["ssh", *gw_conn.options, "-W", "%h:%p", gw_conn.destination]
    # ssh expands %-tokens in ProxyCommand: escape ours, keep %h:%p
    command = " ".join(shlex.quote(a.replace("%", "%%")) if a != "%h:%p" else a for a in argv)
    return ["-o", f"ProxyCommand={command}"]


def connection(host: Host) -> Connection:
    """The ssh options for ``host`` (user, port, key, jump host, multiplexing)."""
    if host.address.startswith("-"):  # would be read as an ssh option
        raise ValueError(f"invalid host address {host.address!r}")
    common = _common_options()
    user_args = _user_args(host)
    own: list[str] = []
    if host.user:
        own += ["-o", _opt("User", host.user)]
    if host.port:
        own += ["-o", f"Port={host.port}"]
    if host.keyfile:
        own += ["-o", _opt("IdentityFile", os.path.expanduser(host.keyfile))]
    own += _host_key_options(host)
    proxy = _proxy_command(host)
    path = _control_path(
        host.address, host.port, host.user, host.keyfile, user_args, own, proxy, common
    )
    # the first value given for an option wins: the user's own arguments go first
    options = (
        *user_args,
        *own,
        *proxy,
        "-o",
        _opt("ControlPath", path.replace("%", "%%")),
        *common,
    )
    return Connection(host.address, tuple(options), path)


def ansible_ssh_args(host: Host) -> str:
    """The ``ansible_ssh_args`` value making Ansible use our options and master."""
    conn = connection(host)
    return " ".join(shlex.quote(o) for o in conn.options)


def close_connections(hosts: Iterable[Host]) -> None:
    """Close the persistent connections to ``hosts`` (the next command reconnects), and
    the module agents running over them (:mod:`enoslib.api.agents`)."""
    hosts = list(hosts)
    agents = sys.modules.get("enoslib.api.agents")
    if agents is not None:
        agents.close_agents(hosts)
    jobs = []
    for h in hosts:
        conn = connection(h)
        if os.path.exists(conn.control_path):
            jobs.append(
                Job(
                    ["ssh", "-o", _opt("ControlPath", conn.control_path), "-O", "exit", "x"],
                    timeout=10,
                )
            )
    run_jobs(jobs)


def is_connected(host: Host) -> bool:
    """True when a live master connection to ``host`` exists."""
    conn = connection(host)
    if not os.path.exists(conn.control_path):
        return False
    job = Job(["ssh", "-o", _opt("ControlPath", conn.control_path), "-O", "check", "x"], timeout=10)
    run_jobs([job])
    return job.rc == 0
