"""ansible-core's own strategies with each task run in a thread, on enoslib's agents.

``run_ansible`` (playbook files, roles) and the plays :mod:`enoslib.api.modules` cannot run
(blocks, roles, ``delegate_to``, ``run_once``, ``gather_facts``, other action plugins ...)
go through ansible-core's ``PlaybookExecutor`` / ``TaskQueueManager``, its strategy plugin
(``linear``, ``free`` ... whatever the play asks for), its ``PlayIterator``, handlers, tags,
meta tasks and callbacks, unchanged. Two things differ from ansible-core's own run:

* a task queued for a host runs in a thread of this process (ansible-core's
  ``TaskExecutor``, which posts its result on the strategy's queue as a forked
  ``WorkerProcess`` does), not in a worker process forked per task and host;
* when the task's target (the host, or its ``delegate_to`` host) is an enoslib host reached
  over ``ssh`` as enoslib knows it, its modules, commands and file transfers go to the
  host's agent (:mod:`enoslib.api._executor`'s plugins): no new Python per module on the
  host. Other targets (``connection: local``, ``delegate_to: localhost``, hosts enoslib
  does not know, another address or user than the host's, ``become`` with a password or a
  method other than ``sudo``) keep ansible-core's own connection and action plugins, in
  the thread.

A task goes to a forked worker as in ansible-core (:data:`WORKER_ACTIONS`) when it is
``async``, has a ``throttle``, runs an action that prompts or resets its connection, or its
connection is not ``ssh`` or ``local``. The configuration key ``ansible_workers =
"processes"`` (or ``engine="ansible"`` of ``actions``) runs everything the classic way.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import queue
import threading
from typing import Any, Iterator

from enoslib.config import get_config
from enoslib.objects import Host

log = logging.getLogger("enoslib.api.ansible")

# actions that talk to the controller's terminal or restart the connection: a forked worker
WORKER_ACTIONS = frozenset(
    {"pause", "wait_for_connection", "reboot", "synchronize", "async_status", "win_reboot"}
)
# connection plugins run in a thread (others, persistent ones, in a worker)
THREAD_CONNECTIONS = frozenset({"ssh", "smart", "local", "ansible.builtin.ssh",
                                "ansible.builtin.local"})
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def threads_enabled(classic: bool | None = None) -> bool:
    """Whether ansible-core runs tasks in threads on our agents (``classic``: the caller's
    choice; else the ``ansible_workers`` setting, ``"threads"`` or ``"processes"``)."""
    if classic is not None:
        return not classic
    from enoslib.api.ansible import core_settings_changed

    if "keep_remote_files" in core_settings_changed():  # modules left on the hosts: its own
        return False
    value = get_config().get("ansible_workers")
    if value not in ("threads", "processes"):
        from enoslib.errors import EnosConfigError

        raise EnosConfigError(f"invalid ansible_workers {value!r}: expected 'threads' or "
                              "'processes'", path="$.ansible_workers", rule="enum")
    return value == "threads"


@contextlib.contextmanager
def threaded(hosts: list[Host]) -> Iterator[dict[str, Host]]:
    """The queue manager given the hosts yielded (as ``tqm.enos_hosts``) runs its plays with
    our strategy; each play starts the agents of its hosts at once (:func:`_start_agents`)."""
    from enoslib.api._executor import _end_of_play

    try:
        with connections_listed_once():
            yield {h.alias: h for h in hosts}
    finally:
        _end_of_play()


@contextlib.contextmanager
def connections_listed_once() -> Iterator[None]:
    """ansible-core's connection plugins listed once while this runs (:class:`_Cached`)."""
    _install()
    _Cached.paths = None
    _Cached.active = True
    try:
        yield
    finally:
        _Cached.active = False


def _start_agents(hosts: list[Host]) -> None:
    """Start the agents of ``hosts`` reached over ssh, all at once; a host whose agent cannot
    start is not tried again by each of its tasks (unreachable, as ansible-core says it)."""
    from enoslib.api._executor import _DOWN, _start_agents as start
    from enoslib.api.agents import _agent_key

    over_ssh = [h for h in hosts if str(h.extra.get("ansible_connection", "ssh")) == "ssh"
                and _agent_key(h, None) not in _DOWN]
    start(over_ssh, None, ssh_wording=True)


@functools.lru_cache(maxsize=None)
def _install() -> None:
    """ansible-core's TaskQueueManager loads its strategy plugin through ours: a queue
    manager given enoslib hosts gets it with :class:`_Threaded` mixed in."""
    import ansible.executor.task_queue_manager as tqm_module
    import ansible.vars.clean as clean_module

    tqm_module.strategy_loader = _StrategyLoader(tqm_module.strategy_loader)
    clean_module.connection_loader = _Cached(clean_module.connection_loader)


