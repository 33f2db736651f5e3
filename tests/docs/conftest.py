"""The documentation site, built once per test session the way CI and users build it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
HTML = DOCS / "_build" / "html"  # what a user opens: docs/_build/html/index.html

sys.path.insert(0, str(DOCS / "_ext"))


@pytest.fixture(scope="session")
def built_site() -> Path:
    """``sphinx-build -W -n`` (warnings, broken references included, are errors) from scratch."""
    out = subprocess.run(
        [sys.executable, "-m", "sphinx", "-E", "-W", "-n", "--keep-going", "-q", "-b", "html", str(DOCS), str(HTML),
         "-d", str(DOCS / "_build" / "doctrees")],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, f"sphinx-build failed:\n{out.stderr[-6000:]}"
    return HTML
