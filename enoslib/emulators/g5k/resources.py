"""OAR resource requests: the ``-l`` string and the SQL-ish property filters.

Grammar understood (what EnOSlib, execo and people write)::

    request  := group ("+" group)* ["," "walltime=" H[:MM[:SS]]]
    group    := ["{" filter "}"] ["/"] level ("/" level)*
    level    := name "=" (N | ALL | BEST)
      node groups:    nodes=N, host=N, network_address=N, cluster=1/nodes=N,
                      core=N / cpu=N / gpu=N (one whole node: the emulator
                      only hands out whole nodes)
      vlan groups:    {type='kavlan'|'kavlan-local'|'kavlan-global'}/vlan=N
      subnet groups:  slash_22=N, slash_16=N (any /14../22 prefix; counted in /22)
    filter   := boolean expression over resource properties with = != <> < >
                <= >= [NOT] IN (...) [NOT] LIKE '%x_', AND, OR, NOT, parentheses
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Filter",
    "NodeGroup",
    "Request",
    "ResourceError",
    "SubnetGroup",
    "VlanGroup",
    "format_walltime",
    "node_properties",
    "parse_filter",
    "parse_request",
    "parse_walltime",
]


class ResourceError(ValueError):
    """The request cannot be parsed or names an unknown property."""


# --------------------------------------------------------------------------- filters
_TOKEN = re.compile(
    r"""\s*(?:(?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|(?P<num>-?\d+(?:\.\d+)?)
                    |(?P<op><>|!=|<=|>=|=|<|>|\(|\)|,)|(?P<word>[A-Za-z_][A-Za-z0-9_.-]*))""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "like"}


def _tokenize(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ResourceError(f"Bad resource SQL constraint request: unexpected {text[pos:]!r}")
        pos = m.end()
        if m.group("str") is not None:
            tokens.append(("value", m.group("str")[1:-1]))
        elif m.group("num") is not None:
            tokens.append(("value", m.group("num")))
        elif m.group("op") is not None:
            tokens.append(("op", m.group("op")))
        else:
            word = m.group("word")
            kind = "kw" if word.lower() in _KEYWORDS else "ident"
            tokens.append((kind, word.lower() if kind == "kw" else word))
    return tokens


def _compare(left: Any, op: str, right: str) -> bool:
    """SQL-ish comparison: numbers as numbers, everything else as case-insensitive text."""
    try:
        return _OPS[op](float(left), float(right))
    except (TypeError, ValueError):
        return _OPS[op](str(left).lower(), str(right).lower())


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
}


def _like(value: Any, pattern: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, str(value), re.IGNORECASE) is not None


Predicate = Callable[[Mapping[str, Any]], bool]


class _Parser:
    def __init__(self, text: str, known: frozenset[str] | None) -> None:
        self.tokens = _tokenize(text)
        self.i = 0
        self.known = known
        self.properties: set[str] = set()
        self.values: dict[str, set[str]] = {}

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, kind: str | None = None, value: Any = None) -> tuple[str, Any]:
        tok = self.peek()
        if tok is None or (kind and tok[0] != kind) or (value is not None and tok[1] != value):
            raise ResourceError(f"Bad resource SQL constraint request near token {self.i}: {tok}")
        self.i += 1
        return tok

    def parse(self) -> Predicate:
        pred = self.expr()
        if self.peek() is not None:
            raise ResourceError(f"Bad resource SQL constraint request: trailing {self.peek()}")
        return pred

    def expr(self) -> Predicate:
        parts = [self.conj()]
        while self.peek() == ("kw", "or"):
            self.take()
            parts.append(self.conj())
        if len(parts) == 1:
            return parts[0]

        def any_of(props: Mapping[str, Any]) -> bool:
            return any(f(props) for f in parts)

        return any_of

    def conj(self) -> Predicate:
        parts = [self.neg()]
        while self.peek() == ("kw", "and"):
            self.take()
            parts.append(self.neg())
        if len(parts) == 1:
            return parts[0]

        def all_of(props: Mapping[str, Any]) -> bool:
            return all(f(props) for f in parts)

        return all_of

    def neg(self) -> Predicate:
        if self.peek() == ("kw", "not"):
            self.take()
            inner = self.neg()
            return lambda p: not inner(p)
        return self.atom()

    def atom(self) -> Predicate:
        if self.peek() == ("op", "("):
            self.take()
            inner = self.expr()
            self.take("op", ")")
            return inner
        name = self.take("ident")[1]
        if self.known is not None and name not in self.known:
            raise ResourceError(f"Bad resource SQL constraint request: unknown property {name!r}")
        self.properties.add(name)
        negate = False
        if self.peek() == ("kw", "not"):
            self.take()
            negate = True
        tok = self.take()
        if tok == ("kw", "in"):
            self.take("op", "(")
            values = [self.take("value")[1]]
            while self.peek() == ("op", ","):
                self.take()
                values.append(self.take("value")[1])
            self.take("op", ")")
            self.values.setdefault(name, set()).update(values)
            return lambda p: negate != any(_compare(p.get(name), "=", v) for v in values)
        if tok == ("kw", "like"):
            pattern = self.take("value")[1]
            return lambda p: negate != _like(p.get(name), pattern)
        if tok[0] != "op" or tok[1] in "(),":
            raise ResourceError(f"Bad resource SQL constraint request: bad operator {tok[1]!r}")
        op, value = tok[1], self.take("value")[1]
        if op == "=":
            self.values.setdefault(name, set()).add(value)
        return lambda p: _compare(p.get(name), op, value)


