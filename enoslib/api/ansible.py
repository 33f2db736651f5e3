"""Running Ansible plays in-process, over enoslib's own SSH connections.

ansible-core is imported here, on first use only (``import enoslib`` stays cheap). Each run
builds an in-memory inventory from the Hosts (no inventory file, nothing written in the
user's working directory); every host gets ``ansible_ssh_args`` carrying enoslib's ssh
options and ``ControlPath``, so Ansible reuses the fast path's master connections.
Pipelining is on and forks follow the host count. Ansible's console output is replaced by
a callback that collects :class:`~enoslib.api.results.Results`.

Plays and playbooks run on ansible-core's own ``TaskQueueManager`` / ``PlaybookExecutor``
and strategy; each task on each host runs in a thread of this process, its modules,
commands and file transfers on enoslib's per-host agents (``enoslib.api._strategy`` says
what still goes to a forked worker or to ansible-core's own connection plugins).
``set_config(ansible_workers="processes")`` (or ``classic=True``) runs them as ansible-core
does by itself: a forked worker per task and host, its ``ssh`` connection plugin.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

from enoslib.api.hosts import RolesLike, as_roles
from enoslib.api.results import Result, Results
from enoslib.api.ssh import ansible_ssh_args, host_key_checking
from enoslib.config import ansible_console, cache_dir, get_config

log = logging.getLogger("enoslib.api.ansible")

FORKS_CAP = 100
# interpreter found by Ansible on each host, reused by later runs in this process: discovery
# costs two remote round trips per host and per run otherwise
_INTERPRETERS: dict[tuple[Any, ...], str] = {}
# ansible-core's names of its local connection plugin (the controller itself)
LOCAL_CONNECTIONS = frozenset({"local", "ansible.builtin.local", "ansible.legacy.local"})
# Ansible keeps global state (context.CLIARGS, signal handlers): one run at a time
_LOCK = threading.RLock()
_ENV_DONE = False
# the ANSIBLE_* variables set by _prepare_environment (not the user's)
ENV_SET: set[str] = set()


def _prepare_environment() -> None:
    """Settings Ansible reads when it is first imported; users' own ANSIBLE_* win. They are
    set in this process's environment, so an ``ansible-playbook`` started from it sees
    them too (quiet warnings, pipelining, local temp under enoslib's cache dir)."""
    global _ENV_DONE
    if _ENV_DONE:
        return
    defaults = {
        "ANSIBLE_LOCAL_TEMP": str(cache_dir("ansible", "tmp")),
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
        "ANSIBLE_SYSTEM_WARNINGS": "False",
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
        "ANSIBLE_TRANSFORM_INVALID_GROUP_CHARS": "ignore",
        "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
        "ANSIBLE_NOCOLOR": "True",
    }
    # ~/.ansible holds the user's collections: keep it unless it cannot be written
    home = Path.home() / ".ansible"
    if not os.access(home if home.exists() else home.parent, os.W_OK):
        defaults["ANSIBLE_HOME"] = str(cache_dir("ansible"))
    for key, value in defaults.items():
        if key not in os.environ:
            os.environ[key] = value
            ENV_SET.add(key)
    try:  # what ansible's CLI does first: without it collections (ansible.builtin) are unknown
        from ansible.plugins.loader import init_plugin_loader
    except ImportError:  # ansible-core < 2.15
        pass
    else:
        init_plugin_loader()
    _ENV_DONE = True


def config_files() -> list[str]:
    """The ansible.cfg files ansible-core may read its settings from, those that exist (it
    reads the first of ``$ANSIBLE_CONFIG`` (a file or a directory), ``./ansible.cfg``,
    ``~/.ansible.cfg``, ``/etc/ansible/ansible.cfg``)."""
    env = os.environ.get("ANSIBLE_CONFIG")
    if env and os.path.isdir(env):
        env = os.path.join(env, "ansible.cfg")
    candidates = [env, os.path.abspath("ansible.cfg"), os.path.expanduser("~/.ansible.cfg"),
                  "/etc/ansible/ansible.cfg"]
    return [p for p in candidates if p and os.path.isfile(p)]


# ansible-core settings that change who runs a task or what it leaves on the host, which the
# fast paths do not follow: constant -> (variable, ansible.cfg key, default). (``become``
# itself is not one: a play's ``become`` is enoslib's CLI args', None, as on every path.)
_CORE_SETTINGS = {
    "DEFAULT_KEEP_REMOTE_FILES": ("ANSIBLE_KEEP_REMOTE_FILES", "keep_remote_files", False),
    "DEFAULT_BECOME_USER": ("ANSIBLE_BECOME_USER", "become_user", "root"),
    "DEFAULT_BECOME_METHOD": ("ANSIBLE_BECOME_METHOD", "become_method", "sudo"),
    "DEFAULT_BECOME_EXE": ("ANSIBLE_BECOME_EXE", "become_exe", None),
    "DEFAULT_BECOME_FLAGS": ("ANSIBLE_BECOME_FLAGS", "become_flags", ""),
}


def core_settings_changed() -> dict[str, Any]:
    """ansible-core's settings of who runs tasks that become (``become_user``,
    ``become_method``, ``become_exe``, ``become_flags``) and of ``keep_remote_files`` (each
    module copied to the host and left there, which only its ssh plugin does) that differ
    from their defaults, by ansible.cfg key: ``{"become_user": "nobody"}``. ansible-core is
    imported only when a variable or a config file may set one."""
    if not any(env in os.environ for env, _, _ in _CORE_SETTINGS.values()):
        keys = "|".join(key for _, key, _ in _CORE_SETTINGS.values())
        pattern = re.compile(rf"^\s*({keys})\s*[=:]", re.MULTILINE)
        try:
            if not any(pattern.search(Path(p).read_text(errors="replace"))
                       for p in config_files()):
                return {}
        except OSError:
            pass
    _prepare_environment()
    from ansible import constants as C

    values = {key: (getattr(C, name), default)
              for name, (_, key, default) in _CORE_SETTINGS.items()}
    return {key: value for key, (value, default) in values.items() if value != default}


def forks_for(n_hosts: int) -> int:
    """How many hosts Ansible works on at once for ``n_hosts`` hosts (the ``ansible_forks``
    setting, else one per host up to a cap)."""
    configured = get_config().get("ansible_forks")
    return int(configured) if configured else max(1, min(n_hosts, FORKS_CAP))


class Literal(str):
    """Text Ansible must show as is, never render as a template (task names we are given):
    :func:`trusted` leaves it untrusted, or marks it unsafe on older ansible-core."""


def trusted(value: Any) -> Any:
    """Mark strings of a play written by the user as templates Ansible may render
    (ansible-core >= 2.19 renders only trusted templates; host data stays untrusted)."""
    if isinstance(value, Literal):
        try:
            from ansible.template import trust_as_template  # noqa: F401
        except ImportError:  # older ansible-core renders every string except "unsafe" ones
            from ansible.utils.unsafe_proxy import AnsibleUnsafeText

            return AnsibleUnsafeText(value)
        return str(value)
    try:
        from ansible.template import trust_as_template
    except ImportError:  # older ansible-core renders every string
        return value
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, Mapping):
        return {k: trusted(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [trusted(v) for v in value]
    return value


def _host_vars(host: Any) -> dict[str, Any]:
    variables = host.ansible_vars()
    variables.setdefault("ansible_connection", "ssh")
    variables["ansible_ssh_args"] = ansible_ssh_args(host)
    # our ssh args carry the host key policy; Ansible must not add StrictHostKeyChecking=no
    variables["ansible_host_key_checking"] = host_key_checking(host) != "no"
    # our ssh args already carry the user's common/extra args and the jump host
    variables.pop("ansible_ssh_common_args", None)
    variables.pop("ansible_ssh_extra_args", None)
    interpreter = get_config().get("ansible_python_interpreter") or _INTERPRETERS.get(
        _host_key(host)
    )
    if not interpreter and str(variables["ansible_connection"]) in LOCAL_CONNECTIONS:
        # the controller's own Python, as ansible-core's implicit localhost has it
        # ("{{ ansible_playbook_python }}"): it runs, and modules respawn under another
        # Python where they need one (apt). Discovery would search the controller's PATH
        # (python3.13 first), where a pyenv shim of a version not selected refuses to run
        # ("pyenv: python3.13: command not found", rc 127): a LocalHost failed every task.
        interpreter = sys.executable
    if interpreter:
        variables.setdefault("ansible_python_interpreter", interpreter)
    return variables


def _host_key(host: Any) -> tuple[Any, ...]:
    # a LocalHost is not the host ssh reaches at "localhost": each has its own interpreter
    return (host.address, host.port, host.user, host.keyfile,
            str(host.extra.get("ansible_connection", "ssh")))


def _remember_interpreters(results: Results, roles: RolesLike) -> None:
    by_alias = {h.alias: h for h in as_roles(roles).all()}
    for r in results:
        found = (r.payload.get("ansible_facts") or {}).get("discovered_interpreter_python")
        if isinstance(found, str) and r.host in by_alias:
            _INTERPRETERS[_host_key(by_alias[r.host])] = found


def build_inventory(roles: RolesLike, loader: Any) -> Any:
    """An in-memory InventoryManager: one group per role, hosts named by alias."""
    from ansible.inventory.manager import InventoryManager

    r = as_roles(roles)
    inventory = InventoryManager(loader=loader, sources=[])
    for role, hosts in r.items():
        group = None if role in ("all", "ungrouped") else inventory.add_group(role)
        for h in hosts:
            inventory.add_host(h.alias, group=group)
    for h in r.all():
        entry = inventory.get_host(h.alias)
        for key, value in _host_vars(h).items():
            entry.set_variable(key, value)
    inventory.reconcile_inventory()  # fills the implicit "all"/"ungrouped" groups
    return inventory


def _collector_class() -> type:
    from ansible.plugins.callback import CallbackBase

    class Collector(CallbackBase):  # type: ignore[misc,valid-type]
        """Turns Ansible's events into Results; prints nothing."""

        CALLBACK_VERSION = 2.0
        CALLBACK_TYPE = "stdout"
        CALLBACK_NAME = "enoslib_collector"

        def __init__(self) -> None:
            super().__init__()
            self.results = Results()
            self._started: dict[tuple[str, str], float] = {}
            self._task_rank: dict[str, int] = {}
            self._ranks: list[int] = []

        def ordered(self, hosts: list[str]) -> Results:
            """Results by task order, then host order (Ansible reports them as they come)."""
            rank = {h: i for i, h in enumerate(hosts)}
            keyed = sorted(
                zip(self._ranks, range(len(self.results)), self.results, strict=True),
                key=lambda t: (t[0], rank.get(t[2].host, len(rank)), t[1]),
            )
            return Results(r for _, _, r in keyed)

        @staticmethod
        def _parts(res: Any) -> tuple[str, Any, dict[str, Any]]:
            host = getattr(res, "host", None) or res._host
            task = getattr(res, "task", None) or res._task
            data = getattr(res, "result", None)
            return host.get_name(), task, dict(data if data is not None else res._result)

        def _add(self, res: Any, status: str, ignored: bool = False) -> None:
            host, task, data = self._parts(res)
            # the name as written, not as templated for the first host
            ds = task.get_ds() if hasattr(task, "get_ds") else None
            raw = ds.get("name") if isinstance(ds, Mapping) else None
            name = str(raw) if raw else task.get_name()
            if name == "Gathering Facts" and status == "ok":
                return  # facts are not results the user asked for
            start = self._started.pop((host, task._uuid), None)
            self._ranks.append(self._task_rank.setdefault(task._uuid, len(self._task_rank)))
            self.results.append(
                result_from_data(
                    host, name, status, data,
                    None if start is None else time.monotonic() - start, ignored=ignored,
                )
            )

        def v2_runner_on_start(self, host: Any, task: Any) -> None:
            self._started[(host.get_name(), task._uuid)] = time.monotonic()

        def v2_runner_on_ok(self, result: Any) -> None:
            self._add(result, "ok")

        def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
            self._add(result, "failed", ignored=ignore_errors)

        def v2_runner_on_unreachable(self, result: Any) -> None:
            self._add(result, "unreachable")

        def v2_runner_on_skipped(self, result: Any) -> None:
            self._add(result, "skipped")

    return Collector


def result_from_data(
    host: str,
    task: str,
    status: str,
    data: dict[str, Any],
    duration: float | None,
    ignored: bool = False,
) -> Result:
    """The Result of one task on one host from Ansible's result dict (both Ansible paths)."""
    if ignored:
        data["ignored"] = True
    stdout = data.get("stdout")
    stderr = data.get("stderr") or data.get("module_stderr")
    return Result(
        host=host,
        task=task,
        status=status,  # type: ignore[arg-type]
        stdout=stdout if isinstance(stdout, str) else "",
        stderr=stderr if isinstance(stderr, str) else "",
        rc=data.get("rc") if isinstance(data.get("rc"), int) else None,
        changed=bool(data.get("changed", False)),
        payload=data,
        duration=duration,
    )


def _to_log(self: Any, msg: str, *_: Any, **__: Any) -> None:
    """Ansible's console output, sent to enoslib's logger instead (warnings at INFO)."""
    text = str(msg).strip()
    important = text.startswith(("[WARNING]", "[DEPRECATION", "[ERROR]", "ERROR"))
    log.log(logging.INFO if important else logging.DEBUG, "ansible: %s", text)


@contextlib.contextmanager
def _process_state() -> Iterator[None]:
    """Ansible's TaskQueueManager installs SIGINT/SIGTERM handlers and makes stdio
    non-inheritable for good; put both back afterwards (notebooks, later subprocesses)."""
    _prepare_environment()  # before ansible's first import reads the environment
    saved_fds = {}
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            saved_fds[fd] = os.get_inheritable(fd)
    main = threading.current_thread() is threading.main_thread()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)} if main else {}
    from ansible.utils.display import Display

    display = Display.display
    if not ansible_console():
        Display.display = _to_log  # type: ignore[method-assign]
    patched = None
    if not main:  # signal.signal() is refused outside the main thread: skip Ansible's
        import ansible.executor.task_queue_manager as tqm_module

        patched = tqm_module.signal

        class _NoSignals:
            def __getattr__(self, name: str) -> Any:
                return getattr(signal, name)

            @staticmethod
            def signal(*_: Any) -> None:
                return None

        tqm_module.signal = _NoSignals()  # type: ignore[assignment]
    try:
        yield
    finally:
        Display.display = display  # type: ignore[method-assign]
        for fd, inheritable in saved_fds.items():
            with contextlib.suppress(OSError):
                os.set_inheritable(fd, inheritable)
        for sig, handler in handlers.items():
            if handler is not None:
                signal.signal(sig, handler)
        if patched is not None:
            import ansible.executor.task_queue_manager as tqm_module

            tqm_module.signal = patched  # type: ignore[assignment]


