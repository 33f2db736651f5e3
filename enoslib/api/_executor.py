"""ansible-core's own task execution in this process, with the remote work done over
enoslib's connections: the module fast path for plays that need Ansible's evaluation.

:mod:`enoslib.api.modules` runs plain module tasks by itself. A play with ``when``, loops,
``register`` used by later tasks, ``{{ templates }}``, ``environment``, ``changed_when`` /
``failed_when``, ``extra_vars`` or controller-side action plugins (``copy``, ``template``,
``set_fact``, ``debug``, ``assert``, ``fail``) runs here instead: every task on every host goes
through ansible-core's own ``TaskExecutor`` (templating, conditionals, loops and their result
shape, the action plugin, changed/failed evaluation), with the variables of ansible-core's
``VariableManager`` (inventory, magic vars, facts, registered vars), and the results are
handled as its linear strategy does (``register``, facts, hosts dropping out, callbacks'
view of the result). What changes is only how the remote side is reached:

* a module (``ActionBase._execute_module``) runs on the host's agent (:mod:`enoslib.api.agents`)
  from a payload whose module zip is built once per module, not once per host and task;
* other remote commands and file transfers are done by the host's agent of the SSH user (no
  new SSH session per command); temporary directories (made and removed) and ``~`` expansion
  are done by the agent itself, without ``/bin/sh`` (same directories, modes, output and
  errors as ansible-core's POSIX shell plugin; other shells and ``remote_tmp`` values the
  shell would expand, such as ``$HOME/...``, go through the shell as in ansible-core);
* the agent's channel always pipelines modules (no parsing of ssh arguments per module);
  commands without input data (``raw``, ``script``, ``chmod`` ...) run on a terminal of their
  own, with the user's login shell, as ansible-core's ssh plugin runs them (``ssh -tt``);
  the ``stat`` that ``copy`` / ``template`` run on their destination skips the MIME type
  and file attributes the action plugin never reads (a ``file`` and an ``lsattr`` command
  per copy);
* the hosts of a task run at once, one thread each (no worker process per host and task);
  the first thread builds a module payload / loads a plugin, the others find it built.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import logging
import re
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator

from enoslib.api.results import Results
from enoslib.objects import Host

if TYPE_CHECKING:
    from enoslib.api._actions import actions

log = logging.getLogger("enoslib.api.modules")

# action plugins run here (the controller side is ansible-core's own); any other action
# plugin sends the play to ansible-core
ACTIONS = frozenset(
    {"normal", "command", "shell", "copy", "template", "set_fact", "debug", "assert", "fail"}
)
# task keywords run here (TaskExecutor evaluates them); others send the play to ansible-core
KEYWORDS = frozenset(
    {
        "name", "register", "become", "become_user", "become_method", "ignore_errors",
        "check_mode", "when", "loop", "loop_control", "with_items", "with_list", "with_dict",
        "with_sequence", "with_together", "with_nested", "with_subelements",
        "environment", "changed_when", "failed_when", "until", "retries", "delay", "vars",
        "no_log", "notify", "listen",
    }
)


class _AgentCall(bytes):
    """What our ``_configure_module`` hands ansible-core's ``_execute_module`` as module
    data: the request for the host's agent (ansible-core passes it on to
    ``_low_level_execute_command`` untouched)."""

    request: dict[str, Any]


@functools.lru_cache(maxsize=None)
def _module_path(name: str, collections: tuple[str, ...] | None) -> str:
    from ansible.errors import AnsibleError
    from ansible.plugins.loader import module_loader

    found = module_loader.find_plugin_with_context(
        name, ".py", collection_list=list(collections) if collections else None
    )
    path = found.plugin_resolved_path
    if not found.resolved or not path:
        raise AnsibleError(f"The module {name} was not found in configured module paths")
    return str(path)


@functools.lru_cache(maxsize=None)
def _action_class(base: type) -> type:
    """``base`` (an ansible-core action plugin class) with modules run by our agents and
    commands over our connections."""

    class Fast(base):  # type: ignore[misc,valid-type]
        def _execute_remote_stat(self, *args: Any, **kwargs: Any) -> Any:
            self._enos_remote_stat = True
            try:
                return super()._execute_remote_stat(*args, **kwargs)
            finally:
                self._enos_remote_stat = False

        def _execute_module(self, module_name: Any = None, module_args: Any = None,
                            *args: Any, **kwargs: Any) -> Any:
            if getattr(self, "_enos_remote_stat", False) and module_args is not None:
                # the action reads exists/isdir/checksum/islnk/lnk_source of its own stat:
                # the MIME type (a `file` command) and attributes (`lsattr`) the module
                # gathers by default are thrown away; not asked for (2.5x cheaper)
                module_args = {**module_args, "get_mime": False, "get_attributes": False}
            return super()._execute_module(module_name, module_args, *args, **kwargs)

        def _configure_module(self, module_name: str, module_args: Any, task_vars: Any) -> Any:
            from ansible.executor.module_common import _BuiltModule

            from enoslib.api.modules import module_payload

            path = _module_path(module_name, tuple(self._task.collections or ()) or None)
            # the hosts' threads ask at once: module_payload builds (and names) it once
            built = module_payload(module_name, path, module_args)
            environment: dict[str, Any] = {}
            self._compute_environment_string(environment)
            data = _AgentCall(b"#!enoslib-agent")
            data.request = {**built.request(False), "env": {k: str(v) for k, v in
                                                              environment.items()}}
            data.request["payload"] = built  # not sent: the zip when the agent lacks it
            return _BuiltModule(
                b_module_data=data,
                module_style="new",
                shebang="#!/usr/bin/python3",
                serialization_profile=built.profile,
            ), path

        def _low_level_execute_command(self, cmd: str, sudoable: bool = True,
                                       in_data: Any = None, *args: Any, **kwargs: Any) -> Any:
            if isinstance(in_data, _AgentCall):
                return _on_agent(self, in_data.request)
            return super()._low_level_execute_command(cmd, sudoable, in_data, *args, **kwargs)

        # temporary directories and ``~``: what ansible-core's POSIX shell plugin has /bin/sh
        # do, done by the agent of the SSH user (sudoable=False there too) without a shell
        def _make_tmp_path(self, remote_user: str | None = None) -> str:
            from ansible.errors import AnsibleConnectionFailure

            shell = self._connection._shell
            remote_tmp = self.get_shell_option("remote_tmp", default="~/.ansible/tmp")
            tmpdir = _tilde_path(self, remote_tmp, sudoable=False)
            if tmpdir is None:
                return super()._make_tmp_path(remote_user)
            system = self._is_become_unprivileged()
            basefile = shell._generate_temp_dir_name()
            reply = _agent_request(self._connection.enos_host, None, {
                "mkdtemp": basefile, "tmpdir": tmpdir,
                "system_tmpdirs": list(shell.get_option("system_tmpdirs")) if system else None})
            if reply["rc"] != 0:
                stderr = base64.b64decode(reply["stderr"]).decode("utf-8", "replace")
                if "No space left on device" in stderr:
                    raise AnsibleConnectionFailure(stderr)
                # the command ansible-core would have run (rare: one more request)
                expanded = self._remote_expand_user(remote_tmp, sudoable=False)
                cmd = shell._mkdtemp2(basefile=basefile, system=system, tmpdir=expanded).command
                raise AnsibleConnectionFailure(
                    "Failed to create temporary directory. In some cases, you may have been able "
                    "to authenticate and did not have permissions on the target directory. "
                    "Consider changing the remote tmp path in ansible.cfg to a path rooted in "
                    '"/tmp", for more error information use -vvv. Failed command was: '
                    f"{cmd}, exited with result {reply['rc']}")
            self._cleanup_remote_tmp = True
            made = base64.b64decode(reply["stdout"]).decode("utf-8", "surrogateescape")
            path = shell.join_path(made.strip().split(f"{basefile}=", 1)[-1], "")
            _check_home(self, path.rstrip("/").rsplit("/", 1)[0])
            shell.tmpdir = path
            return path

        def _remove_tmp_path(self, tmp_path: str | None, force: bool = False) -> None:
            from ansible.utils.display import Display

            shell = self._connection._shell
            if getattr(shell, "SHELL_FAMILY", None) != "sh":
                return super()._remove_tmp_path(tmp_path, force)
            if tmp_path is None and shell.tmpdir:
                tmp_path = shell.tmpdir
            if force or self._should_remove_tmp_path(tmp_path):
                reply = _agent_request(self._connection.enos_host, None, {"rmtree": tmp_path})
                if reply["rc"] != 0:
                    stderr = base64.b64decode(reply["stderr"]).decode("utf-8", "replace")
                    Display().warning(f"Error deleting remote temporary files (rc: {reply['rc']}, "
                                      f"stderr: {stderr})")
                else:
                    shell.tmpdir = None

        def _remote_expand_user(self, path: str, sudoable: bool = True,
                                pathsep: Any = None) -> str:
            tilde = _tilde_path(self, path, sudoable) if path.startswith("~") else None
            if tilde is None:
                return str(super()._remote_expand_user(path, sudoable, pathsep))
            head, _, rest = tilde.partition("/")
            reply = _agent_request(self._connection.enos_host, None, {"expanduser": head})
            out = base64.b64decode(reply["stdout"]).decode("utf-8", "surrogateescape").strip()
            if not out:  # ansible-core then tries pwd: its own way
                return str(super()._remote_expand_user(path, sudoable, pathsep))
            initial = out.splitlines()[-1]
            expanded = self._connection._shell.join_path(initial, rest) if "/" in path else initial
            _check_home(self, expanded.rsplit("/", 1)[0] if "/" in expanded else "")
            return str(expanded)

    # ansible-core's plugin options are looked up by the class's name
    Fast.__name__ = Fast.__qualname__ = base.__name__
    return Fast


_SAFE_PATH = re.compile(r"[-_.A-Za-z0-9/]*")


def _tilde_path(action: Any, path: str, sudoable: bool) -> str | None:
    """``path`` with its leading ``~`` naming the user whose home ansible-core's
    ``_remote_expand_user`` would ask the host's shell for (``~`` + the become or remote
    user); None when the agent cannot expand it as ``/bin/sh`` would (another shell, a local
    connection, characters the shell would expand, a ``~`` form quoted by ansible-core)."""
    from ansible.plugins.shell import _USER_HOME_PATH_RE

    shell = action._connection._shell
    if getattr(shell, "SHELL_FAMILY", None) != "sh" or getattr(
            action._connection, "_remote_is_local", False):
        return None
    head, sep, rest = path.partition("/")
    if not _SAFE_PATH.fullmatch(rest) or ".." in rest.split("/"):
        return None
    if not head.startswith("~"):
        return path if _SAFE_PATH.fullmatch(head) else None
    if head == "~":
        become_user = action.get_become_option("become_user")
        if sudoable and action._connection.become and become_user:
            head = f"~{become_user}"
        else:
            head = f"~{action._get_remote_user() or ''}"
    if head != "~" and not _USER_HOME_PATH_RE.match(head):
        return None
    return head + sep + rest


def _check_home(action: Any, directory: str) -> None:
    """ansible-core's check of an expanded home (no ``..`` in it)."""
    from ansible.errors import AnsibleError

    if ".." in directory.split("/"):
        raise AnsibleError(f"'{action._get_remote_addr({})}' returned an invalid relative home "
                           "directory path containing '..'")


