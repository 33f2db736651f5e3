"""execo's ``Host``: an enoslib :class:`~enoslib.objects.Host` built with execo's signature.

``Host(address, user=False, keyfile=False, port=False)``: ``False`` (execo's "not set") and
None mean the same. ``Host(other_host, user="root")`` copies ``other_host`` and overrides the
fields given. Any enoslib Host (from a provider, with its ``extra``: gateway, ssh arguments)
is accepted wherever this API takes hosts; a plain string is an address.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from enoslib.objects import Host as _EnosHost


def _unset(value: Any) -> bool:
    return value is None or value is False


class Host(_EnosHost):
    """A remote host: ``address``, and optionally ``user``, ``keyfile``, ``port``."""

    __slots__ = ()

    def __init__(
        self,
        address: str | _EnosHost,
        user: str | bool | None = False,
        keyfile: str | bool | None = False,
        port: int | bool | None = False,
    ) -> None:
        alias = None
        extra: dict[str, Any] | None = None
        if isinstance(address, _EnosHost):
            base = address
            address, alias, extra = base.address, base.alias, base.extra
            user = base.user if _unset(user) else user
            keyfile = base.keyfile if _unset(keyfile) else keyfile
            port = base.port if _unset(port) else port
        super().__init__(
            address,
            alias=alias,
            user=None if _unset(user) else str(user),
            keyfile=None if _unset(keyfile) else str(keyfile),
            port=None if _unset(port) else int(port),  # type: ignore[arg-type]
            extra=extra,
        )

    def __repr__(self) -> str:
        fields = [repr(self.address)]
        fields += [f"{k}={getattr(self, k)!r}" for k in ("user", "keyfile", "port")
                   if getattr(self, k) is not None]
        return f"Host({', '.join(fields)})"

    def __str__(self) -> str:
        return self.address


def as_host(host: str | _EnosHost) -> _EnosHost:
    """A Host for ``host`` (an address, or any Host kept as is)."""
    if isinstance(host, _EnosHost):
        return host
    if isinstance(host, str):
        return Host(host)
    raise TypeError(f"expected a Host or an address, got {type(host).__name__}: {host!r}")


def get_hosts_list(hosts: Iterable[str | _EnosHost] | str | _EnosHost) -> list[_EnosHost]:
    """``hosts`` (one host, an iterable of hosts or addresses, enoslib Roles, or an Action
    whose processes have hosts) as a list of Hosts, order kept, each once for Roles."""
    if isinstance(hosts, (str, _EnosHost)):
        return [as_host(hosts)]
    if isinstance(hosts, Mapping):  # enoslib Roles: every host once, in role order
        return list(dict.fromkeys(as_host(h) for group in hosts.values() for h in group))
    processes = getattr(hosts, "processes", None)
    if processes is not None:
        return [p.host for p in processes if getattr(p, "host", None) is not None]
    try:
        items = iter(hosts)
    except TypeError:
        raise TypeError(f"expected hosts (a Host, an address, a list of them or Roles), got "
                        f"{type(hosts).__name__}: {hosts!r}") from None
    return [as_host(h) for h in items]


def get_hosts_set(hosts: Iterable[str | _EnosHost] | str | _EnosHost) -> set[_EnosHost]:
    """``hosts`` as a set of Hosts."""
    return set(get_hosts_list(hosts))