def _set_cli_args(
    forks: int, tags: list[str] | None = None, skip_tags: list[str] | None = None
) -> None:
    from ansible import constants as C
    from ansible import context
    from ansible.module_utils.common.collections import ImmutableDict

    context.CLIARGS = ImmutableDict(
        connection="ssh",
        module_path=None,
        forks=forks,
        become=None,
        # what ansible-playbook's options default to: a task's ``become: true`` needs a method
        become_method=C.DEFAULT_BECOME_METHOD,
        become_user=C.DEFAULT_BECOME_USER,
        check=False,
        diff=False,
        verbosity=0,
        syntax=None,
        start_at_task=None,
        tags=tuple(tags or ("all",)),
        skip_tags=tuple(skip_tags or ()),
        listhosts=None,
        listtasks=None,
        listtags=None,
        extra_vars=(),
    )


def _setup(
    roles: RolesLike,
    extra_vars: Mapping[str, Any] | None,
    forks: int,
    tags: list[str] | None = None,
    skip_tags: list[str] | None = None,
) -> tuple[Any, Any, Any]:
    _prepare_environment()
    _set_cli_args(forks, tags, skip_tags)
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    inventory = build_inventory(roles, loader)
    variables = VariableManager(loader=loader, inventory=inventory)
    if extra_vars:
        variables._extra_vars = dict(extra_vars)  # no public setter; what `-e` fills
    return loader, inventory, variables