@dataclass
class Filter:
    """A compiled property filter; ``Filter("")`` matches everything."""

    text: str = ""
    known: frozenset[str] | None = None
    properties: set[str] = field(default_factory=set, init=False)
    values: dict[str, set[str]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        if self.text.strip():
            parser = _Parser(self.text, self.known)
            self._pred: Predicate = parser.parse()
            self.properties, self.values = parser.properties, parser.values
        else:
            self._pred = lambda p: True

    def __call__(self, props: Mapping[str, Any]) -> bool:
        return self._pred(props)

    def mentions(self, prop: str, value: str) -> bool:
        """True when the filter tests ``prop = value`` (or ``IN``) somewhere."""
        return value.lower() in {v.lower() for v in self.values.get(prop, ())}


def parse_filter(text: str, known: frozenset[str] | None = None) -> Filter:
    """Parse an OAR property filter (``cluster='paravance' and gpu_count>0``); ``known`` lists the
    properties allowed."""
    return Filter(text, known)


# --------------------------------------------------------------------------- requests
Count = int | str  # an int, "ALL" or "BEST"


@dataclass
class NodeGroup:
    """Part of an OAR resource request asking for nodes (a filter, a count, optionally one cluster
    or disks)."""
    filter: Filter
    count: Count
    one_cluster: bool = False
    with_disks: bool = False


@dataclass
class VlanGroup:
    """Part of an OAR resource request asking for ``count`` KaVLANs matching a filter."""
    filter: Filter
    count: int


@dataclass
class SubnetGroup:
    """Part of an OAR resource request asking for ``count`` subnets of a prefix length."""
    prefix: int  # e.g. 22 or 16
    count: int

    @property
    def blocks(self) -> int:
        """Number of /22 blocks this group takes."""
        return self.count * 2 ** (22 - self.prefix)


Group = NodeGroup | VlanGroup | SubnetGroup


@dataclass
class Request:
    """A parsed OAR resource request: its groups (nodes, VLANs, subnets) and walltime in seconds."""
    groups: list[Group]
    walltime: int | None = None

    @property
    def node_groups(self) -> list[NodeGroup]:
        return [g for g in self.groups if isinstance(g, NodeGroup)]


def parse_walltime(text: str | int) -> int:
    """``"2"`` (hours), ``"1:30"``, ``"26:00:00"`` -> seconds (hours may be any number)."""
    if isinstance(text, int):
        return text * 3600  # OAR reads a bare number as hours
    m = re.fullmatch(r"\s*(\d+)(?::(\d{1,2}))?(?::(\d{1,2}))?\s*", str(text))
    if not m:
        raise ResourceError(f"Bad walltime format: {text!r} (expected H[:MM[:SS]])")
    h, mi, s = (int(x) if x else 0 for x in m.groups())
    if mi >= 60 or s >= 60:
        raise ResourceError(f"Bad walltime format: {text!r}")
    return h * 3600 + mi * 60 + s


def format_walltime(seconds: int) -> str:
    """Seconds as OAR writes a walltime (``H:MM:SS``)."""
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside quotes, braces and parentheses."""
    parts: list[str] = []
    cur: list[str] = []
    depth, quote = 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "{(":
            depth += 1
        elif ch in "})":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    if quote or depth:
        raise ResourceError(f"Unbalanced quotes or braces in {text!r}")
    parts.append("".join(cur))
    return parts


_NODE_LEVELS = {"nodes", "host", "network_address"}
_SUB_NODE_LEVELS = {"core", "cpu", "thread", "gpu", "resource_id"}
_GROUPING_LEVELS = {"cluster", "switch", "chassis"}


def _count(value: str, what: str) -> Count:
    v = value.strip().upper()
    if v in ("ALL", "BEST"):
        return v
    if not v.isdigit() or int(v) <= 0:
        raise ResourceError(f"Bad resource request: {what}={value!r}")
    return int(v)


def parse_request(
    text: str, node_props: frozenset[str] | None = None, vlan_props: frozenset[str] | None = None
) -> Request:
    """Parse an OAR resource string (``resources`` of a job submission)."""
    text = (text or "nodes=1").strip()
    groups: list[Group] = []
    walltime: int | None = None
    chunks = _split_top(text, "+")
    for index, chunk in enumerate(chunks):
        pieces = _split_top(chunk, ",")
        chunk = pieces[0].strip()
        for opt in pieces[1:]:
            key, _, value = opt.partition("=")
            if key.strip() != "walltime" or index != len(chunks) - 1:
                raise ResourceError(f"Bad resource request option {opt!r}")
            walltime = parse_walltime(value)
        filt = ""
        m = re.match(r"\{(.*)\}\s*", chunk, re.DOTALL)
        if m:
            # the filter may contain braces-free SQL only; find the matching close brace
            depth, end = 0, 0
            for k, ch in enumerate(chunk):
                depth += ch == "{"
                depth -= ch == "}"
                if depth == 0:
                    end = k
                    break
            filt, chunk = chunk[1:end], chunk[end + 1 :].strip()
        levels = [lv.strip() for lv in chunk.strip("/").split("/") if lv.strip()]
        if not levels:
            raise ResourceError(f"Bad resource request: nothing asked in {chunk!r}")
        keys = []
        for lv in levels:
            key, eq, value = lv.partition("=")
            if not eq:
                raise ResourceError(f"Bad resource request: {lv!r}")
            keys.append((key.strip(), value.strip()))
        last_key, last_value = keys[-1]
        if re.fullmatch(r"slash_(\d+)", last_key):
            prefix = int(last_key[6:])
            if not 14 <= prefix <= 22:
                raise ResourceError(f"Bad resource request: {last_key} (slash_14..slash_22)")
            count = _count(last_value, last_key)
            groups.append(SubnetGroup(prefix, count if isinstance(count, int) else 1))
        elif last_key == "vlan":
            count = _count(last_value, "vlan")
            groups.append(
                VlanGroup(Filter(filt, vlan_props), count if isinstance(count, int) else 1)
            )
        else:
            node_count: Count | None = None
            one_cluster = False
            for key, value in keys:
                if key in _NODE_LEVELS:
                    node_count = _count(value, key)
                elif key in _GROUPING_LEVELS:
                    one_cluster = one_cluster or key == "cluster" or key == "switch"
                elif key not in _SUB_NODE_LEVELS:
                    raise ResourceError(f"Bad resource request: unknown resource type {key!r}")
            nf = Filter(filt, node_props)
            groups.append(
                NodeGroup(
                    nf,
                    1 if node_count is None else node_count,
                    one_cluster,
                    with_disks=nf.mentions("type", "disk"),
                )
            )
    return Request(groups, walltime)


def node_properties(
    node: Mapping[str, Any], cluster: Mapping[str, Any], site: str
) -> dict[str, Any]:
    """The OAR properties a resource filter sees for one node (``cluster``, ``host``...)."""
    fqdn = f"{node['uid']}.{site}.grid5000.fr"
    cluster_uid = cluster["uid"]
    arch, mem = node["architecture"], node["main_memory"]["ram_size"] // 2**20
    nics = [a for a in node["network_adapters"] if a.get("mountable") and not a.get("management")]
    disks = node.get("storage_devices", [])
    return {
        "type": "default",
        "cluster": cluster_uid,
        "host": fqdn,
        "network_address": fqdn,
        "site": site,
        "nodeset": node.get("nodeset", cluster_uid),
        "cputype": node.get("processor", {}).get("model", ""),
        "cpuarch": arch.get("platform_type", "x86_64"),
        "core_count": arch["nb_cores"],
        "cpucore": arch["nb_cores"] // max(arch.get("nb_procs", 1), 1),
        "cpu_count": arch.get("nb_procs", 1),
        "thread_count": arch.get("nb_threads", 0),
        "memnode": mem,
        "memcore": mem // max(arch["nb_cores"], 1),
        "eth_count": len(nics),
        "eth_kavlan_count": sum(1 for a in nics if a.get("kavlan")),
        "eth_rate": (nics[0].get("rate", 0) // 10**9) if nics else 0,
        "gpu_count": len(node.get("gpu_devices") or {}),
        "deploy": "YES" if node.get("supported_job_types", {}).get("deploy", True) else "NO",
        "besteffort": "YES",
        "exotic": "YES" if cluster.get("exotic") else "NO",
        "production": "YES" if "production" in cluster.get("queues", []) else "NO",
        "disktype": disks[0]["storage"] if disks else "",
        "wattmeter": "NO",
        "disk_reservation_count": sum(1 for d in disks if d.get("reservation")),
        "ib": "NO",
        "opa": "NO",
        "myri": "NO",
        "maintenance": "NO",
        "virtual": "ivt",
    }
