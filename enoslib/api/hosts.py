"""Selecting hosts: what ``roles=`` accepts and Ansible-like ``pattern_hosts``.

A pattern is a list of terms separated by ``:`` (or ``,``). Each term names a role, a host
alias or address, a glob over those (``web*``), or a regex (``~db[0-9]+``); ``all`` / ``*``
mean every host. Terms starting with ``&`` intersect, with ``!`` exclude, as in Ansible:
``"web:db:&prod:!web-3"`` = (web | db) & prod - web-3. Order follows the roles' order.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Iterable, Mapping, Union

from enoslib.objects import Host, Roles

RolesLike = Union[Mapping[str, Iterable[Host]], Iterable[Host], Host]


def as_roles(roles: RolesLike | None) -> Roles:
    """Normalise what users pass as ``roles=``: Roles, a mapping, a list/set of hosts, one Host."""
    if roles is None:
        raise ValueError("roles= is required (Roles, a list of Hosts or a Host)")
    if isinstance(roles, Roles):
        return roles
    if isinstance(roles, Host):
        return Roles(all=[roles])
    if isinstance(roles, Mapping):
        return Roles(roles)
    hosts = list(roles)
    for h in hosts:
        if not isinstance(h, Host):
            raise TypeError(f"roles= must hold Host objects, got {type(h).__name__}: {h!r}")
    return Roles(all=hosts)


def _split(pattern: str) -> list[str]:
    if "," in pattern:
        return [t.strip() for t in pattern.split(",") if t.strip()]
    # a bare IPv6 address is one term, not a union of its pieces
    if pattern.count(":") > 1 and re.fullmatch(r"[0-9a-fA-F:.]+", pattern.lstrip("&!")):
        return [pattern]
    return [t.strip() for t in pattern.split(":") if t.strip()]


def _term_hosts(roles: Roles, everyone: list[Host], term: str) -> list[Host]:
    if term in ("all", "*"):
        return everyone
    if term in roles:
        return list(roles[term])
    if term.startswith("~"):
        rx = re.compile(term[1:])
        match = lambda name: rx.match(name) is not None  # noqa: E731
    elif any(c in term for c in "*?["):
        match = lambda name: fnmatch.fnmatchcase(name, term)  # noqa: E731
    else:
        match = term.__eq__
    picked: dict[Host, None] = {}
    for role, hosts in roles.items():
        if match(role):
            picked.update(dict.fromkeys(hosts))
    for h in everyone:
        if match(h.alias) or match(h.address):
            picked[h] = None
    return list(picked)


def get_hosts(roles: RolesLike, pattern_hosts: str = "all") -> list[Host]:
    """The hosts of ``roles`` selected by an Ansible-like pattern, each once, in role order.

    >>> get_hosts(roles, "server:&rack1:!server-2")
    """
    r = as_roles(roles)
    everyone = list(r.all())
    if not pattern_hosts or pattern_hosts in ("all", "*"):
        return everyone
    union: dict[Host, None] = {}
    inter: list[set[Host]] = []
    exclude: set[Host] = set()
    for term in _split(pattern_hosts):
        if term.startswith("!"):
            exclude.update(_term_hosts(r, everyone, term[1:]))
        elif term.startswith("&"):
            inter.append(set(_term_hosts(r, everyone, term[1:])))
        else:
            union.update(dict.fromkeys(_term_hosts(r, everyone, term)))
    if not union and inter:  # "&a:&b" alone: start from every host, as Ansible does
        union = dict.fromkeys(everyone)
    order = {h: i for i, h in enumerate(everyone)}
    selected = [h for h in union if h not in exclude and all(h in s for s in inter)]
    return sorted(selected, key=lambda h: order.get(h, len(order)))


def safe_dirname(alias: str) -> str:
    """A local directory name for a host alias that cannot escape its parent (``get``)."""
    name = re.sub(r"[^A-Za-z0-9._@+=-]", "_", alias).lstrip(".") or "_"
    return name[:200]
