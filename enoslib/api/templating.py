"""Per-host substitutions in commands: execo's ``{{{host}}}`` and simple ``{{ var }}`` lookups.

- ``{{{host}}}`` / ``{{{address}}}``: the host's address; ``{{{alias}}}``, ``{{{user}}}``,
  ``{{{port}}}`` likewise.
- ``{{ name }}`` / ``{{ name.key }}``: a variable from ``extra_vars`` or the host's ``extra``
  (``extra_vars`` win, as in Ansible). Only lookups: no expressions, no filters, nothing runs.
- Every substituted value is shell-quoted (``shlex.quote``), so data cannot inject commands;
  ``{{ name | raw }}`` inserts a value as is, for values that are meant to be shell code.

Text that does not look like a lookup (``{{.Names}}`` of a docker template, ``{{ a + b }}``)
is left alone. An unknown variable is an error naming the host and the variable.
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Mapping

from enoslib.objects import Host

_TRIPLE = re.compile(r"\{\{\{\s*(host|address|alias|user|port)\s*\}\}\}")
_LOOKUP = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*(\|\s*raw\s*)?\}\}")
# both in ONE pass (a triple tried first at each position): substituted values are never
# scanned again, so data that looks like a template stays data
_TOKEN = re.compile(f"{_TRIPLE.pattern}|{_LOOKUP.pattern}")
# for Ansible's engine: execo's triple, or any Jinja expression
_EXPRESSION = re.compile(f"{_TRIPLE.pattern}|\\{{\\{{(.*?)\\}}\\}}", re.S)
_RAW = re.compile(r"^(.*?)\|\s*raw\s*$", re.S)
_QUOTED = re.compile(r"\|\s*quote\s*$")
# execo's fields as Ansible inventory variables
_ANSIBLE_FIELDS = {
    "host": "ansible_host",
    "address": "ansible_host",
    "alias": "inventory_hostname",
    "user": "ansible_user",
    "port": "ansible_port",
}


class UndefinedVariable(KeyError):
    """A command refers to ``{{ name }}`` but the host has no such variable (in its ``extra`` or in
    ``extra_vars``)."""

    def __init__(self, name: str, host: str) -> None:
        super().__init__(
            f"variable {name!r} is not defined for host {host!r} "
            "(neither in its extra nor in extra_vars)"
        )
        self.name = name
        self.host = host

    def __str__(self) -> str:
        return str(self.args[0])


def has_substitutions(text: str) -> bool:
    """Whether ``text`` holds per-host substitutions (``{{{host}}}`` or ``{{ var }}``)."""
    return "{{" in text and (_TRIPLE.search(text) is not None or _LOOKUP.search(text) is not None)


def _lookup(variables: Mapping[str, Any], dotted: str, host: str) -> Any:
    value: Any = variables
    for part in dotted.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, (list, tuple)) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise UndefinedVariable(dotted, host)
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)):
        import json

        return json.dumps(value)
    return "" if value is None else str(value)


def substitute(text: str, host: Host, extra_vars: Mapping[str, Any] | None = None) -> str:
    """``text`` with the host's values in place of ``{{{host}}}`` and ``{{ var }}``."""
    if "{{" not in text:
        return text
    fields = {
        "host": host.address,
        "address": host.address,
        "alias": host.alias,
        "user": host.user or "",
        "port": "" if host.port is None else str(host.port),
    }
    # extra_vars win over host variables, as in Ansible
    variables = {**host.extra, **(extra_vars or {}), "inventory_hostname": host.alias}

    def replace(m: re.Match[str]) -> str:
        if m.group(1):
            return shlex.quote(fields[m.group(1)])
        value = _text(_lookup(variables, m.group(2), host.alias))
        return value if m.group(3) else shlex.quote(value)

    return _TOKEN.sub(replace, text)


def for_ansible(command: str) -> str:
    """``command`` for Ansible's shell/command modules, quoting as :func:`substitute` does:
    every ``{{ expression }}`` is shell-quoted by Jinja's ``quote`` filter (``| raw`` opts
    out, ``| quote`` is kept as is), ``{{{alias}}}`` and friends become the inventory
    variables. One pass: apply it once."""

    def replace(m: re.Match[str]) -> str:
        if m.group(1):
            return "{{ " + _ANSIBLE_FIELDS[m.group(1)] + " | quote }}"
        expression = m.group(2)
        if not expression.strip():
            return m.group(0)
        raw = _RAW.match(expression)
        if raw:
            return "{{ " + raw.group(1).strip() + " }}"
        if _QUOTED.search(expression):  # quoted by its author already
            return m.group(0)
        return "{{ (" + expression.strip() + ") | quote }}"

    return _EXPRESSION.sub(replace, command)