def _on_agent(action: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Run one module on the agent of the action's host and user; the output as
    ``_low_level_execute_command`` gives it."""
    from ansible.errors import AnsibleError

    become = action._connection.become
    user = None
    if become is not None and action._play_context.become:
        if become._load_name.rsplit(".", 1)[-1] != "sudo":
            raise AnsibleError(f"become method {become._load_name!r} is not supported here")
        user = become.get_option("become_user") or "root"
    built = request.pop("payload")
    reply = _agent_request(action._connection.enos_host, user, request, built)
    return {"rc": reply["rc"], "stdout": reply["stdout"], "stderr": reply["stderr"]}


# agents that could not start at the beginning of the current play: (status, message)
_DOWN: dict[tuple[Any, ...], tuple[str, str]] = {}


def _start_agents(hosts: list[Host], user: str | None, ssh_wording: bool = False) -> None:
    """Start the agents of ``hosts`` for ``user``, all at once; a host whose agent cannot
    start is noted in ``_DOWN`` (not tried again by each of its tasks). ``ssh_wording``: an
    unreachable host is said as ansible-core's ssh plugin says it (its strategy's view)."""
    from enoslib.api.agents import LOCK, _agent_key, _agents_for

    with LOCK:
        for h, agent in _agents_for(hosts, user).items():
            if isinstance(agent, tuple):
                status, message = agent
                if ssh_wording and status == "unreachable":
                    message = f"Failed to connect to the host via ssh: {message}"
                _DOWN[_agent_key(h, user)] = (status, message)


# one request at a time per agent: the tasks of several hosts delegated to one host share
# its agent (enoslib.api._strategy)
_REQUEST_LOCKS: dict[tuple[Any, ...], threading.Lock] = {}


# the agent key of a host and user (its ssh options hashed: ~5% of the controller's CPU of
# a play when computed for each request), once per play: hosts do not change while it runs
_KEYS: dict[tuple[int, str | None], tuple[Host, tuple[Any, ...]]] = {}


def _end_of_play() -> None:
    """Forget what a play noted about its hosts (agents found down, agent keys) and its
    tasks (keywords post-validated once)."""
    from enoslib.api import _task_cache

    _DOWN.clear()
    _KEYS.clear()
    _task_cache.clear()


def _key(host: Host, user: str | None) -> tuple[Any, ...]:
    from enoslib.api.agents import _agent_key

    known = _KEYS.get((id(host), user))
    if known is not None and known[0] is host:
        return known[1]
    key = _agent_key(host, user)
    _KEYS[(id(host), user)] = (host, key)
    return key


def _agent_request(host: Host, user: str | None, request: dict[str, Any],
                   built: Any = None) -> dict[str, Any]:
    """One request to the agent of ``host`` and ``user`` (started if needed); its reply.
    ``built``: the module payload whose zip the agent gets if it has not got it yet."""
    with _REQUEST_LOCKS.setdefault(_key(host, user), threading.Lock()):
        return _agent_request_one(host, user, request, built)


def _agent_request_one(host: Host, user: str | None, request: dict[str, Any],
                       built: Any = None) -> dict[str, Any]:
    from ansible.errors import AnsibleConnectionFailure, AnsibleError

    from enoslib.api.agents import _AGENTS, _Agent, _agents_for, _exchange, frame, run_payload

    key = _key(host, user)
    agent = _DOWN.get(key) or _AGENTS.get(key)
    if not isinstance(agent, tuple) and (agent is None or not agent.alive()):
        agent = _agents_for([host], user)[host]  # (re)started as _agents_for does it
    if not isinstance(agent, _Agent):
        status, message = agent
        raise (AnsibleConnectionFailure if status == "unreachable" else AnsibleError)(message)
    if built is not None:  # a module: its library is sent only when the host lacks it
        run_payload([agent], built, request)
    else:
        body = json.dumps(request).encode("utf-8", "surrogateescape")
        _exchange({agent: frame(body)})
    reply = getattr(agent, "reply", None)
    if reply is None or "rc" not in reply:
        status, message = agent.failure() if reply is None else ("failed", str(reply))
        agent.close()
        _AGENTS.pop(key, None)
        raise (AnsibleConnectionFailure if status == "unreachable" else AnsibleError)(message)
    return dict(reply)


@functools.lru_cache(maxsize=None)
def _connection_class(base: type) -> type:
    """ansible-core's connection plugin class with commands and file transfers done by the
    host's agent (started over enoslib's multiplexed SSH connection, as the SSH user)."""

    class Fast(base):  # type: ignore[misc,valid-type]
        enos_host: Host

        def _connect(self) -> Any:
            self._connected = True
            return self

        # modules always reach the agent as data on its channel, never as a file on the host,
        # and a module's channel has no TTY (ansible-core's ssh plugin parses its ssh
        # arguments to tell, three times per module)
        def is_pipelining_enabled(self, wrap_async: bool = False) -> bool:
            return not wrap_async

        def _is_tty_requested(self) -> bool:
            return False

        def exec_command(self, cmd: str, in_data: bytes | None = None,
                         sudoable: bool = True) -> tuple[int, bytes, bytes]:
            request = {"sh": cmd, "stdin": base64.b64encode(in_data or b"").decode()}
            if not in_data and sudoable and self._enos_tty():  # when ssh would get -tt
                request["tty"] = True
            reply = _agent_request(self.enos_host, None, request)
            return (reply["rc"], base64.b64decode(reply["stdout"]),
                    base64.b64decode(reply["stderr"]))

        def _enos_tty(self) -> bool:
            try:
                return bool(self.get_option("use_tty"))
            except KeyError:  # a connection plugin without the option: no terminal
                return False

        def put_file(self, in_path: str, out_path: str) -> None:
            with open(in_path, "rb") as f:
                data = base64.b64encode(f.read()).decode()
            reply = _agent_request(self.enos_host, None, {"put": out_path, "data": data})
            if reply["rc"] != 0:
                from ansible.errors import AnsibleError

                raise AnsibleError(f"failed to transfer file to {out_path}: "
                                   f"{base64.b64decode(reply['stderr']).decode()}")

        def fetch_file(self, in_path: str, out_path: str) -> None:
            import shlex

            # a transfer (sftp/scp for ansible-core): never on a terminal
            rc, out, err = self.exec_command(f"cat {shlex.quote(in_path)}", sudoable=False)
            if rc != 0:
                from ansible.errors import AnsibleError

                raise AnsibleError(f"failed to fetch {in_path}: {err.decode()}")
            with open(out_path, "wb") as f:
                f.write(out)

        def close(self) -> None:
            self._connected = False

    # ansible-core's plugin options are looked up by the class's name
    Fast.__name__ = Fast.__qualname__ = base.__name__
    return Fast


_THREAD = threading.local()


@contextlib.contextmanager
def in_our_thread() -> Iterator[None]:
    """ansible-core's TaskExecutor runs here in one of our threads: templates compiled once
    (:mod:`enoslib.api._templating_cache`) and the ssh plugin's argument parser built once
    (:class:`_SshArgparse`); ansible-core elsewhere (the classic path) is left as it is."""
    from enoslib.api._templating_cache import cached

    before = getattr(_THREAD, "ours", False)
    _THREAD.ours = True
    try:
        with cached():
            yield
    finally:
        _THREAD.ours = before


class _SshArgparse:
    """``argparse`` as ansible-core's ssh connection plugin sees it: in our threads, the
    parser each connection builds in its constructor (``-t``/``-o``, read by
    ``_is_tty_requested``, which our agent-backed connection never calls) is recorded and
    built when first used, once per set of arguments (argparse looks its help texts up in
    gettext's catalogs: a dozen ``stat`` calls, ~5% of the controller's CPU of a play)."""

    def __init__(self, module: Any) -> None:
        self._module = module
        self._built: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def ArgumentParser(self, *args: Any, **kwargs: Any) -> Any:  # noqa: N802 - argparse's name
        if not getattr(_THREAD, "ours", False):
            return self._module.ArgumentParser(*args, **kwargs)
        return _LazyParser(self, args, kwargs)

    def parser(self, calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]]) -> Any:
        key = repr(calls)
        with self._lock:
            built = self._built.get(key)
            if built is None:
                (_, args, kwargs), *rest = calls
                built = self._module.ArgumentParser(*args, **kwargs)
                for _, a, kw in rest:
                    built.add_argument(*a, **kw)
                self._built[key] = built
            return built


class _LazyParser:
    def __init__(self, module: _SshArgparse, args: tuple[Any, ...], kwargs: dict[str, Any]):
        self._enos_module = module
        self._enos_calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
            ("init", args, kwargs)]

    def add_argument(self, *args: Any, **kwargs: Any) -> None:
        self._enos_calls.append(("add_argument", args, kwargs))

    def __getattr__(self, name: str) -> Any:
        # parse_known_args ... of the parser built once (parsing does not change a parser)
        return getattr(self._enos_module.parser(self._enos_calls), name)


def _install_ssh_argparse() -> None:
    try:
        import argparse

        from ansible.plugins.connection import ssh
    except ImportError:
        return
    if getattr(ssh, "argparse", None) is argparse:
        ssh.argparse = _SshArgparse(argparse)  # type: ignore[attr-defined]


@functools.lru_cache(maxsize=None)
def _executor_class() -> type:
    from ansible.executor.task_executor import TaskExecutor
    from ansible.plugins.loader import PluginLoader

    # ansible-core loads plugins (action, connection, lookup, filter ...) and their
    # configuration (the YAML of their documentation) in one process per worker; here
    # hosts' threads may load the same one at once: one at a time (the first loads it, the
    # others find it loaded)
    lock = threading.RLock()

    def one_at_a_time(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(*args, **kwargs)

        return locked

    PluginLoader._load_module_source = one_at_a_time(  # type: ignore[method-assign]
        PluginLoader._load_module_source)
    PluginLoader._load_config_defs = one_at_a_time(  # type: ignore[method-assign]
        PluginLoader._load_config_defs)
    _install_ssh_argparse()
    from enoslib.api._plugin_options import install

    install()  # plugin options resolved once per set of inputs in our threads

    class Executor(TaskExecutor):  # type: ignore[misc,valid-type]
        enos_host: Host

        def _get_connection(self, cvars: Any, templar: Any, current_connection: Any) -> Any:
            conn = super()._get_connection(cvars, templar, current_connection)
            conn.__class__ = _connection_class(type(conn))
            conn.enos_host = self.enos_host
            return conn

    return Executor


class _ActionLoader:
    """ansible-core's action plugin loader, handing out our subclasses of its plugins (the
    task's own, and those an action runs itself: ``template`` runs ``copy``)."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def get(self, *args: Any, **kwargs: Any) -> Any:
        got = self._loader.get(*args, **kwargs)
        if got is not None and not kwargs.get("class_only"):
            _make_fast(got)
        return got

    def get_with_context(self, *args: Any, **kwargs: Any) -> Any:
        got = self._loader.get_with_context(*args, **kwargs)
        if got.object is not None and not kwargs.get("class_only"):
            _make_fast(got.object)
        return got


