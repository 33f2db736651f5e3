"""Sphinx configuration: ``pip install 'enoslib[docs]' && sphinx-build docs docs/_build``."""

project = "enoslib"
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
html_theme = "alabaster"
autodoc_typehints = "description"
