"""Ansible modules over enoslib's own connections: the module fast path.

ansible-core runs a task by forking a worker per host, templating the task there, building
the module's AnsiballZ payload, and starting a new Python on the host that imports
``ansible.module_utils.basic`` again (~70 ms of CPU per host and per task). Here the
controller builds each payload ONCE per (module, arguments) with ansible-core's own
``modify_module``, and a small agent (:mod:`enoslib.api._agent`), started once per host
over the host's multiplexed SSH connection and kept for the process's lifetime, runs it in a
forked child through ansible-core's own AnsiballZ loader. The module library and the module
code are Ansible's; the result goes through the same parsing as ansible-core's
(``_filter_non_json_lines``, the module's serialization profile, ``remove_internal_keys``,
``failed`` from ``rc``) and becomes the same :class:`~enoslib.api.results.Result`.

Which path runs what (decided per play; the reason for falling back is logged at DEBUG on
``enoslib.api.actions``, and ``actions.engine_used`` says which path ran):

* SSH fast path: plays whose tasks are all plain ``shell``/``command``/``raw`` calls
  (see ``Task.fast``); in a mixed play, those tasks still take it.
* module fast path, plain (here): modules that ansible-core runs with its ``normal`` action
  (``apt``, ``pip``, ``lineinfile``, ``file``, ``stat``, ``setup``, ``service``/``systemd``
  by their own names, ``get_url``, ``user``, collection modules ...) and ``command`` /
  ``shell`` with module arguments; task keywords ``name``, ``register``, ``become`` /
  ``become_user`` (sudo), ``ignore_errors``, ``check_mode``; play-level ``run_as``;
  arguments without ``{{ }}``. Also :func:`~enoslib.api._actions.gather_facts`.
* module fast path, through ansible-core's TaskExecutor (:mod:`enoslib.api._executor`):
  plays that also use ``when``, loops (``loop``, ``with_*``, ``loop_control``), ``{{ }}``,
  ``environment``, ``changed_when``/``failed_when``, ``until``/``retries``, ``vars``,
  ``no_log``, ``notify``/handlers (``listen``), ``extra_vars``, ``ansible_*`` variables of the
  hosts (``Host.extra``: ``ansible_become`` ...) or the play, and the action plugins
  ``copy``, ``template``, ``set_fact``, ``debug``, ``assert``, ``fail``; ``run_play`` plays
  made of such tasks (play keys ``hosts``, ``name``, ``tasks``, ``handlers``, ``vars``,
  ``become``/``become_user``, ``gather_facts: false``).
* ansible-core: everything else: other action plugins (``fetch``, ``package``,
  ``service``, ``uri``, ``unarchive``, ``wait_for_connection`` ...), ``async``/``background``,
  ``delegate_to``, ``run_once``, ``ignore_unreachable``, ``any_errors_fatal``, ``throttle``,
  ``gather_facts=True``, other become methods, ``ansible_connection`` / become-plugin
  variables (``LocalHost``; ``_actions._PLUGIN_VARS``), blocks, other play keys (``serial``,
  ``pre_tasks``, ``roles`` ...), playbook files (``run_ansible``), roles.

A new process starts warm too: the payloads and the module resolution are kept on disk in
enoslib's cache dir (ansible-core keeps its module zips per process only), so a later
script imports neither ansible-core's plugin loader nor its module analysis.
"""

from __future__ import annotations

import ast
import atexit
import base64
import copy
import hashlib
import json
import logging
import os
import selectors
import shlex
import subprocess
import threading
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from enoslib.api.agents import LOCK, _AGENTS, _Agent, _agent_key, _agents_for, run_payload
from enoslib.api.results import Results
from enoslib.config import cache_store
from enoslib.objects import Host

if TYPE_CHECKING:
    from enoslib.api._actions import Task, actions

log = logging.getLogger("enoslib.api.modules")

