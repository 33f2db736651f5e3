"""The API reference covers every public name, and every public class and function says what it does.

Public names come from the code, never from a list kept here: the ``enoslib`` facade's lazy
table and each public module's ``__all__`` (or, without one, the classes and functions it
defines whose names do not start with ``_``). A module added anywhere is checked as soon as it
exists.
"""

from __future__ import annotations

import inspect

import enoslib_apigen

HTML_PAGES_MIN = 20


def _documentable(obj: object) -> bool:
    return inspect.isclass(obj) or inspect.isroutine(obj) or hasattr(obj, "__wrapped__")


def _own_doc(obj: object) -> str:
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__") or ""
        # a dataclass without a docstring gets its signature as __doc__
        return "" if doc.startswith(f"{obj.__name__}(") else doc.strip()
    return (getattr(obj, "__doc__", None) or "").strip()


def test_every_public_class_and_function_has_a_docstring():
    ref = enoslib_apigen.collect()
    missing = set()
    for module, name in ref.public_names():
        obj = getattr(ref.modules[module], name)
        if _documentable(obj) and not inspect.ismodule(obj) and not _own_doc(obj):
            missing.add(ref.home.get(f"{module}.{name}", f"{module}.{name}"))
    assert not missing, "public names without a docstring:\n  " + "\n  ".join(sorted(missing))


def test_every_public_name_has_a_reference_entry(built_site, capsys):
    from sphinx.util.inventory import InventoryFile

    with open(built_site / "objects.inv", "rb") as f:
        inventory = InventoryFile.load(f, "", lambda base, uri: uri)
    entries = {name for kind, items in inventory.items() if kind.startswith("py:") for name in items}
    ref = enoslib_apigen.collect()
    # the objects behind the entries, so that any public spelling of an object counts
    documented_ids = set()
    for entry in entries:
        modname, _, name = entry.rpartition(".")
        module = ref.modules.get(modname)
        if module is not None and hasattr(module, name):
            documented_ids.add(id(getattr(module, name)))
    names = ref.public_names()
    missing = [f"{m}.{n}" for m, n in names
               if f"{m}.{n}" not in entries and id(getattr(ref.modules[m], n)) not in documented_ids]
    modules_missing = [m for m in ref.modules if m not in inventory.get("py:module", {})]
    assert not modules_missing, f"modules without a reference page: {modules_missing}"
    assert not missing, "public names without a reference entry:\n  " + "\n  ".join(missing)
    with capsys.disabled():
        print(f"\nreference: {len(names) - len(missing)}/{len(names)} public names "
              f"({len(ref.modules)} modules) have an entry")


def test_the_site_is_browsable(built_site, capsys):
    pages = sorted(p.relative_to(built_site) for p in built_site.rglob("*.html")
                   if not p.relative_to(built_site).parts[0].startswith("_"))
    assert len(pages) >= HTML_PAGES_MIN
    index = (built_site / "index.html").read_text()
    assert 'href="api/index.html"' in index and "changelog.html" in index
    api = (built_site / "api" / "index.html").read_text()
    for group in ("Providers and configurations", "Remote execution and Ansible", "Emulators"):
        assert group in api
    # the facade page links every name of `import enoslib as en` to its entry
    facade = (built_site / "api" / "enoslib.html").read_text()
    assert 'href="enoslib.task.html#enoslib.task.enostask"' in facade
    assert 'href="enoslib.objects.roles.html#enoslib.objects.roles.Roles"' in facade
    with capsys.disabled():
        print(f"\nsite: {len(pages)} HTML pages in {built_site}")
