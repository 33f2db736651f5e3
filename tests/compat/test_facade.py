"""The facade ``import enoslib as en``: its runtime table and its TYPE_CHECKING imports are one
list (checked here, so they cannot drift), every name resolves, and importing stays light."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import enoslib as en

INIT = Path(en.__file__)


def _type_checking_imports() -> dict[str, str]:
    """name -> module of the imports under ``if TYPE_CHECKING:`` in enoslib/__init__.py."""
    tree = ast.parse(INIT.read_text())
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom), f"line {stmt.lineno}: only 'from x import y' here"
                for alias in stmt.names:
                    assert alias.name != "*", f"line {stmt.lineno}: star imports hide names; list them"
                    name = alias.asname or alias.name
                    # ``from enoslib import api`` names the submodule itself
                    module = f"enoslib.{alias.name}" if stmt.module == "enoslib" else stmt.module
                    assert name not in found, f"{name} imported twice under TYPE_CHECKING"
                    found[name] = module
    return found


def _runtime_table() -> dict[str, str]:
    return {name: entry if isinstance(entry, str) else entry[0] for name, entry in en._LAZY.items()}


def test_type_checking_block_and_runtime_table_are_the_same_list():
    static, runtime = _type_checking_imports(), _runtime_table()
    only_static = sorted(set(static) - set(runtime))
    only_runtime = sorted(set(runtime) - set(static))
    moved = sorted(n for n in set(static) & set(runtime) if static[n] != runtime[n])
    if only_static or only_runtime or moved:
        by_module: dict[str, list[str]] = {}
        for name, module in runtime.items():
            by_module.setdefault(module, []).append(name)
        block = "\n".join(f"    from {m} import {', '.join(sorted(ns))}" for m, ns in sorted(by_module.items()))
        pytest.fail(
            f"enoslib/__init__.py: TYPE_CHECKING only: {only_static}; _register only: {only_runtime}; "
            f"different module: {moved}.\nThe imports the runtime table implies:\n{block}"
        )


def test_every_public_name_resolves():
    for name, entry in en._LAZY.items():
        needs = None if isinstance(entry, str) else entry[1]
        if needs is not None and importlib.util.find_spec(needs[0]) is None:
            continue  # an extra that is not installed: tested in tests/foundation
        assert getattr(en, name) is not None, name
    assert sorted(en.__all__) == sorted(en._LAZY)


def test_names_found_missing_in_review_are_there():
    from enoslib.errors import EnosHostsError, EnosReservationError

    assert en.EnosReservationError is EnosReservationError
    assert en.EnosHostsError is EnosHostsError
    assert en.api.run_command is en.run_command  # submodules as attributes, EnOSlib-style
    assert en.objects.Roles is en.Roles and en.errors.NoSlotError is en.NoSlotError


def test_import_stays_light():
    code = ("import sys, enoslib as en; en.Roles; en.Host; en.STATUS_OK; en.LocalHost; "
            "print(sorted(m for m in ('ansible', 'rich', 'grid5000', 'jsonschema') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=INIT.parent.parent)
    assert out.stdout.strip() == "[]"


def test_a_function_named_like_its_module_stays_the_function():
    """Regression: once anything imported the submodule enoslib.api.actions (run_play does),
    ``en.actions`` and ``en.api.actions`` were that module, not the documented callable."""
    code = ("import enoslib.api._actions, enoslib.api.ansible, enoslib as en; from enoslib.api import actions; "
            "print(en.actions is en.api.actions is actions, type(en.actions).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=INIT.parent.parent)
    assert out.stdout.split() == ["True", "type"]