# task keywords this path honours; any other keyword sends the play to ansible-core
KEYWORDS = frozenset(
    {"name", "register", "become", "become_user", "become_method", "ignore_errors", "check_mode"}
)
# action plugins whose work is only "run the module" (shell = command with _uses_shell)
_PLAIN_ACTIONS = {"ansible.legacy.normal", "ansible.builtin.normal", "normal"}
_COMMAND_ACTIONS = {"command": False, "shell": True}


# -- which tasks -------------------------------------------------------------------------
def _templated(value: Any) -> bool:
    from enoslib.api.ansible import Literal

    if isinstance(value, Literal):
        return False
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(_templated(k) or _templated(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_templated(v) for v in value)
    return False


def unsupported(task: "Task") -> str | None:
    """Why ``task`` cannot run on the module fast path (neither by itself nor through
    ansible-core's TaskExecutor, :mod:`enoslib.api._executor`), or None when it can."""
    if _plain_refusal(task) is None:
        return None
    from enoslib.api._executor import ACTIONS, KEYWORDS as EXECUTOR_KEYWORDS

    extra = sorted(set(task.keywords) - EXECUTOR_KEYWORDS)
    if extra:
        return f"task keyword(s) {', '.join(extra)}"
    method = task.keywords.get("become_method", "sudo")
    if method not in ("sudo", "ansible.builtin.sudo"):
        return f"become_method {method!r}"
    try:
        handler = _action_of(task.module)
    except _Unsupported as exc:
        return str(exc)
    if handler not in ACTIONS:
        return f"action plugin {handler!r} (not run by the module fast path)"
    return None


_ACTIONS_OF: dict[str, str] = {}


def _action_of(name: str) -> str:
    """The short name of the action plugin ansible-core runs for the task action ``name``
    (as its TaskExecutor picks it); only ansible-core's own action plugins count."""
    if name in _ACTIONS_OF:
        return _ACTIONS_OF[name]
    from enoslib.api.ansible import _process_state

    with _process_state():
        from ansible.plugins.loader import action_loader, module_loader

        found = module_loader.find_plugin_with_context(name)
        if found.resolved and found.action_plugin:
            handler = found.action_plugin
        elif action_loader.has_plugin(name):
            handler = action_loader.find_plugin_with_context(name).resolved_fqcn or name
        elif found.resolved:
            handler = "ansible.builtin.normal"
        else:
            raise _Unsupported(f"module {name!r} not found")
    prefix, _, short = handler.rpartition(".")
    _ACTIONS_OF[name] = short if prefix in ("", "ansible.builtin", "ansible.legacy") else handler
    return _ACTIONS_OF[name]


def _plain_refusal(task: "Task") -> str | None:
    """Why ``task`` cannot run on the module fast path by itself (without ansible-core's
    task execution), or None when it can."""
    extra = sorted(set(task.keywords) - KEYWORDS)
    if extra:
        return f"task keyword(s) {', '.join(extra)}"
    if task.keywords.get("become_method", "sudo") != "sudo":
        return f"become_method {task.keywords['become_method']!r}"
    if not isinstance(task.keywords.get("check_mode", False), bool):
        return "check_mode is not a boolean"
    if _templated(task.args) or _templated(task.free_form) or _templated(task.keywords):
        return "a {{ template }} in its arguments"
    try:
        _, _, uses_shell = _resolve(task.module)
    except _Unsupported as exc:
        return str(exc)
    if uses_shell and "expand_argument_vars" in task.args:
        return "shell with expand_argument_vars (ansible-core's shell action refuses it)"
    return None


class _Unsupported(Exception):
    pass


_RESOLVED: dict[str, tuple[str, str, bool]] = {}


def _resolve(name: str) -> tuple[str, str, bool]:
    """(module name to run, its source path, uses shell) as ansible-core's TaskExecutor and
    ActionBase would pick them; raises _Unsupported for controller-side action plugins."""
    if name in _RESOLVED:
        return _RESOLVED[name]
    disk = _resolution_cache(name)
    try:
        module, path, shell = json.loads(disk.read_text())
        if os.path.isfile(path):  # no plugin loader (0.2 s) in a new process
            _RESOLVED[name] = (module, path, shell)
            return _RESOLVED[name]
    except (OSError, ValueError):
        pass
    from enoslib.api.ansible import _process_state

    with _process_state():  # the plugin loader's warnings go to our logger
        from ansible.plugins.loader import action_loader, module_loader

        found = module_loader.find_plugin_with_context(name)
    if not found.resolved:
        raise _Unsupported(f"module {name!r} not found")
    fqcn = found.resolved_fqcn or name
    short = fqcn.rsplit(".", 1)[-1]
    if found.action_plugin:
        handler = found.action_plugin
    elif action_loader.has_plugin(name):
        handler = name
    else:
        handler = "ansible.legacy.normal"
    if fqcn.startswith("ansible.builtin.") and short in _COMMAND_ACTIONS:
        command = module_loader.find_plugin_with_context("ansible.legacy.command")
        resolved = ("ansible.legacy.command", command.plugin_resolved_path, _COMMAND_ACTIONS[short])
    elif handler in _PLAIN_ACTIONS:
        path = found.plugin_resolved_path
        if not path or not path.endswith(".py"):
            raise _Unsupported(f"module {name!r} is not a Python module")
        resolved = (name, path, False)
    else:
        raise _Unsupported(f"action plugin {handler!r} (runs on the controller)")
    _RESOLVED[name] = resolved
    cache_store(disk, resolved)
    return resolved


def _resolution_cache(name: str) -> Path:
    """Where the module ``name`` resolved to, for this ansible-core and these module and
    collection search paths."""
    from enoslib.config import cache_dir

    searched = [os.environ.get(k, "") for k in
                ("ANSIBLE_LIBRARY", "ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATHS",
                 "ANSIBLE_CONFIG")]
    key = json.dumps([_ansible_version(), name, searched, os.getcwd()])
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return Path(cache_dir("ansible", "resolved")) / f"{digest}.json"


# -- payloads ------------------------------------------------------------------------------
class _Payload:
    """One module with its arguments, built by ansible-core's ``modify_module``."""

    FIELDS = ("zip_data", "ansible_module", "module_fqn", "params", "profile", "extensions",
              "rlimit_nofile")

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self.zip_data: str = fields["zip_data"]
        self.module: str = fields["ansible_module"]
        self.fqn: str = fields["module_fqn"]
        self.params: str = fields["params"]
        self.profile: str = fields["profile"]
        self.extensions: dict[str, Any] = fields.get("extensions") or {}
        self.rlimit: int = fields.get("rlimit_nofile") or 0

    def request(self, with_zip: bool) -> dict[str, Any]:
        req = {
            "fqn": self.fqn,
            "params": self.params,
            "profile": self.profile,
            "extensions": self.extensions,
            "rlimit": self.rlimit,
        }
        if with_zip:
            req["zip_data"] = self.zip_data
        return req


_PAYLOADS: dict[str, _Payload] = {}


def _module_args(module: str, args: Mapping[str, Any], check_mode: bool) -> dict[str, Any]:
    """The internal arguments ansible-core's ActionBase adds (``_update_module_args``) for a
    pipelined run of a task without no_log/diff, at verbosity 0."""
    from ansible import constants as C
    from ansible.module_utils._internal import _traceback
    from ansible.release import __version__

    out = dict(args)
    out.update(
        _ansible_check_mode=check_mode,
        _ansible_no_log=bool(C.config.get_config_value("DEFAULT_NO_TARGET_SYSLOG")),
        _ansible_debug=C.DEFAULT_DEBUG,
        _ansible_diff=False,
        _ansible_verbosity=0,
        _ansible_version=__version__,
        _ansible_module_name=module,
        _ansible_syslog_facility=C.DEFAULT_SYSLOG_FACILITY,
        _ansible_selinux_special_fs=C.DEFAULT_SELINUX_SPECIAL_FS,
        _ansible_socket=None,
        _ansible_shell_executable=C.DEFAULT_EXECUTABLE,
        _ansible_keep_remote_files=C.DEFAULT_KEEP_REMOTE_FILES,
        _ansible_tmpdir=None,
        # where modules make their own temporary files: the sh shell plugin's remote_tmp
        # (ANSIBLE_REMOTE_TMP, ansible.cfg; the variable ansible_remote_tmp takes another path)
        _ansible_remote_tmp=_remote_tmp(),
        _ansible_ignore_unknown_opts=False,
        _ansible_target_log_info=C.config.get_config_value("TARGET_LOG_INFO"),
        _ansible_tracebacks_for=_traceback.traceback_for(),
    )
    return out


def _remote_tmp() -> str:
    """``remote_tmp`` as ansible-core's POSIX shell plugin has it without task variables."""
    from enoslib.api.ansible import _prepare_environment

    _prepare_environment()
    from ansible.plugins.loader import shell_loader

    shell = shell_loader.get("sh")
    shell.set_options()
    return str(shell.get_option("remote_tmp"))


def _config_inputs() -> list[Any]:
    """What ansible-core reads its settings from: the ANSIBLE_* variables (but those enoslib
    sets itself) and the ansible.cfg files it may find (changed: different payloads)."""
    from enoslib.api.ansible import ENV_SET, config_files

    env = sorted((k, v) for k, v in os.environ.items()
                 if k.startswith("ANSIBLE_") and k not in ENV_SET)
    files = []
    for path in config_files():
        try:
            st = os.stat(path)
            files.append((path, st.st_mtime_ns, st.st_size))
        except OSError:
            pass
    return [env, files]


def payload(task: "Task") -> _Payload:
    """The AnsiballZ payload of ``task`` (module resolved, arguments set), built once per
    (module, arguments) and cached in memory and on disk."""
    module, path, uses_shell = _resolve(task.module)
    args = dict(task.args)
    if task.free_form is not None:
        args["_raw_params"] = task.free_form
    if uses_shell:
        args["_uses_shell"] = True
    check_mode = bool(task.keywords.get("check_mode", False))
    # the internal arguments follow ansible-core's settings (remote_tmp, keep_remote_files ...)
    key = json.dumps([module, args, check_mode, _config_inputs()], sort_keys=True, default=repr)
    cached = _PAYLOADS.get(key)
    if cached is not None:
        return cached
    # ansible-core caches the module zips per process only (its local temp dir): a new
    # process would analyse every module's imports again (~0.15 s each). Ours lasts.
    disk = _disk_cache_path(key, path)
    try:
        result = _PAYLOADS[key] = _Payload(json.loads(disk.read_text()))
        return result
    except (OSError, ValueError, KeyError):
        pass
    result = _PAYLOADS[key] = _build(module, path, _module_args(module, args, check_mode), disk)
    return result


_BASES: dict[tuple[str, str], _Payload] = {}
_BASE_LOCKS: dict[tuple[str, str], threading.Lock] = {}


def module_payload(module: str, path: str, module_args: Mapping[str, Any]) -> _Payload:
    """The payload of ``module`` (source ``path``) with ``module_args`` as ansible-core's
    ``_update_module_args`` made them: the module's zip is built once (with the first
    arguments), the arguments are encoded for each call as ``modify_module`` does."""
    from ansible.module_utils.common.json import Direction, get_module_encoder

    base = _BASES.get((module, path))
    if base is None:
        # hosts' threads asking at once (enoslib.api._strategy): built by the first one
        with _BASE_LOCKS.setdefault((module, path), threading.Lock()):
            base = _BASES.get((module, path))
            if base is None:
                disk = _disk_cache_path(json.dumps([module, "base", _config_inputs()]), path)
                try:
                    base = _Payload(json.loads(disk.read_text()))
                except (OSError, ValueError, KeyError):
                    base = _build(module, path, dict(module_args), disk)
                from enoslib.api.agents import lib_key

                lib_key(base)  # computed once (cached), not by each host's thread
                _BASES[(module, path)] = base
    encoder = get_module_encoder(base.profile, Direction.CONTROLLER_TO_MODULE)
    out = copy.copy(base)
    out.params = json.dumps({"ANSIBLE_MODULE_ARGS": module_args}, cls=encoder)
    return out


def _build(module: str, path: str, module_args: dict[str, Any], disk: Path) -> _Payload:
    """Build with ansible-core's ``modify_module``; the result is kept on disk."""
    from ansible import constants as C
    from ansible.executor.module_common import modify_module
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar

    from enoslib.api.ansible import _prepare_environment

    _prepare_environment()  # the collection loader (ansible.builtin): _resolve may not have run
    built = modify_module(
        module_name=module,
        module_path=path,
        module_args=module_args,
        templar=Templar(loader=DataLoader()),
        # our agent runs the payload: no interpreter discovery for the shebang
        task_vars={"ansible_python_interpreter": "/usr/bin/python3"},
        module_compression=C.config.get_config_value("DEFAULT_MODULE_COMPRESSION"),
    )
    fields = _wrapper_arguments(built.b_module_data) if built.module_style == "new" else None
    if fields is None:
        raise _Unsupported(f"module {module!r} is not an AnsiballZ Python module")
    result = _Payload(fields)
    cache_store(disk, {k: fields[k] for k in _Payload.FIELDS if k in fields})
    return result


def _disk_cache_path(key: str, module_path: str) -> Path:
    """Where the payload of ``key`` is kept: named after everything it is built from
    (ansible-core's version, the module file as it is now, the arguments)."""
    from enoslib.config import cache_dir

    try:
        st = os.stat(module_path)
        stamp = f"{st.st_mtime_ns}:{st.st_size}"
    except OSError:
        stamp = "?"
    version = _ansible_version()
    digest = hashlib.sha256(f"{version}|{module_path}|{stamp}|{key}".encode()).hexdigest()[:32]
    return Path(cache_dir("ansible", "payloads")) / f"{digest}.json"


def _ansible_version() -> str:
    from ansible.release import __version__

    return str(__version__)


def _wrapper_arguments(wrapper: bytes) -> dict[str, Any] | None:
    """The literal keyword arguments of the AnsiballZ wrapper's ``_ansiballz_main(...)``
    call (ansible-core >= 2.19); None for another wrapper shape."""
    try:
        tree = ast.parse(wrapper)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "_ansiballz_main"
        ):
            fields: dict[str, Any] = {}
            for kw in node.keywords:
                try:
                    fields[str(kw.arg)] = ast.literal_eval(kw.value)
                except ValueError:
                    pass  # date_time: not needed
            needed = {"zip_data", "ansible_module", "module_fqn", "params", "profile"}
            return fields if needed <= set(fields) else None
    return None