class _Cached:
    """ansible-core's connection plugin loader for ``clean_facts``, which lists every
    connection plugin file (a directory scan) for each host and task in the strategy's
    thread: listed once per run of ours."""

    paths: list[Any] | None = None
    active = False

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def all(self, *args: Any, **kwargs: Any) -> Any:
        if not _Cached.active or args or kwargs != {"path_only": True}:
            return self._loader.all(*args, **kwargs)
        if _Cached.paths is None:
            _Cached.paths = list(self._loader.all(path_only=True))
        return iter(_Cached.paths)


class _StrategyLoader:
    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def get(self, name: str, *args: Any, **kwargs: Any) -> Any:
        strategy = self._loader.get(name, *args, **kwargs)
        tqm = args[0] if args else None
        if strategy is not None and getattr(tqm, "enos_hosts", None):
            strategy.__class__ = _threaded_class(type(strategy))
            strategy.enos_setup()
        return strategy


@functools.lru_cache(maxsize=None)
def _threaded_class(base: type) -> type:
    cls = type(base.__name__, (_Threaded, base), {})
    cls.__qualname__ = base.__qualname__
    return cls


class _Threaded:
    """What our strategy adds to ansible-core's: ``_queue_task`` runs the task in a thread."""

    _tqm: Any
    _loader: Any
    _final_q: Any
    _variable_manager: Any
    _queued_task_cache: dict[tuple[str, str], dict[str, Any]]
    _pending_results: int

    def enos_setup(self) -> None:
        self._enos_hosts: dict[str, Host] = dict(self._tqm.enos_hosts)
        # as many tasks at once as ansible-core would have workers
        self._enos_slots = threading.BoundedSemaphore(max(1, len(self._tqm._workers)))

    def run(self, iterator: Any, play_context: Any, *args: Any, **kwargs: Any) -> Any:
        # the play's hosts (not every host of the inventory: one that is down and not in
        # the play costs nothing, as with ansible-core)
        self._set_hosts_cache(iterator._play)  # type: ignore[attr-defined]
        _start_agents([self._enos_hosts[name] for name in self._hosts_cache_all  # type: ignore[attr-defined]
                       if name in self._enos_hosts])
        return super().run(iterator, play_context, *args, **kwargs)  # type: ignore[misc]

    def _queue_task(self, host: Any, task: Any, task_vars: dict[str, Any],
                    play_context: Any) -> None:
        reason = self._enos_needs_worker(host, task, task_vars)
        if reason:
            log.debug("task %r on %s: forked worker (%s)", task.get_name(), host.name, reason)
            super()._queue_task(host, task, task_vars, play_context)  # type: ignore[misc]
            return
        # what ansible-core's _queue_task does, with a thread for a worker
        self._queued_task_cache[(host.name, task._uuid)] = {
            "host": host, "task": task, "task_vars": task_vars, "play_context": play_context,
        }
        self._tqm.send_callback("v2_runner_on_start", host, task)
        self._pending_results += 1
        _POOL.submit(self._enos_run, host, task, task_vars, play_context)

    def _enos_needs_worker(self, host: Any, task: Any, task_vars: dict[str, Any]) -> str | None:
        """Why this task must run in a forked worker, or None."""
        from ansible.template import Templar

        if task.action.rsplit(".", 1)[-1] in WORKER_ACTIONS:
            return f"action {task.action}"
        templar = Templar(loader=self._loader, variables=task_vars)
        try:
            if int(templar.template(task.async_val) or 0) > 0:
                return "async"
            if int(templar.template(task.throttle) or 0) > 0 and not task.run_once:
                return "throttle"
            target, variables = host.name, task_vars
            if task.delegate_to is not None:
                target = str(templar.template(task.delegate_to))
                if target in LOCAL_NAMES:
                    return None  # ansible-core's implicit localhost: local connection
                if target not in self._enos_hosts:
                    return f"delegate_to {target!r}"
                variables = self._enos_hosts[target].ansible_vars()
            connection = variables.get("ansible_connection") or task.connection or "ssh"
            connection = str(templar.template(connection))
        except Exception as e:  # noqa: BLE001 - ansible-core reports it (in the worker)
            return f"templating: {e}"
        if connection not in THREAD_CONNECTIONS:
            return f"connection {connection!r}"
        return None

    def _enos_run(self, host: Any, task: Any, task_vars: dict[str, Any],
                  play_context: Any) -> None:
        """One task on one host, as ansible-core's WorkerProcess runs it: its own copy of
        the task and of the variables (the executor changes both), the result posted on
        the strategy's queue."""
        from ansible._internal import _task
        from ansible._internal._errors import _error_utils
        from ansible.errors import AnsibleError
        from ansible.executor.task_result import _RawTaskResult

        from enoslib.api._executor import in_our_thread
        from enoslib.api._task_cache import cached

        own = cached(task.copy())
        with self._enos_slots:
            try:
                with _task.TaskContext(own), in_our_thread():
                    executor = _agent_executor_class()(
                        host, own, dict(task_vars), play_context, self._loader,
                        _plain_loaders(), self._final_q, self._variable_manager)
                    executor.enos_hosts = self._enos_hosts
                    data = executor.run()
            except BaseException as e:  # noqa: BLE001 - the worker's result for a crash
                log.debug("task %r on %s raised", task.get_name(), host.name, exc_info=True)
                data = _error_utils.result_dict_from_exception(e)
        try:
            self._final_q.send_task_result(_RawTaskResult(
                host=host, task=own, return_data=data, task_fields=own.dump_attrs()))
        except Exception as ex:  # noqa: BLE001 - as the worker: a result saying why
            try:
                raise AnsibleError("Task result omitted due to queue send failure.") from ex
            except AnsibleError as wrapped:
                self._final_q.send_task_result(_RawTaskResult(
                    host=host, task=own, task_fields={},
                    return_data=_error_utils.result_dict_from_exception(wrapped)))