def _workers(roles: RolesLike, classic: bool | None) -> Any:
    """ansible-core's task workers for this run: threads on enoslib's agents
    (``enoslib.api._strategy``), or its forked processes (``classic``, or the
    ``ansible_workers="processes"`` setting)."""
    from enoslib.api._strategy import threaded, threads_enabled

    if not threads_enabled(classic):
        return contextlib.nullcontext(None)
    return threaded(as_roles(roles).all())


def run_plays(
    plays: list[Mapping[str, Any]],
    roles: RolesLike,
    extra_vars: Mapping[str, Any] | None = None,
    classic: bool | None = None,
) -> Results:
    """Run play dicts (``{"hosts": ..., "tasks": [...]}``) in order; never raises for
    host failures (the caller decides). ``classic``: forked workers and ansible-core's ssh
    connection plugin (default: the ``ansible_workers`` setting)."""
    forks = forks_for(len(as_roles(roles).all()))
    with _LOCK, _process_state(), _workers(roles, classic) as enos_hosts:
        loader, inventory, variables = _setup(roles, extra_vars, forks)
        from ansible.executor.task_queue_manager import TaskQueueManager
        from ansible.playbook.play import Play

        collector = _collector_class()()
        collector._init_callback_methods()
        tqm = TaskQueueManager(
            inventory=inventory,
            variable_manager=variables,
            loader=loader,
            passwords={},
            forks=forks,
        )
        tqm._callback_plugins = _callbacks(collector)  # load_callbacks() then keeps ours only
        tqm.enos_hosts = enos_hosts
        try:
            for source in plays:
                play = Play().load(trusted(dict(source)), variable_manager=variables, loader=loader)
                tqm.run(play)
        finally:
            tqm.cleanup()
            loader.cleanup_all_tmp_files()
    _remember_interpreters(collector.results, roles)
    return collector.ordered([h.alias for h in as_roles(roles).all()])


