"""Roles and Networks: named groups of hosts / networks.

``roles["server"]`` is an ordered set of hosts: iteration and indexing follow insertion order
(so ``roles["server"][0]`` is stable across runs), and ``|``, ``&``, ``-``, ``^`` behave as on
sets. Building groups of tens of thousands of hosts is linear.

EnOSlib's idioms work unchanged: ``roles["new"].append(host)`` on a role that does not exist
yet creates it, ``roles["a"] + roles["b"]``, ``roles += other_roles``, ``roles.extend(other)``,
``roles.add_one(host, ["a", "b"])``, ``roles.all()``, ``roles.with_alias("node-1")``.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, Iterable, Iterator, Mapping, MutableSet, TypeVar, overload

from enoslib.objects.host import Host
from enoslib.objects.network import Network

T = TypeVar("T")


class ResourceSet(MutableSet[T], Generic[T]):
    """An insertion-ordered set (a dict under the hood) that can also be indexed."""

    __slots__ = ("_items", "_list", "_pending")

    def __init__(self, items: Iterable[T] | None = ()) -> None:
        self._items: dict[T, None] = dict.fromkeys(items or ())
        self._list: list[T] | None = None
        # (mapping, role) while this is the empty view handed out for a missing role: the first
        # addition stores it in the mapping, so reading a missing role does not create it
        self._pending: tuple[dict[str, Any], str] | None = None

    def _changed(self) -> None:
        self._list = None
        if self._pending is not None:
            mapping, role = self._pending
            self._pending = None
            mapping.__dict__.get("_pending_views", {}).pop(role, None)
            dict.setdefault(mapping, role, self)

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: T) -> None:
        if item not in self._items:
            self._items[item] = None
            self._changed()

    append = add  # EnOSlib's list-like spelling

    def discard(self, item: T) -> None:
        if item in self._items:
            del self._items[item]
            self._list = None

    def extend(self, items: Iterable[T]) -> None:
        before = len(self._items)
        self._items.update(dict.fromkeys(items))
        if len(self._items) != before:
            self._changed()

    update = extend

    # list-like operators of EnOSlib's ResourcesSet: ``+`` is the union, ``-=`` removes
    def __add__(self, other: Iterable[Any]) -> "ResourceSet[T]":
        return self | other

    def __radd__(self, other: Iterable[Any]) -> "ResourceSet[T]":
        return type(self)([*other, *self._items])

    def __iadd__(self, other: Iterable[Any]) -> "ResourceSet[T]":  # type: ignore[misc]
        self.extend(other)
        return self

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> "ResourceSet[T]": ...
    def __getitem__(self, index: int | slice) -> "T | ResourceSet[T]":
        # indexing is O(1) after the first call: the list is cached until the set changes
        if self._list is None:
            self._list = list(self._items)
        if isinstance(index, slice):
            return type(self)(self._list[index])
        return self._list[index]

    @classmethod
    def _from_iterable(cls, it: Iterable[T]) -> "ResourceSet[T]":
        return cls(it)

    # set operators keep the left operand's order, then the right's
    def __or__(self, other: Iterable[Any]) -> "ResourceSet[T]":
        return type(self)([*self._items, *other])

    def __and__(self, other: Iterable[Any]) -> "ResourceSet[T]":
        keep = other if isinstance(other, (set, frozenset, ResourceSet)) else set(other)
        return type(self)(i for i in self._items if i in keep)

    def __sub__(self, other: Iterable[Any]) -> "ResourceSet[T]":
        drop = other if isinstance(other, (set, frozenset, ResourceSet)) else set(other)
        return type(self)(i for i in self._items if i not in drop)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ResourceSet):
            return self._items.keys() == other._items.keys()
        if isinstance(other, (set, frozenset)):
            return self._items.keys() == other
        return NotImplemented


    __hash__ = None  # type: ignore[assignment]  # mutable

    def filter(self, predicate: Callable[[T], bool]) -> "ResourceSet[T]":
        return type(self)(i for i in self._items if predicate(i))

    def __repr__(self) -> str:
        items = list(self._items)
        shown = ", ".join(map(repr, items[:5])) + (f", ... (+{len(items) - 5})" if len(items) > 5 else "")
        return f"{type(self).__name__}([{shown}])"


class HostsView(ResourceSet[Host]):
    """The hosts of a role."""

    __slots__ = ()

    def __rich__(self) -> Any:
        from enoslib.objects.display import hosts_table

        return hosts_table(list(self))

    def _repr_html_(self) -> str:
        from enoslib.objects.display import html_table

        return html_table([{k: v for k, v in h.to_dict().items() if k != "net_devices"} for h in self])


class NetworksView(ResourceSet[Network]):
    """The networks of a role."""

    __slots__ = ()

    def __rich__(self) -> Any:
        from enoslib.objects.display import network_table

        return network_table(list(self))

    def _repr_html_(self) -> str:
        from enoslib.objects.display import html_table

        return html_table([n.to_dict() for n in self])


V = TypeVar("V", bound=ResourceSet[Any])


class _RoleMapping(dict[str, V], Generic[V]):
    """A dict from role name to an ordered set, with helpers shared by Roles and Networks."""

    view: type[ResourceSet[Any]] = ResourceSet

    def __init__(self, mapping: Mapping[str, Iterable[Any]] | None = None, **kwargs: Iterable[Any]) -> None:
        super().__init__()
        for source in (mapping or {}, kwargs):
            for role, items in source.items():
                self.extend(role, items)

    def __missing__(self, role: str) -> V:
        # EnOSlib semantics: a missing role reads as an empty group. The group is stored only
        # when something is added to it, so ``"typo" in roles`` stays False after a read.
        # one pending view per role, so two reads of the same missing role share their additions
        pending: dict[str, Any] = self.__dict__.setdefault("_pending_views", {})
        view = pending.get(role)
        if view is None:
            view = pending[role] = self.view()
            view._pending = (self, role)
        return view  # type: ignore[no-any-return]

    def __setitem__(self, role: str, items: Iterable[Any]) -> None:
        super().__setitem__(role, items if isinstance(items, self.view) else self.view(items))  # type: ignore[arg-type]

    def add_one(self, item: Any, roles: Iterable[str] | str) -> None:
        """Add one item under one or several roles (created when missing)."""
        for role in [roles] if isinstance(roles, str) else roles:
            self.setdefault(role, self.view()).add(item)  # type: ignore[arg-type]

    def extend(self, roles: "Mapping[str, Iterable[Any]] | str", items: Iterable[Any] | None = None) -> None:
        """Add items in place, creating roles as needed.

        ``extend(other_roles)`` merges a mapping role by role (EnOSlib's form);
        ``extend("role", items)`` adds ``items`` under one role.
        """
        if isinstance(roles, str):
            self.setdefault(roles, self.view()).extend(items or ())  # type: ignore[arg-type]
            return
        if items is not None:
            raise TypeError("extend(mapping) takes no items; use extend(role, items) for one role")
        for role, group in roles.items():
            self.setdefault(role, self.view()).extend(group)  # type: ignore[arg-type]

    def all(self) -> V:
        """Every item once, in order of first appearance."""
        out = self.view()
        for items in self.values():
            out.extend(items)
        return out  # type: ignore[return-value]

    def merge(self, other: Mapping[str, Iterable[Any]]) -> "_RoleMapping[V]":
        """A new mapping holding both; roles present in both get the union."""
        merged = type(self)(self)
        merged.extend(other)
        return merged

    __or__ = merge
    __add__ = merge

    def __iadd__(self, other: Mapping[str, Iterable[Any]]) -> "_RoleMapping[V]":
        self.extend(other)
        return self

    def roles_of(self, item: Any) -> list[str]:
        return [role for role, items in self.items() if item in items]

    def to_dict(self) -> dict[str, list[Any]]:
        return {role: [i.to_dict() for i in items] for role, items in self.items()}

    def __repr__(self) -> str:
        inner = ", ".join(f"{role!r}: {len(items)}" for role, items in self.items())
        return f"{type(self).__name__}({{{inner}}})"


class Roles(_RoleMapping[HostsView]):
    """Role name -> hosts. ``roles.all()`` gives every host once.

    >>> a, b = Host("10.0.0.2", alias="a"), Host("10.0.0.3", alias="b")
    >>> roles = Roles({"server": [a], "all": [a, b]})
    >>> roles["client"].append(b)          # a missing role is created when written to
    >>> [h.alias for h in roles.all()], roles["server"][0].alias
    (['a', 'b'], 'a')
    >>> [h.alias for h in roles["all"] - roles["server"]], sorted(roles.with_alias("b"))
    (['b'], ['all', 'client'])
    """

    view = HostsView

    def with_alias(self, alias: str) -> set[str]:
        """Names of the roles holding a host whose alias is ``alias`` (as EnOSlib)."""
        return {role for role, hosts in self.items() if any(h.alias == alias for h in hosts)}

    def with_ip(self, ip: Any) -> set[str]:
        """Names of the roles holding a host with the address ``ip`` on one of its devices
        (as EnOSlib: the devices are known after :func:`enoslib.sync_info`)."""
        return {role for role, hosts in self.items() if any(h.has_address(ip) for h in hosts)}

    def __rich__(self) -> Any:
        from enoslib.objects.display import roles_table

        return roles_table(self)

    def _repr_html_(self) -> str:
        from enoslib.objects.display import html_table

        return html_table([{"role": r, "hosts": ", ".join(h.alias for h in hs)} for r, hs in self.items()])


class Networks(_RoleMapping[NetworksView]):
    """Role name -> networks."""

    view = NetworksView

    def __rich__(self) -> Any:
        from enoslib.objects.display import roles_table

        return roles_table(self)

    def _repr_html_(self) -> str:
        from enoslib.objects.display import html_table

        return html_table([{"role": r, "networks": ", ".join(n.cidr for n in ns)} for r, ns in self.items()])
