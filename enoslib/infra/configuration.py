"""One configuration machinery for every provider, driven by the JSON schemas in ``schemas/``.

A provider's configuration class only names its schema; fields, types, defaults and rules
all come from ``schemas/<name>.json``. Everything here is offline: building and validating a
configuration never touches the network.

>>> from enoslib.infra.enos_static.configuration import StaticConf
>>> conf = StaticConf.from_settings().add_machine(roles=["srv"], address="10.0.0.1")
>>> StaticConf.from_dictionary(conf.to_dict()) == conf
True
"""

from __future__ import annotations

import copy
import functools
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator, Mapping, NoReturn, TypeVar

from enoslib._urls import strip_credentials
from enoslib.errors import EnosConfigError

C = TypeVar("C", bound="BaseConfiguration")

# the wheel ships schemas inside the package; a source checkout has them at the top level
_SCHEMA_DIRS = (Path(__file__).resolve().parents[1] / "schemas", Path(__file__).resolve().parents[2] / "schemas")

# ASCII digits only (``\d`` also takes full-width and other Unicode digits) and ``\Z``, not
# ``$``, which also matches before a trailing newline.
WALLTIME = re.compile(r"\A([0-9]+):([0-5][0-9]):([0-5][0-9])\Z")
RESERVATION_DATE = "%Y-%m-%d %H:%M:%S"
# strptime alone is lenient: any run of whitespace for " ", one-digit fields, Unicode digits
_RESERVATION_DATE_RE = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\Z")
_CIDR_RE = re.compile(r"\A[0-9A-Fa-f.:]+/[0-9]{1,3}\Z")
_IP_RE = re.compile(r"\A[0-9A-Fa-f.:]+\Z")
# six hex pairs with one separator throughout (netaddr alone reads "1" as 00-00-00-00-00-01)
_MAC_RE = re.compile(r"\A[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}\Z")


def schema_dir() -> Path:
    """The folder holding the providers' JSON schemas (installed package or source tree)."""
    for d in _SCHEMA_DIRS:
        if d.is_dir():
            return d
    raise EnosConfigError(f"no schema directory found (looked in {', '.join(map(str, _SCHEMA_DIRS))})")


def schema_names() -> list[str]:
    """Names of the providers that have a JSON schema (``["g5k", "local", "static", ...]``)."""
    return sorted(p.stem for p in schema_dir().glob("*.json"))


@functools.lru_cache(maxsize=None)
def load_schema(name: str) -> dict[str, Any]:
    """The JSON schema of a provider (``static``, ``local``, ``g5k`` ...)."""
    path = schema_dir() / f"{name}.json"
    if not path.is_file():
        raise EnosConfigError(
            f"no schema named {name!r}; known: {', '.join(schema_names())}", rule="schema"
        )
    return json.loads(path.read_text())


def walltime_to_seconds(walltime: str) -> int:
    """``"26:30:00"`` -> 95400. Hours may have any number of digits."""
    m = WALLTIME.match(walltime) if isinstance(walltime, str) else None
    if not m:
        raise ValueError(f"walltime {walltime!r} is not H:MM:SS (hours may exceed 24)")
    h, mi, s = map(int, m.groups())
    return h * 3600 + mi * 60 + s


def seconds_to_walltime(seconds: float) -> str:
    """A duration in seconds as a walltime ``HH:MM:SS`` (``3661`` -> ``"01:01:01"``)."""
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _format_checker() -> Any:
    """Checks of the schemas' ``format`` keywords: strict, ASCII-only, whole-string matches."""
    import ipaddress

    import jsonschema

    checker = jsonschema.FormatChecker()

    @checker.checks("walltime", raises=ValueError)
    def _walltime(value: object) -> bool:
        return not isinstance(value, str) or walltime_to_seconds(value) >= 0

    @checker.checks("reservation-date", raises=ValueError)
    def _date(value: object) -> bool:
        return not isinstance(value, str) or bool(
            _RESERVATION_DATE_RE.match(value) and datetime.strptime(value, RESERVATION_DATE)
        )

    @checker.checks("cidr", raises=ValueError)
    def _cidr(value: object) -> bool:
        return not isinstance(value, str) or bool(
            _CIDR_RE.match(value) and ipaddress.ip_network(value, strict=False)
        )

    @checker.checks("ip-address", raises=ValueError)
    def _ip(value: object) -> bool:
        return not isinstance(value, str) or bool(_IP_RE.match(value) and ipaddress.ip_address(value))

    @checker.checks("mac-address")
    def _mac(value: object) -> bool:
        return not isinstance(value, str) or bool(_MAC_RE.match(value))

    return checker