def _make_fast(action: Any) -> None:
    action.__class__ = _action_class(type(action))
    # ActionBase keeps ansible-core's loaders whatever it is given: ours for its own actions
    action._shared_loader_obj = _loaders()


@functools.lru_cache(maxsize=None)
def _loaders() -> "_Loaders":
    from ansible.plugins import loader as plugin_loader

    return _Loaders(plugin_loader.get_plugin_loader_namespace())


class _Loaders:
    """ansible-core's plugin loaders namespace, with our action plugin loader."""

    def __init__(self, namespace: Any) -> None:
        self._namespace = namespace
        self.action_loader = _ActionLoader(namespace.action_loader)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._namespace, name)


class _NoQueue:
    """The worker's queue to the strategy: per-item events are not results we keep."""

    def send_callback(self, *_: Any, **__: Any) -> None:
        return None

    def send_display(self, *_: Any, **__: Any) -> None:
        return None


def run_actions(a: "actions") -> Results:
    """The recorded tasks of ``a`` as ansible-core's linear strategy runs them, each task by
    ansible-core's TaskExecutor on all hosts at once (see module docstring)."""
    from enoslib.api._actions import _run_linear, become_user_of
    from enoslib.api._strategy import connections_listed_once
    from enoslib.api.agents import LOCK
    from enoslib.api.ansible import _LOCK, _process_state, _setup, forks_for, trusted
    from enoslib.api.hosts import get_hosts

    hosts = get_hosts(a.roles, a.pattern_hosts)
    by_alias = {h.alias: h for h in hosts}
    with LOCK:
        # the agents start (and find the hosts' Python) before the inventory is built;
        # meanwhile ansible-core's executor is imported (the first call in a process)
        warm = threading.Thread(target=_import_executor, daemon=True)
        warm.start()
        users = {become_user_of(t.keywords, a.run_as) for t in a.tasks}
        for user in sorted(users, key=str):
            if user is None or "{" not in user:
                _start_agents(hosts, user)
        warm.join()
        with _LOCK, _process_state(), connections_listed_once():
            loader, inventory, variables = _setup(a.roles, a.extra_vars, forks_for(len(hosts)))
            from ansible import constants as C
            from ansible.playbook.play import Play
            from ansible.playbook.play_context import PlayContext

            play = Play().load(trusted(a.play()), variable_manager=variables, loader=loader)
            play_context = PlayContext(play=play, passwords={})
            tasks = [t for block in play.compile() for t in block.block
                     if t.action not in C._ACTION_META]
            handlers = [h for block in play.handlers for h in block.block]
            assert len(tasks) == len(a.tasks) and len(handlers) == len(a.handlers), (
                "one ansible-core task per recorded task")
            compiled = dict(zip(map(id, a.tasks), tasks))
            names = [h.alias for h in hosts]
            notified: dict[str, set[str]] = {}  # host -> notifications

            def run_task(task: Any, active: list[Host]) -> Results:
                return _run_task(compiled[id(task)], active, by_alias, play, play_context,
                                 loader, variables, names, notified)

            try:
                results = _run_linear(a, run_task)
                return _run_handlers(results, handlers, hosts, play, play_context, loader,
                                     variables, names, notified)
            finally:
                _end_of_play()
                loader.cleanup_all_tmp_files()