# -- results -------------------------------------------------------------------------------
def _parse(reply: Mapping[str, Any], profile: str) -> dict[str, Any]:
    """What ansible-core's ``ActionBase._execute_module`` and ``TaskExecutor`` make of a
    module's output (ansible-core's own functions where they are reachable)."""
    from ansible._internal._errors import _captured, _error_utils
    from ansible.errors import AnsibleError
    from ansible.module_utils.common.json import Direction, get_module_decoder
    from ansible.module_utils.json_utils import _filter_non_json_lines
    from ansible.vars.clean import remove_internal_keys

    stdout, stderr, rc = reply.get("stdout", ""), reply.get("stderr", ""), reply.get("rc")
    try:
        filtered, warnings = _filter_non_json_lines(stdout, objects_only=True)
        for w in warnings:
            log.info("ansible: [WARNING]: %s", w)
        data = json.loads(filtered, cls=get_module_decoder(profile, Direction.MODULE_TO_CONTROLLER))
        _captured.AnsibleModuleCapturedError.normalize_result_exception(data)
        data.update(_ansible_parsed=True)
    except ValueError as ex:
        try:
            raise AnsibleError(
                message="Module result deserialization failed.",
                help_text="See stdout/stderr for the returned output.",
            ) from ex
        except AnsibleError as error:
            data = _error_utils.result_dict_from_exception(error)
        data.update(_ansible_parsed=False, module_stdout=stdout, module_stderr=stderr, rc=rc)
    remove_internal_keys(data)
    for key in ("stdout", "stderr"):
        if key in data and f"{key}_lines" not in data:
            data[f"{key}_lines"] = (data.get(key) or "").splitlines()
    if "failed" not in data:
        data["failed"] = "rc" in data and data["rc"] not in (0, "0")
    data.setdefault("changed", False)
    data["_ansible_no_log"] = False
    return data


