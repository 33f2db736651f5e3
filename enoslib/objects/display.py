"""Terminal (rich) and notebook (HTML) renderings of enoslib objects.

rich is imported only when something is displayed, so building objects stays cheap.
User text (aliases, stdout, configuration values) is never read as rich markup: a stdout of
``[/data] cleaned`` is shown as is (cells are :class:`rich.text.Text`, titles are escaped).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any, Iterable, Mapping

if TYPE_CHECKING:
    from rich.table import Table

    from enoslib.objects.host import Host
    from enoslib.objects.network import Network


def html_table(rows: Iterable[Mapping[str, Any]]) -> str:
    """A plain HTML table: one row per mapping, columns in first-seen order (escaped)."""
    rows = list(rows)
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(row.get(c)))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(map(str, value))
    return str(value)


def rich_table(rows: Iterable[Mapping[str, Any]], title: str | None = None) -> "Table":
    """The rich twin of :func:`html_table`; every header, cell and the title are plain text."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    rows = list(rows)
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    table = Table(title=escape(title) if title is not None else None)
    for c in columns:
        table.add_column(Text(str(c)))
    for row in rows:
        table.add_row(*(Text(_cell(row.get(c))) for c in columns))
    return table


def hosts_table(hosts: list["Host"]) -> "Table":
    """A rich table of hosts (alias, address, user, port, interfaces)."""
    return rich_table(
        (
            {
                "alias": h.alias,
                "address": h.address,
                "user": h.user,
                "port": h.port,
                "interfaces": sorted(d.name for d in h.net_devices),
            }
            for h in hosts
        ),
        title="Hosts",
    )


def network_table(networks: list["Network"]) -> "Table":
    """A rich table of networks (one row per network)."""
    return rich_table((n.to_dict() for n in networks), title="Networks")


def roles_table(mapping: Mapping[str, Iterable[Any]]) -> "Table":
    """A rich table of a Roles or Networks mapping (one row per role)."""
    def name(item: Any) -> str:
        return getattr(item, "alias", None) or getattr(item, "cidr", None) or str(item)

    return rich_table(
        ({"role": role, "members": [name(i) for i in items]} for role, items in mapping.items()),
        title=type(mapping).__name__,
    )


def conf_table(data: Mapping[str, Any], title: str) -> "Table":
    """Key/value table of a configuration (nested values shown as JSON)."""
    import json

    return rich_table(
        ({"key": k, "value": v if isinstance(v, str) else json.dumps(v)} for k, v in data.items()),
        title=title,
    )