def run_playbooks(
    playbooks: list[str],
    roles: RolesLike,
    extra_vars: Mapping[str, Any] | None = None,
    tags: list[str] | None = None,
    skip_tags: list[str] | None = None,
    classic: bool | None = None,
) -> Results:
    """Run playbook files with the given roles as inventory (``classic``: see
    :func:`run_plays`)."""
    forks = forks_for(len(as_roles(roles).all()))
    with _LOCK, _process_state(), _workers(roles, classic) as enos_hosts:
        loader, inventory, variables = _setup(roles, extra_vars, forks, tags, skip_tags)
        from ansible.executor.playbook_executor import PlaybookExecutor

        collector = _collector_class()()
        collector._init_callback_methods()
        executor = PlaybookExecutor(
            playbooks=list(playbooks),
            inventory=inventory,
            variable_manager=variables,
            loader=loader,
            passwords={},
        )
        executor._tqm._callback_plugins = _callbacks(collector)
        executor._tqm.enos_hosts = enos_hosts
        executor.run()  # cleans its queue manager and loader up itself
    _remember_interpreters(collector.results, roles)
    return collector.ordered([h.alias for h in as_roles(roles).all()])


def _callbacks(collector: Any) -> list[Any]:
    """The callbacks of a run: ours, and Ansible's own stdout callback (the one ansible.cfg
    names, ``default`` otherwise) when the setting ``ansible_stdout`` asks for its output."""
    if not ansible_console():
        return [collector]
    from ansible import constants as C
    from ansible.plugins.loader import callback_loader

    printer = callback_loader.get(C.DEFAULT_STDOUT_CALLBACK)
    if printer is None:
        log.warning("ansible_stdout: no stdout callback %r in Ansible", C.DEFAULT_STDOUT_CALLBACK)
        return [collector]
    printer._init_callback_methods()
    printer.set_options()
    return [collector, printer]


def check(results: Results, on_error_continue: bool) -> Results:
    """Raise for unreachable hosts / failed tasks (ignored failures excluded)."""
    if not on_error_continue:
        results.raise_for_status()
    return results
