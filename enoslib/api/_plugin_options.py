"""Plugin options resolved once per set of inputs on the threaded TaskExecutor path
(:func:`enoslib.api._executor.in_our_thread`), not once per host and task.

For each task and host, ansible-core's TaskExecutor sets the options of the connection,
shell and become plugins (``ConfigManager.get_plugin_options_and_origins``): each option's
value is looked up, in order, in the direct settings, the plugin's variables, the task's
keywords, the command line, the environment, the configuration file and the default (~40
options for ``ssh``: ~8% of the controller's CPU of a play). The result depends on nothing
else, so in our threads it is kept per plugin and per value of exactly those inputs:

* the variables, task keywords (and the options' names and aliases, which ansible-core maps
  to keywords), command-line arguments and environment variables that the plugin's option
  definitions name, with their values and data tags (a value's origin reads the same in
  errors), and the configuration file in use;
* a plugin with a templated default (rendered with the variables) or direct settings, a
  value that cannot be keyed (not a scalar, list or dict of them), or a lookup that
  records a deprecation, a warning or an error is not kept: ansible-core resolves it each
  time, as before.

Each caller gets its own copy of the dicts (and of their list / dict values, shallow). Outside our
threads (the classic path) ansible-core's method runs unchanged.
"""

from __future__ import annotations

import copy
import functools
import os
from typing import Any, Callable

# (plugin type, name, inputs) -> (options, origins), ("config", setting, inputs) -> value;
# cleared past _LIMIT entries
_CACHE: dict[tuple[Any, ...], Any] = {}
_LIMIT = 2048


class _Unkeyable(Exception):
    pass


_SCALARS = (str, int, float, bool, type(None), bytes)


def _freeze(value: Any) -> Any:
    from ansible.module_utils._internal._datatag import AnsibleTagHelper  # cached import

    if isinstance(value, _SCALARS):
        return (type(value), value, AnsibleTagHelper.tags(value))
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(_freeze(v) for v in value), AnsibleTagHelper.tags(value))
    if isinstance(value, dict):
        items = [(_freeze(k), _freeze(v)) for k, v in value.items()]
        return (type(value), tuple(items), AnsibleTagHelper.tags(value))
    raise _Unkeyable(type(value).__name__)


_INPUTS: dict[int, tuple[Any, Any]] = {}  # id(defs) -> (defs, names): defs kept alive


def _inputs(defs: Any) -> tuple[tuple[str, ...], ...] | None:
    """The variable, keyword, command-line and environment names the option definitions
    ``defs`` read; None when a default is a template (rendered with the variables)."""
    known = _INPUTS.get(id(defs))
    if known is not None and known[0] is defs:
        return known[1]
    var, key, cli, env = set(), set(), set(), set()
    names: tuple[tuple[str, ...], ...] | None = None
    for name, d in defs.items():
        default = d.get("default")
        if isinstance(default, str) and "{{" in default:
            break
        var.update(e["name"] for e in d.get("vars") or ())
        key.update(e["name"] for e in d.get("keyword") or ())
        key.add(name)
        key.update(d.get("aliases") or ())
        cli.update(e["name"] for e in d.get("cli") or ())
        env.update(e["name"] for e in d.get("env") or ())
    else:
        names = tuple(sorted(var)), tuple(sorted(key)), tuple(sorted(cli)), tuple(sorted(env))
    _INPUTS[id(defs)] = (defs, names)
    return names


def _copy(value: Any) -> Any:
    """A list or dict option of its own for each caller (what plugins change is their
    options, not the items of a list option: a shallow copy)."""
    kind = type(value)
    if kind is list or kind is dict:
        return value.copy()
    if isinstance(value, (list, dict)):  # tagged: with its tags
        return copy.copy(value)
    return value


