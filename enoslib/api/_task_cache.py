"""Task attributes post-validated once per task, not once per host, where ansible-core's
result cannot depend on the host.

ansible-core's ``TaskExecutor`` post-validates every keyword of the task (and of its
blocks) for each host: it templates the value with the host's variables and converts it to
the keyword's type (~12% of the controller's CPU of a play run in our threads). A keyword
whose value holds no template (no string in it contains ``{`` or starts a ``#jinja2:``
header, ansible-core's own test for a possible template) is templated to itself: its
post-validated value is then a function of the value alone. Such a value is kept per task
and keyword and handed to the other hosts' copies of the task when they hold the very same
value (the same objects: copies of one task share them).

Always per host: keywords with templates, ``args`` / ``action`` (module defaults, the action
plugin's argument finalizing), ``name`` and ``environment`` (their own templating rules and
warnings), keywords holding objects (``loop_control``), values of other types. Only in our
threads (:func:`enoslib.api._executor.in_our_thread`); forgotten at the end of each play.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from enoslib.api._executor import _THREAD

# (task uuid, keyword) -> (the value post-validated, the result)
_VALIDATED: dict[tuple[str, str], tuple[Any, Any]] = {}
PER_HOST = frozenset({"args", "action", "name", "environment"})


def clear() -> None:
    _VALIDATED.clear()


def _no_template(value: Any) -> bool:
    """Whether ansible-core's templating leaves ``value`` as it is, whatever the variables
    (conservative: any ``{`` in a string counts as a template)."""
    if value is None or isinstance(value, (bool, int, float)):
        return True
    if isinstance(value, str):
        return "{" not in value and "#jinja2:" not in value
    if isinstance(value, (list, tuple)):
        return all(_no_template(v) for v in value)
    if isinstance(value, dict):
        return all(_no_template(k) and _no_template(v) for k, v in value.items())
    return False


def _same(a: Any, b: Any) -> bool:
    """The same objects (containers: of the same type, holding the same objects)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return len(a) == len(b) and all(
            ka is kb and _same(a[ka], b[kb]) for ka, kb in zip(a, b))
    return False


def _fresh(value: Any) -> Any:
    """Containers copied (each host's task gets its own), immutable values as they are."""
    kind = type(value)
    if (kind is list or kind is dict) and not value:
        return kind()
    return copy.deepcopy(value) if isinstance(value, (list, tuple, dict)) else value


@functools.lru_cache(maxsize=None)
def cached_class(base: type) -> type:
    """``base`` (ansible-core's Task, Handler or Block) post-validating its keywords as
    described in the module docstring."""

    class Cached(base):  # type: ignore[misc,valid-type]
        def post_validate_attribute(self, name: str, *, templar: Any) -> Any:
            if name in PER_HOST or not getattr(_THREAD, "ours", False):
                return super().post_validate_attribute(name, templar=templar)
            if self.fattributes[name].isa == "class":
                return super().post_validate_attribute(name, templar=templar)
            raw = getattr(self, name)
            key = (self._uuid, name)
            known = _VALIDATED.get(key)
            if known is not None and _same(known[0], raw):
                return _fresh(known[1])
            value = super().post_validate_attribute(name, templar=templar)
            if _no_template(raw):
                _VALIDATED[key] = (raw, _fresh(value))
            return value

    # ansible-core names the class in messages and serialized tasks
    Cached.__name__ = Cached.__qualname__ = base.__name__
    Cached.__module__ = base.__module__
    return Cached


def cached(task: Any) -> Any:
    """``task`` (a per-host copy) and its parent blocks with :func:`cached_class` (their
    copies, e.g. a loop's per item, keep it: ansible-core copies an object by its class)."""
    from ansible.playbook.block import Block
    from ansible.playbook.handler import Handler
    from ansible.playbook.task import Task

    obj = task
    while obj is not None:
        if type(obj) in (Task, Handler, Block):
            obj.__class__ = cached_class(type(obj))
        obj = getattr(obj, "_parent", None)
    return task