def _is_integer(checker: Any, instance: object) -> bool:
    """JSON-schema's ``integer`` also takes ``2.0``; counts and ports must be real ints."""
    return isinstance(instance, int) and not isinstance(instance, bool)


@functools.lru_cache(maxsize=None)
def _validator(name: str, pointer: str) -> Any:
    """A validator for the part of schema ``name`` at JSON ``pointer`` (``""`` is the root)."""
    import jsonschema

    root = load_schema(name)
    sub = _resolve(root, root)
    for key in filter(None, pointer.split("/")):
        sub = _resolve(root, sub[key])
    # subschemas keep access to the root's shared definitions
    schema = {**sub, "$defs": root.get("$defs", {})} if pointer else root
    cls = jsonschema.validators.validator_for(root, default=jsonschema.Draft202012Validator)
    cls = jsonschema.validators.extend(cls, type_checker=cls.TYPE_CHECKER.redefine("integer", _is_integer))
    return cls(schema, format_checker=_format_checker())


def _resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow local ``$ref``s (``#/$defs/machine``)."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise EnosConfigError(f"only local $ref are supported, got {ref!r}", rule="$ref")
        target: Any = root
        for key in ref[2:].split("/"):
            target = target[key]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def validate(name: str, data: Any, *, pointer: str = "", path: str = "$") -> None:
    """Check ``data`` against schema ``name`` (or its part at ``pointer``).

    Raises :class:`EnosConfigError` naming the JSON path (prefixed by ``path``) and the rule.
    """
    from jsonschema.exceptions import relevance

    errors = sorted(_validator(name, pointer).iter_errors(data), key=relevance, reverse=True)
    if not errors:
        return
    found = []
    for error in errors:
        # a oneOf/anyOf failure is clearer through its most relevant sub-error
        while error.context:
            error = max(error.context, key=relevance)
        where, message = path + error.json_path[1:], error.message
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            where, message = _unexpected_key(where, error.instance, error.schema)
        elif isinstance(error.instance, str) and error.instance != error.instance.strip():
            # invisible in most terminals: say it
            message += " (it has leading or trailing whitespace, e.g. a newline)"
        found.append((where, str(error.validator), message))
    where, rule, message = found[0]
    text = f"invalid {name} configuration at {where}: {message} (rule: {rule})"
    if len(found) > 1:
        text += "; also " + "; ".join(f"{w}: {m}" for w, _, m in found[1:4])
        if len(found) > 4:
            text += f"; and {len(found) - 4} more"
    raise EnosConfigError(text, path=where, rule=rule, errors=found)


def _unexpected_key(where: str, instance: dict[str, Any], schema: dict[str, Any]) -> tuple[str, str]:
    """Point an unknown-field error at the field itself, with the closest known name."""
    import difflib

    known = list(schema.get("properties", {}))
    extra = [k for k in instance if k not in known]
    if not extra:
        return where, "unexpected field"
    key = extra[0]
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known fields: {', '.join(known)}"
    return f"{where}.{key}", f"unknown field {key!r}{hint}"


def _with_defaults(root: dict[str, Any], schema: dict[str, Any], value: Any) -> Any:
    """A copy of ``value`` with the schema's defaults filled in (objects and arrays, recursively)."""
    schema = _resolve(root, schema)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        out = {}
        for key, sub in props.items():
            sub = _resolve(root, sub)
            if key in value:
                out[key] = _with_defaults(root, sub, value[key])
            elif "default" in sub:
                out[key] = _with_defaults(root, sub, copy.deepcopy(sub["default"]))
        for key, item in value.items():
            out.setdefault(key, item)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_with_defaults(root, schema["items"], item) for item in value]
    return value


