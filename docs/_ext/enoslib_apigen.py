"""The API reference, generated from the code at each build (never listed by hand).

Public names are what the code declares: the ``enoslib`` facade (its lazy table) and the
``__all__`` of every module whose dotted path has no ``_``-prefixed part. Each object is
documented once, in its *home* module: where it is defined when that module is public, else
the most specific public module exporting it. Other modules exporting it link there, and
references to any public spelling (``enoslib.Roles``, ``enoslib.infra.enos_g5k.G5k``) resolve
to the home entry. A module added by anyone shows up in the reference at the next build.

Pages are written to ``docs/api/`` (generated, not committed), grouped as users look for them.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

PACKAGE = "enoslib"

# (title, module prefixes, blurb): first match wins; a module matching nothing goes to "Other"
GROUPS: list[tuple[str, tuple[str, ...], str]] = [
    ("Experiment basics", ("enoslib", "enoslib.config", "enoslib.errors", "enoslib.task", "enoslib.cli"),
     "The facade ``import enoslib as en``, settings, errors, experiment tasks, the ``enos`` command."),
    ("Hosts, roles and networks", ("enoslib.objects",),
     "Pure data: what providers return and what remote execution takes."),
    ("Providers and configurations", ("enoslib.infra",),
     "Reserve resources on a testbed (one package per testbed) and plan common slots."),
    ("Remote execution and Ansible", ("enoslib.api",),
     "Commands, Ansible modules and playbooks, files, facts, results."),
    ("Services", ("enoslib.service", "enoslib.services"),
     "Things deployed on hosts: network emulation, measurements."),
    ("Planning", ("enoslib.planning",), "Finding slots on testbeds (execo_g5k's planning)."),
    ("execo-compatible modules", ("enoslib.execo", "enoslib.engine", "enoslib.g5k"),
     "execo's and execo_g5k's names, for scripts written for execo."),
    ("Emulators", ("enoslib.emulators",),
     "Local emulators of testbed APIs, to dry-run experiments (``enos emulate NAME``)."),
    ("Local test hosts", ("enoslib.nodes",), "Network namespaces with sshd: the Local provider's hosts."),
]


@dataclass
class Reference:
    """What the generator knows: public (module, name) pairs and where each object lives."""

    modules: dict[str, Any] = field(default_factory=dict)  # public module name -> module
    exports: dict[str, list[str]] = field(default_factory=dict)  # module -> its public names
    home: dict[str, str] = field(default_factory=dict)  # "module.name" -> "home_module.name"
    homed: dict[str, list[str]] = field(default_factory=dict)  # home module -> names documented there

    def public_names(self) -> list[tuple[str, str]]:
        return [(m, n) for m, names in self.exports.items() for n in names]


def _is_public(modname: str) -> bool:
    return not any(part.startswith("_") for part in modname.split("."))


def public_modules() -> dict[str, Any]:
    """Every public module of the package, imported (an import error is a build error)."""
    package = importlib.import_module(PACKAGE)
    found = {PACKAGE: package}
    for info in pkgutil.walk_packages(package.__path__, f"{PACKAGE}.", onerror=_cannot_import):
        if _is_public(info.name):
            try:
                found[info.name] = importlib.import_module(info.name)
            except ImportError as exc:
                _cannot_import(info.name, exc)
    return dict(sorted(found.items()))


def _cannot_import(name: str, exc: BaseException | None = None) -> None:
    raise RuntimeError(
        f"API reference: cannot import {name} ({exc}); the documentation build imports every public "
        "module: add its optional dependency to the 'test' extra of pyproject.toml, or import it lazily"
    ) from exc


def _declared(modname: str, module: Any) -> list[str]:
    """The public names of a module: the facade's table, a module's ``__all__``, or else the
    classes and functions it defines whose names do not start with ``_``."""
    if modname == PACKAGE:
        table = module._LAZY
        return sorted(n for n in table if n not in module._SUBMODULES)
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    return [n for n, obj in vars(module).items() if not n.startswith("_") and
            (inspect.isclass(obj) or inspect.isfunction(obj)) and getattr(obj, "__module__", None) == modname]


def _defining_module(obj: Any) -> str | None:
    modname = getattr(obj, "__module__", None)
    if not isinstance(modname, str) or inspect.ismodule(obj):
        return None
    if getattr(obj, "__qualname__", getattr(obj, "__name__", "")).count("."):
        return None  # nested: documented with its parent
    return modname


def collect() -> Reference:
    """Public modules, their public names, and the home of each object."""
    ref = Reference(modules=public_modules())
    for modname, module in ref.modules.items():
        ref.exports[modname] = _declared(modname, module)
    # group the spellings of each object, then pick its home
    # classes and functions are the same object under any name; data (an interned "ok", a
    # small int) is the same only under the same name
    spellings: dict[tuple[int, str], list[tuple[str, str]]] = {}
    objects: dict[tuple[int, str], Any] = {}
    for modname, names in ref.exports.items():
        module = ref.modules[modname]
        for name in names:
            obj = getattr(module, name)
            if inspect.ismodule(obj):
                continue
            key = (id(obj), "" if inspect.isclass(obj) or callable(obj) else name)
            spellings.setdefault(key, []).append((modname, name))
            objects[key] = obj
    for key, where in spellings.items():
        obj = objects[key]
        defining = _defining_module(obj)
        name = getattr(obj, "__name__", None)
        if (defining and defining in ref.modules and isinstance(name, str)
                and getattr(ref.modules[defining], name, None) is obj):
            home = (defining, name)
        else:  # data, or defined in a private module: the most specific public exporter
            home = max(where, key=lambda mn: (mn[0].count("."), mn[0] != PACKAGE))
        ref.homed.setdefault(home[0], []).append(home[1])
        for modname, alias in where:
            ref.home[f"{modname}.{alias}"] = f"{home[0]}.{home[1]}"
    return ref


def _group(modname: str) -> str:
    """The group of a module: the one with the longest matching prefix."""
    best: tuple[int, str] | None = None
    for title, prefixes, _ in GROUPS:
        for prefix in prefixes:
            matches = modname == prefix or (prefix != PACKAGE and modname.startswith(prefix + "."))
            if matches and (best is None or len(prefix) > best[0]):
                best = (len(prefix), title)
    return best[1] if best else "Other"


def _summary(obj: Any) -> str:
    """The first paragraph of an object's docstring, on one line (inline markup stays whole)."""
    if not (inspect.isclass(obj) or callable(obj)):
        return ""  # data: its type's docstring says nothing about it
    doc = (inspect.getdoc(obj) or "").strip().split("\n\n")[0]
    return " ".join(doc.split()).replace("|", "\\|")


