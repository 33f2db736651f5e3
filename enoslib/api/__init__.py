"""Remote execution on hosts: commands, Ansible modules and playbooks, files, facts.

Everything goes over one persistent, multiplexed OpenSSH connection per host
(:mod:`enoslib.api.ssh`). Plain commands take a fast path straight over it; Ansible runs
in-process on the same connections. Whatever ran, you get :class:`Results`: one
:class:`Result` per host and task, and errors carrying them.

execo's process objects (``Remote``, ``Put``, ``Get``, ``Report`` ...) are
:mod:`enoslib.execo`'s, also in the facade (``en.Remote`` ...).

Names resolve on first use (PEP 562): importing this package loads neither Ansible nor
the submodules a script does not use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from enoslib._lazy import lazy

_NAMES = {
    "actions": "_actions",
    "gather_facts": "_actions",
    "run_ansible": "_actions",
    "run_play": "_actions",
    "ensure_python": "commands",
    "run": "commands",
    "run_command": "commands",
    "run_scripts": "commands",
    "wait_for": "commands",
    "generate_inventory": "facts",
    "sync_info": "facts",
    "broadcast": "files",
    "get": "files",
    "put": "files",
    "get_hosts": "hosts",
    "ResultsReport": "results",
    "Result": "results",
    "Results": "results",
    "STATUS_OK": "results",
    "STATUS_FAILED": "results",
    "STATUS_UNREACHABLE": "results",
    "STATUS_SKIPPED": "results",
    "DEFAULT_ERROR_STATUSES": "results",
    "close_connections": "ssh",
}

__all__ = sorted(_NAMES)


__getattr__, __dir__ = lazy(__name__, globals(), {n: f"enoslib.api.{m}" for n, m in _NAMES.items()})


if TYPE_CHECKING:
    from enoslib.api._actions import actions, gather_facts, run_ansible, run_play
    from enoslib.api.commands import ensure_python, run, run_command, run_scripts, wait_for
    from enoslib.api.facts import generate_inventory, sync_info
    from enoslib.api.files import broadcast, get, put
    from enoslib.api.hosts import get_hosts
    from enoslib.api.results import Result, Results, ResultsReport
    from enoslib.api.results import (DEFAULT_ERROR_STATUSES, STATUS_FAILED, STATUS_OK, STATUS_SKIPPED,
                                     STATUS_UNREACHABLE)
    from enoslib.api.ssh import close_connections