class ConfigNode:
    """Attribute access over one object of a configuration (the whole, or one machine).

    Reading a field gives the value set, else the schema's default, else None. Setting a
    field validates it on the spot.
    """

    __slots__ = ("_schema_name", "_pointer", "_path", "_data")

    def __init__(self, schema_name: str, pointer: str, path: str, data: dict[str, Any]) -> None:
        object.__setattr__(self, "_schema_name", schema_name)
        object.__setattr__(self, "_pointer", pointer)
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_data", data)

    def _schema(self) -> dict[str, Any]:
        root = load_schema(self._schema_name)
        node = _resolve(root, root)
        for key in filter(None, self._pointer.split("/")):
            node = _resolve(root, node[key])
        return node

    def _fields(self) -> dict[str, Any]:
        return self._schema().get("properties", {})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._data:
            return self._data[name]
        fields = self._fields()
        if name not in fields:
            raise AttributeError(
                f"{self._schema_name} configuration has no field {name!r} at {self._path} "
                f"(fields: {', '.join(fields)})"
            )
        sub = _resolve(load_schema(self._schema_name), fields[name])
        return copy.deepcopy(sub.get("default"))

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):  # internal slots, also restored this way by copy and pickle
            object.__setattr__(self, name, value)
            return
        if name not in self._fields():
            raise EnosConfigError(
                f"invalid {self._schema_name} configuration at {self._path}.{name}: "
                f"unknown field (fields: {', '.join(self._fields())})",
                path=f"{self._path}.{name}",
                rule="additionalProperties",
            )
        validate(
            self._schema_name, value, pointer=f"{self._pointer}/properties/{name}", path=f"{self._path}.{name}"
        )
        self._data[name] = value

    def to_dict(self, defaults: bool = False) -> dict[str, Any]:
        """The values set (a deep copy); with ``defaults=True`` the schema's defaults too."""
        if defaults:
            return _with_defaults(load_schema(self._schema_name), self._schema(), self._data)
        return copy.deepcopy(self._data)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ConfigNode)
            and type(self) is type(other)
            and self._schema_name == other._schema_name
            and self.to_dict(defaults=True) == other.to_dict(defaults=True)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return strip_credentials(f"{type(self).__name__}({json.dumps(self._data, default=str)})")

    def __rich__(self) -> Any:
        from enoslib.objects.display import conf_table

        return conf_table(self.to_dict(defaults=True), title=f"{self._schema_name} {self._path}")

    def _repr_html_(self) -> str:
        from enoslib.objects.display import html_table

        return html_table(
            [{"key": k, "value": json.dumps(v) if not isinstance(v, str) else v}
             for k, v in self.to_dict(defaults=True).items()]
        )