def _page(ref: Reference, modname: str) -> str:
    module = ref.modules[modname]
    title = f"``{modname}``"
    out = [title, "=" * len(title), ""]
    homed = sorted(ref.homed.get(modname, []), key=lambda n: list(vars(module)).index(n)
                   if n in vars(module) else 0)
    out += [f".. automodule:: {modname}", "   :no-members:", ""]
    if modname == PACKAGE:
        out += ["Every name below is an attribute of ``enoslib`` (``import enoslib as en; en.Roles``),",
                "loaded on first use.", ""]
    elsewhere = [n for n in ref.exports.get(modname, []) if ref.home.get(f"{modname}.{n}") != f"{modname}.{n}"
                 and not inspect.ismodule(getattr(module, n))]
    if elsewhere:
        out += [".. list-table::" if modname == PACKAGE else ".. list-table:: Also available here",
                "   :widths: 30 70", ""]
        for n in elsewhere:
            target = ref.home[f"{modname}.{n}"]
            out += [f"   * - :py:obj:`{n} <{target}>`", f"     - {_summary(getattr(module, n)) or ' '}"]
        out.append("")
    for n in homed:
        obj = getattr(module, n)
        if inspect.isclass(obj):
            directive = "autoexception" if issubclass(obj, BaseException) else "autoclass"
            out += [f".. {directive}:: {modname}.{n}", "   :members:", "   :show-inheritance:", ""]
        elif callable(obj):
            out += [f".. autofunction:: {modname}.{n}", ""]
        elif (modname, n) in _attribute_docs(modname):
            out += [f".. autodata:: {modname}.{n}", ""]
        else:  # data without a doc comment (autodoc would show its type's docstring)
            out += [f".. py:data:: {n}", f"   :module: {modname}", f"   :type: {type(obj).__name__}", ""]
    return "\n".join(out) + "\n"


def _attribute_docs(modname: str) -> set[tuple[str, str]]:
    """(module, name) of the module-level variables documented with ``#:`` or a string."""
    from sphinx.pycode import ModuleAnalyzer

    try:
        docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
    except Exception:  # no source available
        return set()
    return {(modname, name) for (scope, name) in docs if scope == ""}