def _resolved_once(manager: Any, head: tuple[Any, ...], names: tuple[tuple[str, ...], ...],
                   variables: Any, keys: Any, resolve: Callable[[], Any],
                   copy_out: Callable[[Any], Any]) -> Any:
    """``resolve()`` kept per ``head`` and the values of the inputs ``names`` (see
    :func:`_inputs`) in ``variables``, ``keys``, the command line and the environment;
    ``copy_out`` makes each caller's copy. Not kept: unkeyable inputs, a lookup that made
    ansible-core record a deprecation, a warning or an error."""
    from ansible import context

    var_names, key_names, cli_names, env_names = names
    try:
        variables_ = variables or {}
        keys_ = keys or {}
        cliargs = context.CLIARGS
        key = (
            *head, manager._config_file, variables is None, keys is None,
            tuple((n, _freeze(variables_[n])) for n in var_names if n in variables_),
            tuple((n, _freeze(keys_[n])) for n in key_names if n in keys_),
            tuple((n, _freeze(cliargs.get(n))) for n in cli_names),
            tuple(os.environ.get(n) for n in env_names),
        )
        hash(key)
    except (_Unkeyable, TypeError):
        return resolve()
    hit = _CACHE.get(key)
    if hit is None:
        before = _reports(manager)
        value = resolve()
        if _reports(manager) != before:  # ansible-core reports these: done again next time
            return value
        if len(_CACHE) >= _LIMIT:
            _CACHE.clear()
        hit = _CACHE[key] = value
    return copy_out(hit)


def _reports(manager: Any) -> tuple[int, int, int]:
    return (len(manager.DEPRECATED), len(manager.WARNINGS),
            len(getattr(manager, "_errors", ())))


@functools.lru_cache(maxsize=None)
def install() -> bool:
    """Wrap ``ConfigManager.get_plugin_options_and_origins`` and ``get_config_value`` (False
    when absent)."""
    try:
        from ansible import context  # noqa: F401 - read by _resolved_once
        from ansible.config.manager import ConfigManager
        from ansible.module_utils._internal._datatag import AnsibleTagHelper  # noqa: F401
    except ImportError:
        return False
    original: Callable[..., Any] | None = getattr(
        ConfigManager, "get_plugin_options_and_origins", None)
    if original is None:
        return False
    from enoslib.api._executor import _THREAD

    def get_plugin_options_and_origins(self: Any, plugin_type: Any, name: Any, keys: Any = None,
                                       variables: Any = None, direct: Any = None) -> Any:
        if direct or not getattr(_THREAD, "ours", False):
            return original(self, plugin_type, name, keys=keys, variables=variables,
                            direct=direct)
        defs = self.get_configuration_definitions(plugin_type=plugin_type, name=name)
        names = _inputs(defs) if defs else None
        if names is None:
            return original(self, plugin_type, name, keys=keys, variables=variables,
                            direct=direct)
        return _resolved_once(
            self, (plugin_type, name, id(defs)), names, variables, keys,
            lambda: original(self, plugin_type, name, keys=keys, variables=variables,
                             direct=direct),
            lambda hit: ({k: _copy(v) for k, v in hit[0].items()}, dict(hit[1])))

    functools.update_wrapper(get_plugin_options_and_origins, original)
    ConfigManager.get_plugin_options_and_origins = get_plugin_options_and_origins  # type: ignore[method-assign]
    _install_config_value(ConfigManager)
    return True


# a base setting's definition -> the definitions of that one setting (keyed as plugins')
_ONE: dict[str, tuple[Any, dict[str, Any]]] = {}


def _install_config_value(manager_class: Any) -> None:
    """Wrap ``ConfigManager.get_config_value`` for ansible-core's own settings (not a
    plugin's): action plugins read a few per module run with the host's variables
    (``DEFAULT_NO_TARGET_SYSLOG``, ``TARGET_LOG_INFO``, ``DISPLAY_TRACEBACK``); kept per
    value of exactly the inputs their definition names, as plugin options are."""
    from enoslib.api._executor import _THREAD

    original: Callable[..., Any] = manager_class.get_config_value

    def get_config_value(self: Any, config: Any, cfile: Any = None, plugin_type: Any = None,
                         plugin_name: Any = None, keys: Any = None, variables: Any = None,
                         direct: Any = None) -> Any:
        if (direct or cfile is not None or plugin_type is not None or plugin_name is not None
                or not getattr(_THREAD, "ours", False)):
            return original(self, config, cfile=cfile, plugin_type=plugin_type,
                            plugin_name=plugin_name, keys=keys, variables=variables,
                            direct=direct)
        definition = self._base_defs.get(config) if isinstance(config, str) else None
        one = _ONE.get(config) if definition is not None else None
        if definition is not None and (one is None or one[0] is not definition):
            one = _ONE[config] = (definition, {config: definition})
        names = _inputs(one[1]) if one is not None else None
        if names is None:
            return original(self, config, keys=keys, variables=variables)
        return _resolved_once(
            self, ("config", config, id(definition)), names, variables, keys,
            lambda: original(self, config, keys=keys, variables=variables), _copy)

    functools.update_wrapper(get_config_value, original)
    manager_class.get_config_value = get_config_value