def _import_executor() -> None:
    """What running a play here imports, imported while the hosts' agents start."""
    try:
        import ansible.parsing.dataloader  # noqa: F401
        import ansible.playbook.play  # noqa: F401
        import ansible.playbook.play_context  # noqa: F401
        import ansible.vars.manager  # noqa: F401

        _executor_class()
        _loaders()
    except Exception:  # noqa: BLE001 - imported again (and raising) where used
        pass


def _run_handlers(results: Results, handlers: list[Any], hosts: list[Host], *context: Any
                  ) -> Results:
    """The handlers notified by the play's tasks, at the end of the play as ansible-core's
    linear strategy runs them: in the order they are written, each once, on the hosts still
    in play that notified it (by name or ``listen`` topic)."""
    from enoslib.api._actions import dropped_hosts

    notified: dict[str, set[str]] = context[-1]
    gone = dropped_hosts(results)
    by_alias = {h.alias: h for h in hosts}
    for handler in handlers:
        topics = {handler.get_name(include_role_fqcn=False), handler.name, *handler.listen}
        on = [h for h in hosts if h.alias not in gone and notified.get(h.alias, set()) & topics]
        if not on:
            continue
        step = _run_task(handler, on, by_alias, *context)
        gone |= dropped_hosts(step)
        results.extend(step)
    return results


