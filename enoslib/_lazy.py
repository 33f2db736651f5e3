"""Lazy package attributes (PEP 562): names resolve to their module on first use.

One mechanism for every facade, so ``import enoslib`` (and ``import enoslib.api``) stay cheap.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any, Callable, Mapping

# name -> module, or (module, (python module it needs, extra that installs it))
Table = Mapping[str, "str | tuple[str, tuple[str, str] | None]"]


def lazy(package: str, namespace: dict[str, Any], table: Table) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` resolving the names of ``table``."""

    def __getattr__(name: str) -> Any:
        entry = table.get(name)
        if entry is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, needs = (entry, None) if isinstance(entry, str) else entry
        if needs is not None and importlib.util.find_spec(needs[0]) is None:
            from enoslib.errors import EnosMissingExtraError

            raise EnosMissingExtraError(needs[0], needs[1], feature=f"{package}.{name}")
        imported = importlib.import_module(module)
        # an entry naming the submodule itself (``"api": "enoslib.api"``) resolves to it
        value = imported if module == f"{package}.{name}" else getattr(imported, name)
        namespace[name] = value  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *table})

    return __getattr__, __dir__