def _setup_names() -> tuple[str, ...]:
    from ansible import constants as C

    return tuple(C._ACTION_SETUP)


def _status(data: Mapping[str, Any]) -> str:
    if data.get("failed"):
        return "failed"
    if data.get("skipped"):
        return "skipped"
    return "ok"


def _for_callback(data: Mapping[str, Any]) -> dict[str, Any]:
    """The result as ansible-core hands it to callbacks (``as_callback_task_result``):
    statuses left out (the event says them), internal keys stripped, native types."""
    from ansible.executor.task_result import CLEAN_EXCEPTIONS
    from ansible.utils.vars import transform_to_native_types
    from ansible.vars.clean import strip_internal_keys

    out = {k: v for k, v in data.items() if k not in ("failed", "skipped")}
    strip_internal_keys(out, exceptions=CLEAN_EXCEPTIONS)
    native: dict[str, Any] = transform_to_native_types(out)
    return native


def _run_task(task: "Task", hosts: list[Host], run_as: str | None) -> Results:
    from enoslib.api.ansible import result_from_data

    from enoslib.api._actions import become_user_of

    kw = task.keywords
    user = become_user_of(kw, run_as)
    name = str(kw["name"])
    built = payload(task)
    agents = _agents_for(hosts, user)
    live = {h: a for h, a in agents.items() if isinstance(a, _Agent)}
    start = time.monotonic()
    run_payload(live.values(), built)
    duration = time.monotonic() - start
    results = Results()
    for h in hosts:
        agent = agents[h]
        if isinstance(agent, tuple):
            status, message = agent
            data: dict[str, Any] = {"msg": message, "changed": False}
            if status == "unreachable":
                data["unreachable"] = True
            else:
                data["failed"] = True
            results.append(result_from_data(h.alias, name, status, data, None))
            continue
        reply = getattr(agent, "reply", None)
        if reply is None or "rc" not in reply:
            status, message = agent.failure() if reply is None else ("failed", str(reply))
            agent.close()
            _AGENTS.pop(_agent_key(h, user), None)
            data = {"msg": message, "changed": False}
            data["unreachable" if status == "unreachable" else "failed"] = True
            results.append(result_from_data(h.alias, name, status, data, duration))
            continue
        data = _parse(reply, built.profile)
        discovered = getattr(agent, "discovered", None)
        if discovered:  # as ansible-core's ActionBase reports a discovery
            data.setdefault("ansible_facts", {})["discovered_interpreter_python"] = discovered
            agent.discovered = None  # type: ignore[attr-defined]
        if built.module in _setup_names():  # what ansible-core's normal action adds
            data["_ansible_verbose_override"] = True
        status = _status(data)
        ignored = status == "failed" and bool(kw.get("ignore_errors"))
        results.append(
            result_from_data(h.alias, name, status, _for_callback(data), duration, ignored=ignored)
        )
    return results


def run_actions(a: "actions") -> Results:
    """The recorded tasks of ``a`` as ansible-core's linear strategy runs them: each task on
    every host still in play; a host drops out after an unreachable or failed task
    (unless ``ignore_errors``). Plain shell tasks take the SSH fast path."""
    from enoslib.api._actions import _run_fast_task, _run_linear

    def run_task(task: Any, active: list[Any]) -> Results:
        if task.fast():
            return _run_fast_task(task, active, a.run_as)
        return _run_task(task, active, a.run_as)

    if (a.extra_vars or a.handlers or a.play_vars or a.vars_refusal(executor=False)
            or any(not t.fast() and _plain_refusal(t) for t in a.tasks)):
        from enoslib.api import _executor

        return _executor.run_actions(a)
    with LOCK:
        return _run_linear(a, run_task)
