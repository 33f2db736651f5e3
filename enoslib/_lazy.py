"""Lazy package attributes (PEP 562): names resolve to their module on first use.

One mechanism for every facade, so ``import enoslib`` (and ``import enoslib.api``) stay cheap.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any, Callable, Collection, Mapping

# name -> module, or (module, (python module it needs, extra that installs it))
Table = Mapping[str, "str | tuple[str, tuple[str, str] | None]"]


def lazy(package: str, namespace: dict[str, Any], table: Table, submodules: Collection[str] = ()
         ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` resolving the names of ``table``.

    A name in ``submodules`` resolves to the module its entry names, not to an attribute of it.
    A public function named like the submodule defining it (``enoslib.api.actions``) stays the
    function even after that submodule is imported (see :class:`_Package`).
    """
    shadowed = {
        name for name, entry in table.items()
        if name not in submodules and (entry if isinstance(entry, str) else entry[0]) == f"{package}.{name}"
    }
    if shadowed and package in sys.modules:
        module = sys.modules[package]
        module.__class__ = _Package
        object.__setattr__(module, "_shadowed", frozenset(shadowed))

    def __getattr__(name: str) -> Any:
        entry = table.get(name)
        if entry is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, needs = (entry, None) if isinstance(entry, str) else entry
        if needs is not None and importlib.util.find_spec(needs[0]) is None:
            from enoslib.errors import EnosMissingExtraError

            raise EnosMissingExtraError(needs[0], needs[1], feature=f"{package}.{name}")
        imported = importlib.import_module(module)
        value = imported if name in submodules else getattr(imported, name)
        namespace[name] = value  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *table})

    return __getattr__, __dir__


class _Package(types.ModuleType):
    """A package whose public function has the name of the submodule defining it.

    Importing ``enoslib.api.actions`` makes Python bind the submodule as the ``actions``
    attribute of ``enoslib.api``, hiding the function ``actions``; here the function is bound
    instead (the submodule stays importable through ``sys.modules``).
    """

    _shadowed: frozenset[str] = frozenset()

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._shadowed and isinstance(value, types.ModuleType) and hasattr(value, name):
            value = getattr(value, name)
        super().__setattr__(name, value)


class LazyModule:
    """A module imported on first attribute access (``netaddr = LazyModule("netaddr")``):
    a heavy dependency costs nothing to the scripts that never use it."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        import importlib

        return getattr(importlib.import_module(self._name), attr)
