"""What the Grid'5000 provider does on the nodes themselves, over SSH (``enoslib.api``).

Kept apart from the API logic: each step is optional in the configuration (``root_access``,
``dhcp``, ``wait_ssh``, ``check_deployed_command``), which is what lets a script run against
an emulator whose nodes are addresses only.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable, Sequence
from pathlib import Path

from enoslib.errors import EnosConfigError, EnosProviderError
from enoslib.objects import Host

logger = logging.getLogger(__name__)

ROOT_ACCESS = ("cat ~/.ssh/*.pub ~/.ssh/authorized_keys 2>/dev/null | "
               "sudo-g5k tee -a /root/.ssh/authorized_keys >/dev/null")


def inside_g5k() -> bool:
    """Whether this machine is a Grid'5000 frontend or node (no SSH jump needed then)."""
    return socket.getfqdn().endswith(".grid5000.fr")


def use_access_host(ssh_jump: str = "auto") -> bool:
    """Whether SSH to the nodes goes through Grid'5000's access host.

    A configuration's ``ssh_jump`` ``"always"`` or ``"never"`` decides; ``"auto"`` (every
    configuration's default) follows the global setting ``g5k_auto_jump`` (EnOSlib's): True
    always, False never (a VPN), None (its default) when this machine is outside Grid'5000.
    """
    if ssh_jump != "auto":
        return ssh_jump == "always"
    from enoslib.config import get_config

    setting = get_config().get("g5k_auto_jump")
    return (not inside_g5k()) if setting is None else bool(setting)


def public_keys(path: str | None) -> str:
    """The public key(s) kadeploy installs for root: the file ``path``, else every
    ``~/.ssh/*.pub``."""
    if path:
        file = Path(path).expanduser()
        try:
            text = file.read_text().strip()
        except OSError as exc:
            raise EnosConfigError(f"invalid g5k configuration at $.key: cannot read {file}: {exc.strerror} "
                                  "(rule: file)", path="$.key", rule="file") from None
        if not text:
            raise EnosConfigError(f"invalid g5k configuration at $.key: {file} is empty (rule: file)",
                                  path="$.key", rule="file")
        return text
    keys = [p.read_text().strip() for p in sorted((Path.home() / ".ssh").glob("*.pub")) if p.is_file()]
    keys = [k for k in keys if k]
    if not keys:
        raise EnosConfigError("no SSH public key in ~/.ssh/*.pub to install on deployed nodes: create one "
                              "(ssh-keygen) or set key", path="$.key", rule="file")
    return "\n".join(keys)


def run_on(hosts: Sequence[Host], commands: dict[Host, str] | str, task: str, timeout: float | None = 60
           ) -> tuple[set[Host], dict[Host, str]]:
    """Run a command (or one per host); (hosts where it succeeded, error text of the others)."""
    from enoslib.api.commands import exec_commands

    if not hosts:
        return set(), {}
    todo = {h: commands if isinstance(commands, str) else commands[h] for h in hosts}
    todo = {h: c for h, c in todo.items() if c}
    if not todo:
        return set(hosts), {}
    results = exec_commands(todo, task=task, timeout=timeout, shown={h: task for h in todo})
    by_alias = {h.alias: h for h in todo}
    ok: set[Host] = {h for h in hosts if h not in todo}
    errors: dict[Host, str] = {}
    for r in results:
        host = by_alias.get(getattr(r.host, "alias", r.host))
        if host is None:
            continue
        if r.status == "ok" or r.rc == 0:
            ok.add(host)
        else:
            errors[host] = (r.stderr or r.stdout or f"rc={r.rc}").strip()[-300:]
    return ok, errors


def grant_root_access(hosts: Sequence[Host]) -> None:
    """Let ``root`` in with the user's keys (``sudo-g5k``), for jobs without deploy."""
    _, errors = run_on(hosts, ROOT_ACCESS, "grant root access (sudo-g5k)")
    if errors:
        raise EnosProviderError("could not grant root access on "
                                + "; ".join(f"{h.alias}: {e}" for h, e in list(errors.items())[:5]))


def run_dhcp(hosts: dict[Host, str]) -> None:
    """Configure the secondary NICs (one command per host) with DHCP."""
    _, errors = run_on(list(hosts), hosts, "configure secondary NICs (dhcp)", timeout=120)
    if errors:
        raise EnosProviderError("DHCP failed on " + "; ".join(f"{h.alias}: {e}" for h, e in list(errors.items())[:5]))


def check_command(hosts: Sequence[Host], command: str) -> set[Host]:
    """Hosts where ``command`` exits 0 (unreachable ones count as failed)."""
    ok, _ = run_on(hosts, command, "check deployment", timeout=30)
    return ok


def wait_ssh(hosts: Iterable[Host], retries: int = 60, interval: float = 10) -> None:
    """Wait until every host answers over SSH (``retries`` tries, ``interval`` seconds apart)."""
    from enoslib.api.commands import wait_for

    hosts = list(hosts)
    if hosts:
        wait_for(hosts, retries=retries, interval=interval)
