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

# (plugin type, name, inputs) -> (options, origins); cleared past _LIMIT entries
_CACHE: dict[tuple[Any, ...], tuple[dict[str, Any], dict[str, Any]]] = {}
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


@functools.lru_cache(maxsize=None)
def install() -> bool:
    """Wrap ``ConfigManager.get_plugin_options_and_origins`` (False when absent)."""
    try:
        from ansible import context
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
        var_names, key_names, cli_names, env_names = names
        try:
            variables_ = variables or {}
            keys_ = keys or {}
            cliargs = context.CLIARGS
            key = (
                plugin_type, name, id(defs), self._config_file, variables is None, keys is None,
                tuple((n, _freeze(variables_[n])) for n in var_names if n in variables_),
                tuple((n, _freeze(keys_[n])) for n in key_names if n in keys_),
                tuple((n, _freeze(cliargs.get(n))) for n in cli_names),
                tuple(os.environ.get(n) for n in env_names),
            )
            hash(key)
        except (_Unkeyable, TypeError):
            return original(self, plugin_type, name, keys=keys, variables=variables,
                            direct=direct)
        hit = _CACHE.get(key)
        if hit is None:
            before = (len(self.DEPRECATED), len(self.WARNINGS),
                      len(getattr(self, "_errors", ())))
            options, origins = original(self, plugin_type, name, keys=keys,
                                        variables=variables, direct=direct)
            after = (len(self.DEPRECATED), len(self.WARNINGS),
                     len(getattr(self, "_errors", ())))
            if before != after:  # ansible-core reports these: not kept, done again next time
                return options, origins
            if len(_CACHE) >= _LIMIT:
                _CACHE.clear()
            hit = _CACHE[key] = (options, origins)
        options, origins = hit
        return ({k: _copy(v) for k, v in options.items()}, dict(origins))

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
    from ansible import context

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
        var_names, key_names, cli_names, env_names = names
        try:
            variables_ = variables or {}
            keys_ = keys or {}
            cliargs = context.CLIARGS
            key = (
                "config", config, id(definition), self._config_file, variables is None,
                keys is None,
                tuple((n, _freeze(variables_[n])) for n in var_names if n in variables_),
                tuple((n, _freeze(keys_[n])) for n in key_names if n in keys_),
                tuple((n, _freeze(cliargs.get(n))) for n in cli_names),
                tuple(os.environ.get(n) for n in env_names),
            )
            hash(key)
        except (_Unkeyable, TypeError):
            return original(self, config, keys=keys, variables=variables)
        hit = _CACHE.get(key)
        if hit is None:
            before = (len(self.DEPRECATED), len(self.WARNINGS),
                      len(getattr(self, "_errors", ())))
            value = original(self, config, keys=keys, variables=variables)
            after = (len(self.DEPRECATED), len(self.WARNINGS),
                     len(getattr(self, "_errors", ())))
            if before != after:  # reported by ansible-core: not kept
                return value
            if len(_CACHE) >= _LIMIT:
                _CACHE.clear()
            hit = _CACHE[key] = (value, {})
        return _copy(hit[0])

    functools.update_wrapper(get_config_value, original)
    manager_class.get_config_value = get_config_value
