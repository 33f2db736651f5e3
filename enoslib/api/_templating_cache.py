"""Jinja templates compiled once per process, not once per host and task, on the threaded
TaskExecutor path (:mod:`enoslib.api._executor`, :mod:`enoslib.api._strategy`).

ansible-core (2.19+) compiles every template and expression it renders in the ``Templar`` of
the task and host at hand: each host's worker compiles the same task arguments, ``when``
and ``template`` file again (lexer, parser, code generator, Python's ``compile``). In our
threads, :func:`cached` keeps the Python code Jinja generates for a source string and makes
each render's template from it in the Templar's own environment, as Jinja's ``from_string``
does (``Template.from_code`` of that environment, with its globals).

Why the code object can be shared:

* what the code generator reads is the source and the environment's compile-time settings:
  its class (sandbox, intercepted operators, code generator), lexer settings (delimiters,
  ``trim_blocks`` ... overridden by ``#jinja2:`` headers or template options: the overlay's
  values are in the key), ``escape_backslashes``, extensions, ``finalize``, ``autoescape``,
  ``optimized`` (off in ansible-core), ansible-core's embedded-template setting, and which
  filters and tests exist (their calling convention is written into the code: the plugin
  directories added by roles and playbooks are in the key);
* variables, globals, filters and tests are looked up when the template renders, in the
  environment the template is made for (the Templar's: its ``basedir`` for includes, its
  variables); nothing of a source string's data tags goes into the code, and the trust
  check (``TrustedAsTemplate``) is done before compiling, by ansible-core, unchanged;
* a source that fails to compile is not cached: ansible-core's own compile runs again and
  raises (or defers) its error, so error messages read the same;
* the dict is only read and written whole (atomic under the GIL): two threads may compile
  one source at once, both get equal code.

Template debugging (``_debuggable_template_source``) and older ansible-core (no
``ansible._internal._templating``) keep ansible-core's own compile. Outside our threads
(the classic path, forked workers, the strategy's own thread) nothing changes.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from typing import Any, Callable, Iterator

_STATE = threading.local()
# compiled code per key; cleared when it grows past _LIMIT entries
_CODE: dict[tuple[Any, ...], Any] = {}
_LIMIT = 4096


@contextlib.contextmanager
def cached() -> Iterator[None]:
    """Templates compiled in this thread, inside the block, come from the shared cache."""
    if not _install():
        yield
        return
    before = getattr(_STATE, "on", False)
    _STATE.on = True
    try:
        yield
    finally:
        _STATE.on = before


@functools.lru_cache(maxsize=None)
def _install() -> bool:
    """Wrap ansible-core's ``_compile_template`` / ``_compile_expression`` (2.19+); False
    when this ansible-core has not got them (its compile is used as is)."""
    try:
        from ansible._internal._templating import _engine, _jinja_bits, _jinja_common
        from ansible.plugins.loader import filter_loader, test_loader
        from jinja2 import nodes
        from jinja2.parser import Parser
    except ImportError:
        return False
    engine = getattr(_engine, "TemplateEngine", None)
    compile_context = getattr(_jinja_bits, "_TemplateCompileContext", None)
    names = getattr(_jinja_bits, "_TEMPLATE_OVERRIDE_FIELD_NAMES", None)
    config = getattr(_jinja_common, "_TemplateConfig", None)
    template_class = getattr(_jinja_bits, "AnsibleTemplateExpression", None)
    if (engine is None or compile_context is None or names is None or config is None
            or template_class is None
            or not hasattr(engine, "_compile_template") or not hasattr(engine, "_compile_expression")
            or not hasattr(engine, "_create_overlay")):
        return False

    def key(kind: str, source: str, env: Any, escape: bool) -> tuple[Any, ...]:
        return (kind, source, type(env), tuple(getattr(env, n) for n in names), escape,
                tuple(env.extensions), env.finalize, env.autoescape, env.optimized,
                env.is_async, config.allow_embedded_templates,
                tuple(getattr(filter_loader, "_extra_dirs", ())),
                tuple(getattr(test_loader, "_extra_dirs", ())))

    def remember(k: tuple[Any, ...], code: Any) -> None:
        if len(_CODE) >= _LIMIT:
            _CODE.clear()
        _CODE[k] = code

    def usable(env: Any) -> bool:
        return getattr(_STATE, "on", False) and not getattr(
            env, "_debuggable_template_source", False)

    original_template: Callable[..., Any] = engine._compile_template
    original_expression: Callable[..., Any] = engine._compile_expression

    def _compile_template(self: Any, template: str, options: Any) -> Any:
        if not getattr(_STATE, "on", False):
            return original_template(self, template, options)
        try:
            stripped, env = self._create_overlay(template, options.overrides)
            if not usable(env):
                return original_template(self, template, options)
            k = key("template", stripped, env, options.escape_backslashes)
            code = _CODE.get(k)
            if code is None:
                with compile_context(escape_backslashes=options.escape_backslashes):
                    code = env.compile(stripped)
                remember(k, code)
            return env.template_class.from_code(env, code, env.make_globals(None), None)
        except Exception:  # noqa: BLE001 - ansible-core's compile says what is wrong
            return original_template(self, template, options)

    def _compile_expression(self: Any, expression: str, options: Any) -> Any:
        env = self.environment
        if not usable(env):
            return original_expression(self, expression, options)
        try:
            k = key("expression", expression, env, options.escape_backslashes)
            code = _CODE.get(k)
            if code is None:
                # what Jinja's Environment.compile_expression compiles
                with compile_context(escape_backslashes=options.escape_backslashes):
                    parser = Parser(env, expression, state="variable")
                    expr = parser.parse_expression()
                    if not parser.stream.eos:
                        raise ValueError("chunk after expression")
                    expr.set_environment(env)
                    body = [nodes.Assign(nodes.Name("result", "store"), expr, lineno=1)]
                    code = env.compile(nodes.Template(body, lineno=1))
                remember(k, code)
            from jinja2.environment import TemplateExpression

            made = env.template_class.from_code(env, code, env.make_globals(None), None)
            return template_class(TemplateExpression(made, False))
        except Exception:  # noqa: BLE001 - ansible-core's compile says what is wrong
            return original_expression(self, expression, options)

    functools.update_wrapper(_compile_template, original_template)
    functools.update_wrapper(_compile_expression, original_expression)
    engine._compile_template = _compile_template
    engine._compile_expression = _compile_expression
    return True
