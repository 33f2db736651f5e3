"""Sphinx configuration.

Build (what the test suite runs): ``sphinx-build -W -n -b html docs docs/_build/html``,
then open ``docs/_build/html/index.html``. Needs ``pip install 'enoslib[docs]'``.
The API reference (``docs/api/``) is generated from the code by ``_ext/enoslib_apigen.py``.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))  # this checkout's enoslib, not an installed one

import enoslib  # noqa: E402

project = "enoslib"
release = version = enoslib.__version__
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "enoslib_apigen"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "_ext"]
html_theme = "alabaster"
html_title = f"enoslib {release}"
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_inherit_docstrings = True
autodoc_default_options = {"undoc-members": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# -n: every cross-reference to enoslib must resolve. Names outside enoslib (the standard
# library, netaddr, ansible ...) have no inventory here (no network at build time), nor do
# private helpers that appear in annotations.
# python-grid5000's classes, imported for type checkers only
autodoc_type_aliases = {n: f"grid5000.objects.{n}" for n in ("Job", "Node", "Site", "Vlan")}

nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(?!enoslib\b).*"),
    (r"py:.*", r"enoslib(\.\w+)*\._\w+.*"),
]