def write_pages(ref: Reference, folder: Path) -> list[str]:
    """Write one page per module with something public, and the grouped index; returns pages."""
    folder.mkdir(parents=True, exist_ok=True)
    pages = list(ref.modules)
    wanted = {f"{m}.rst" for m in pages} | {"index.rst"}
    for stale in folder.glob("*.rst"):
        if stale.name not in wanted:
            stale.unlink()
    for modname in pages:
        _write(folder / f"{modname}.rst", _page(ref, modname))
    index = ["API reference", "=============", "",
             "Generated from the code at each build: every public name of ``enoslib`` (the facade and",
             "each module's ``__all__``), documented where it is defined.", ""]
    titles = [g[0] for g in GROUPS] + ["Other"]
    blurbs = {g[0]: g[2] for g in GROUPS}
    for title in titles:
        members = [m for m in pages if _group(m) == title]
        if not members:
            continue
        index += [title, "-" * len(title), "", blurbs.get(title, ""), "", ".. toctree::", "   :maxdepth: 1", ""]
        index += [f"   {m}" for m in members] + [""]
    _write(folder / "index.rst", "\n".join(index) + "\n")
    return pages


def _write(path: Path, text: str) -> None:
    # unchanged pages keep their date: Sphinx rebuilds only what changed
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _missing_reference(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve any public spelling of an object (and its members) to its home entry."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    modname, _, name = target.rpartition(".")
    ref: Reference = app.enoslib_reference  # type: ignore[attr-defined]
    module = ref.modules.get(modname)
    if module is not None and isinstance(getattr(module, name, None), TypeVar):
        return contnode  # a type variable in an annotation: plain text
    home = ref.home
    parts = target.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in home and home[prefix] != prefix:
            new = ".".join([home[prefix], *parts[i:]])
            domain = env.get_domain("py")
            node["reftarget"] = new
            return domain.resolve_xref(env, node.get("refdoc", ""), app.builder, node.get("reftype", "obj"),
                                       new, node, contnode)
    if target in home and node.get("reftype") != "obj":
        # a type alias (data) named in an annotation, which Sphinx looks up as a class
        return env.get_domain("py").resolve_xref(env, node.get("refdoc", ""), app.builder, "obj", target,
                                                 node, contnode)
    return None


def _by_identity(ref: Reference) -> dict[int, str]:
    """id of each documented class, function and module -> its entry."""
    found = {id(module): name for name, module in ref.modules.items()}
    for spelling, home in ref.home.items():
        modname, _, name = spelling.rpartition(".")
        obj = getattr(ref.modules[modname], name)
        if inspect.isclass(obj) or callable(obj):
            found.setdefault(id(obj), home)
    return found


def _qualify(app: Any, doctree: Any) -> None:
    """Point a relative reference (``FaultSettings``, ``faults.FaultInjector`` in the
    annotations and docstrings of a module) at what that name is in the module's own
    namespace, before Sphinx guesses among every object with that name."""
    from sphinx.addnodes import pending_xref

    ref: Reference = app.enoslib_reference  # type: ignore[attr-defined]
    identity = app.enoslib_identity  # type: ignore[attr-defined]
    for node in doctree.findall(pending_xref):
        if node.get("refdomain") != "py":
            continue
        raw = node.get("reftarget", "").lstrip("~")
        target = raw.lstrip(".")
        modname = node.get("py:module") or ""
        if modname not in ref.modules or not target or target.startswith(PACKAGE + "."):
            continue
        # the module's own namespace, then (for ``.name``) its enclosing packages
        scopes = [modname]
        if raw.startswith(".") or node.get("refspecific"):  # Sphinx strips the dot of ``.name``
            parts = modname.split(".")
            scopes += [".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]
        for scope in scopes:
            obj: Any = ref.modules.get(scope)
            for part in target.split("."):
                obj = getattr(obj, part, None)
                if obj is None:
                    break
            if obj is not None and id(obj) in identity:
                node["reftarget"] = identity[id(obj)]
                node["refspecific"] = False
                break


def _builder_inited(app: Any) -> None:
    ref = collect()
    write_pages(ref, Path(app.srcdir) / "api")
    app.enoslib_reference = ref  # type: ignore[attr-defined]  # not on env: it is pickled
    app.enoslib_identity = _by_identity(ref)  # type: ignore[attr-defined]


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", _builder_inited)
    app.connect("missing-reference", _missing_reference)
    app.connect("doctree-read", _qualify)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