def _run_task(task: Any, active: list[Host], by_alias: dict[str, Host], play: Any,
              play_context: Any, loader: Any, variables: Any, names: list[str],
              notified: dict[str, set[str]]) -> Results:
    from ansible.executor.task_result import _RawTaskResult

    from enoslib.api._task_cache import cached

    inventory = variables._inventory
    shared = _loaders()
    executor_class = _executor_class()
    jobs: list[tuple[Host, Any, Any]] = []
    for h in active:
        ihost = inventory.get_host(h.alias)
        job_vars = variables.get_vars(play=play, host=ihost, task=task, _hosts=names,
                                      _hosts_all=names)
        # what TaskExecutor changes is the task and its parents' attributes, not the other
        # tasks of its block (ansible-core's loop copies tasks the same way)
        copy = cached(task.copy(exclude_tasks=True))
        executor = executor_class(ihost, copy, job_vars, play_context, loader, shared,
                                  _NoQueue(), variables)
        executor.enos_host = h
        jobs.append((h, ihost, executor))
    outcome: dict[str, tuple[dict[str, Any], float]] = {}

    def one(h: Host, executor: Any) -> None:
        start = time.monotonic()
        with in_our_thread():
            outcome[h.alias] = (executor.run(), time.monotonic() - start)

    _in_threads([(one, (h, ex)) for h, _, ex in jobs])
    results = Results()
    for h, ihost, executor in jobs:
        data, duration = outcome[h.alias]
        raw = _RawTaskResult(host=ihost, task=executor._task, return_data=data,
                             task_fields=executor._task.dump_attrs())
        results.append(_handle(raw, task, h, variables, duration, notified))
    return results