class BaseConfiguration(ConfigNode):
    """A provider's configuration: ``from_dictionary``, ``from_settings``, builders, ``to_dict``.

    Subclasses set ``schema_name``. Machines and networks live under ``resources`` as in
    EnOSlib's dictionaries: ``{"resources": {"machines": [...], "networks": [...]}}``.
    """

    __slots__ = ()
    schema_name: ClassVar[str] = ""

    #: documented classes of one machine group / one network (``conf.machines[i]`` ...)
    machine_class: ClassVar[type[ItemConfiguration]]
    network_class: ClassVar[type[ItemConfiguration]]

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        """An empty configuration is fine: settings, machines and networks are added after,
        and ``finalize()`` (called by the provider) checks the whole."""
        if not self.schema_name:
            raise TypeError(f"{type(self).__name__} must set schema_name")
        super().__init__(self.schema_name, "", "$", data if data is not None else {})

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_dictionary(cls: type[C], dictionary: Mapping[str, Any], validate: bool = True) -> C:
        """Build from a plain dict (e.g. loaded from YAML/JSON); validated at once (schema and
        cross-field rules, as ``finalize``) unless ``validate=False``."""
        if not isinstance(dictionary, Mapping):
            raise EnosConfigError(
                f"invalid {cls.schema_name} configuration at $: expected an object, got "
                f"{type(dictionary).__name__} (rule: type)",
                rule="type",
            )
        conf = cls(copy.deepcopy(dict(dictionary)))
        return conf.finalize() if validate else conf

    @classmethod
    def from_dictionnary(cls: type[C], *args: Any, **kwargs: Any) -> C:
        """Old spelling of :meth:`from_dictionary` (deprecated)."""
        import warnings

        warnings.warn("from_dictionnary is deprecated in favor of from_dictionary", DeprecationWarning, stacklevel=2)
        return cls.from_dictionary(*args, **kwargs)

    @classmethod
    def from_settings(cls: type[C], **settings: Any) -> C:
        """Build from top-level settings (``job_name=..., walltime=...``); add machines after."""
        conf = cls()
        conf.set(**settings)
        return conf

    def set(self: C, **settings: Any) -> C:
        """Set top-level fields (each validated); returns the configuration for chaining."""
        for key, value in settings.items():
            setattr(self, key, value)
        return self

    # -- resources --------------------------------------------------------------------------
    def _resources(self) -> dict[str, Any]:
        return self._data.setdefault("resources", {})

    def _add(self: C, kind: str, item: dict[str, Any], *, share: bool = False) -> C:
        """Validate ``item`` and append it; ``share`` keeps the very dict (an item object added
        with ``add_*_conf`` stays live: changing it later changes the configuration)."""
        items = self._resources().setdefault(kind, [])
        index = len(items)
        validate(
            self.schema_name,
            item,
            pointer=f"/properties/resources/properties/{kind}/items",
            path=f"$.resources.{kind}[{index}]",
        )
        items.append(item if share else copy.deepcopy(item))
        return self

    def add_machine(self: C, **machine: Any) -> C:
        """Add a group of machines (fields as in the provider's schema); validated at once."""
        return self._add("machines", machine)

    def add_network(self: C, **network: Any) -> C:
        """Add a network (fields as in the provider's schema); validated at once."""
        return self._add("networks", network)

    def add_machine_conf(self: C, machine: ItemConfiguration | Mapping[str, Any]) -> C:
        """Add a machine group object (``MachineConfiguration(...)``, or a dict); validated at once."""
        return self._add_conf("machines", machine)

    def add_network_conf(self: C, network: ItemConfiguration | Mapping[str, Any]) -> C:
        """Add a network object (``NetworkConfiguration(...)``, or a dict); validated at once."""
        return self._add_conf("networks", network)

    def _add_conf(self: C, kind: str, item: ItemConfiguration | Mapping[str, Any]) -> C:
        if isinstance(item, ItemConfiguration):
            self._add(kind, item._data, share=True)
            item._attach(self, len(self._data["resources"][kind]) - 1)
            return self
        if isinstance(item, Mapping):
            return self._add(kind, dict(item))
        raise EnosConfigError(
            f"invalid {self.schema_name} configuration at $.resources.{kind}: expected a "
            f"{(self.machine_class if kind == 'machines' else self.network_class).__name__} or a dict, "
            f"got {type(item).__name__} (rule: type)",
            path=f"$.resources.{kind}", rule="type",
        )

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("machines", "networks"):  # ``conf.machines = [...]`` replaces them all
            items, before = list(value), self._resources().get(name, [])
            self._resources()[name] = []
            add = self.add_machine_conf if name == "machines" else self.add_network_conf
            try:
                for item in items:
                    add(item)
            except BaseException:
                self._resources()[name] = before  # all or nothing
                raise
            return
        super().__setattr__(name, value)

    @classmethod
    def validate(cls, dictionary: Mapping[str, Any]) -> None:
        """Check a dictionary against this provider's schema (raises the configuration error)."""
        validate(cls.schema_name, dictionary)

    def _nodes(self, kind: str) -> list[Any]:
        items = self._data.get("resources", {}).get(kind, [])
        cls = self.machine_class if kind == "machines" else self.network_class
        return [cls._view(self, i, item) for i, item in enumerate(items)]

    @property
    def machines(self) -> list[Any]:
        """The machine groups, as the provider's documented objects (live views: setting a
        field on one changes this configuration)."""
        return self._nodes("machines")

    @property
    def networks(self) -> list[Any]:
        """The networks, as the provider's documented objects (live views)."""
        return self._nodes("networks")

    def finalize(self: C) -> C:
        """Validate the whole configuration (required fields included); returns it."""
        validate(self.schema_name, self._data)
        self._check()
        return self

    def _check(self) -> None:
        """Cross-field rules a JSON schema cannot express; subclasses extend."""

    def _fail(self, path: str, message: str, rule: str) -> NoReturn:
        """Raise the error of a cross-field rule, worded like the schema's own."""
        raise EnosConfigError(
            f"invalid {self.schema_name} configuration at {path}: {message} (rule: {rule})", path=path, rule=rule
        )

    def iter_roles(self) -> Iterator[str]:
        seen: dict[str, None] = {}
        for item in [*self.machines, *self.networks]:
            seen.update(dict.fromkeys(item.to_dict().get("roles", [])))
        return iter(seen)