class _Pool:
    """Threads kept for later tasks (a thread start costs the strategy ~6 ms of waiting
    while the others work); daemon threads: a task stuck on a host never blocks the exit."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Any, tuple[Any, ...]]] = queue.SimpleQueue()
        self._idle = 0
        self._lock = threading.Lock()

    def submit(self, fn: Any, *args: Any) -> None:
        with self._lock:
            spawn = self._idle == 0
            if not spawn:
                self._idle -= 1
        self._jobs.put((fn, args))
        if spawn:
            threading.Thread(target=self._work, name="enoslib-ansible-task", daemon=True).start()

    def _work(self) -> None:
        while True:
            fn, args = self._jobs.get()
            try:
                fn(*args)
            except BaseException:  # noqa: BLE001 - _enos_run posts its own failures
                log.exception("task thread")
            with self._lock:
                self._idle += 1


_POOL = _Pool()


@functools.lru_cache(maxsize=None)
def _plain_loaders() -> Any:
    from ansible.plugins import loader as plugin_loader

    return plugin_loader.get_plugin_loader_namespace()


def _enos_target(executor: Any, connection: Any) -> Host | None:
    """The enoslib host whose agent runs this task's remote work, or None when the task
    keeps ansible-core's own connection (see module docstring)."""
    if getattr(connection, "transport", None) != "ssh":
        return None
    name = executor._task.delegate_to or executor._host.name
    host = executor.enos_hosts.get(name)
    if host is None:
        return None
    pc = executor._play_context
    if str(pc.remote_addr) != str(host.address):
        return None
    if host.user is not None and pc.remote_user not in (None, host.user):
        return None
    if host.port is not None and pc.port not in (None, host.port, str(host.port)):
        return None
    become = connection.become
    if become is not None and pc.become:
        if become._load_name.rsplit(".", 1)[-1] != "sudo" or pc.become_pass:
            return None
    return host


@functools.lru_cache(maxsize=None)
def _agent_executor_class() -> type:
    """ansible-core's TaskExecutor that, once it knows the task's connection, puts our
    agent-backed connection and action plugins in place when :func:`_enos_target` says so."""
    from ansible.executor.task_executor import TaskExecutor

    from enoslib.api._executor import _connection_class, _executor_class, _loaders

    _executor_class()  # plugin loading one thread at a time

    class Executor(TaskExecutor):  # type: ignore[misc,valid-type]
        enos_hosts: dict[str, Host]

        def _get_connection(self, cvars: Any, templar: Any, current_connection: Any) -> Any:
            conn = super()._get_connection(cvars, templar, current_connection)
            target = _enos_target(self, conn)
            if target is None:
                log.debug("task %r on %s: ansible-core's %s connection plugin, in a thread",
                          self._task.get_name(), self._host.name, conn.transport)
                self._shared_loader_obj = _plain_loaders()
                return conn
            conn.__class__ = _connection_class(type(conn))
            conn.enos_host = target
            self._shared_loader_obj = _loaders()
            return conn

    return Executor