def _in_threads(calls: list[tuple[Callable[..., None], tuple[Any, ...]]]) -> None:
    if len(calls) == 1:
        fn, args = calls[0]
        fn(*args)
        return
    # the strategy's pooled threads: a thread start per host and task cost ~5% of the
    # controller's CPU of a play here
    from enoslib.api._strategy import _POOL

    done = threading.Semaphore(0)

    def call(fn: Callable[..., None], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        finally:
            done.release()

    for fn, args in calls:
        _POOL.submit(call, fn, args)
    for _ in calls:
        done.acquire()


def _handle(raw: Any, task: Any, host: Host, variables: Any, duration: float,
            notified: dict[str, set[str]]) -> Any:
    """What ansible-core's strategy does with a task result (facts, ``register``, handlers
    notified) and the Result our callback would make of it."""
    from ansible import constants as C

    from enoslib.api.ansible import result_from_data
    from ansible.vars.clean import module_response_deepcopy, strip_internal_keys

    name = task.get_ds().get("name") if isinstance(task.get_ds(), dict) else None
    name = str(name) if name else task.get_name()
    ignored = False
    if raw.is_failed():
        status = "failed"
        ignored = bool(raw.task_fields.get("ignore_errors"))
    elif raw.is_unreachable():
        status = "unreachable"
    elif raw.is_skipped():
        status = "skipped"
    else:
        status = "ok"
        items = raw._loop_results if task.loop else [raw._return_data]
        for item in items:
            if "_ansible_notify" in item and raw.is_changed():
                notified.setdefault(host.alias, set()).update(item["_ansible_notify"])
            facts = item.get("ansible_facts")
            if facts and task.action not in C._ACTION_DEBUG:
                cacheable = item.pop("_ansible_facts_cacheable", False)
                is_set_fact = task.action in C._ACTION_SET_FACT
                if not is_set_fact or cacheable:
                    variables.set_host_facts(host.alias, facts.copy())
                if is_set_fact:
                    variables.set_nonpersistent_facts(host.alias, facts.copy())
    if task.register:
        clean = strip_internal_keys(module_response_deepcopy(raw._return_data))
        clean.pop("invocation", None)
        variables.set_nonpersistent_facts(host.alias, {task.register: clean})
    data = dict(raw.as_callback_task_result().result)
    return result_from_data(host.alias, name, status, data, duration, ignored=ignored)