class ItemConfiguration(ConfigNode):
    """One machine group or one network of a configuration, built with keyword arguments
    (``MachineConfiguration(roles=[...], address=...)``) as in EnOSlib.

    Standalone, it holds its own fields; once added (``add_machine_conf``) or read from a
    configuration (``conf.machines[0]``) it is a live view of that configuration's item.
    Fields left to ``None`` are not set (the schema's default applies).
    """

    __slots__ = ("_conf",)
    schema_name: ClassVar[str] = ""
    kind: ClassVar[str] = "machines"  # or "networks"

    def __init__(self, **fields: Any) -> None:
        if not self.schema_name:
            raise TypeError(f"{type(self).__name__} must set schema_name")
        pointer = f"/properties/resources/properties/{self.kind}/items"
        # standalone, paths in errors are relative to the item; once added, to the configuration
        super().__init__(self.schema_name, pointer, "$", {})
        object.__setattr__(self, "_conf", None)
        for name, value in fields.items():
            if value is not None:
                setattr(self, name, value)

    @classmethod
    def _view(cls: type[ItemT], conf: BaseConfiguration, index: int, data: dict[str, Any]) -> ItemT:
        item = cls.__new__(cls._class_for(data))
        pointer = f"/properties/resources/properties/{cls.kind}/items"
        ConfigNode.__init__(item, conf.schema_name, pointer, f"$.resources.{cls.kind}[{index}]", data)
        object.__setattr__(item, "_conf", conf)
        return item

    @classmethod
    def _class_for(cls, data: dict[str, Any]) -> type:
        """The documented class of an item read from a configuration (subclasses refine)."""
        return cls

    def _attach(self, conf: BaseConfiguration, index: int) -> None:
        object.__setattr__(self, "_conf", conf)
        object.__setattr__(self, "_path", f"$.resources.{self.kind}[{index}]")

    @classmethod
    def from_dictionary(cls: type[ItemT], dictionary: Mapping[str, Any]) -> ItemT:
        """Build from a plain dict (fields as in the provider's schema), validated at once."""
        item = cls()
        validate(item._schema_name, dict(dictionary), pointer=item._pointer, path=item._path)
        object.__setattr__(item, "_data", copy.deepcopy(dict(dictionary)))
        return item

    def __getitem__(self, name: str) -> Any:
        return self._data[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self._data.get(name, default)


ItemT = TypeVar("ItemT", bound="ItemConfiguration")
