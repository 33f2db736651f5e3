"""Every code block of the documentation runs in the test suite, so the docs cannot rot.

A page may show code in three ways, and no other:

- a ``pycon`` block (``>>>`` session): run here as a doctest, the page's blocks in order in
  one namespace (``en`` is ``import enoslib as en``), in a scratch directory;
- a ``literalinclude`` of a file of ``examples/`` that a test of the suite runs;
- a ``console`` block of shell commands: ``python examples/X.py`` must name such an example,
  ``enos SUBCOMMAND`` a real subcommand.

``python`` blocks are refused: a snippet nobody runs is a snippet that rots.
Data blocks (``yaml``, ``json``, ``text``, ``ini``, ``toml``) are not code.
"""

from __future__ import annotations

import doctest
import re
import shlex
from pathlib import Path

import pytest

import enoslib

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)
FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?P<info>[^\n]*)\n(?P<body>.*?)^(?P=fence)\s*$", re.M | re.S)
DATA = {"yaml", "json", "text", "ini", "toml", "{note}", "{warning}", "{toctree}"}
SHELL_COMMANDS = {"pip", "enos", "python", "sudo", "bash", "sphinx-build", "curl", "ssh-keygen", "cd", "jupyter"}


def _blocks(page: Path) -> list[tuple[str, str, int]]:
    text = page.read_text()
    return [(m["info"].strip(), m["body"], text.count("\n", 0, m.start()) + 1) for m in FENCE.finditer(text)]


def _tested_examples() -> set[str]:
    """Files of examples/ that a test runs: named in a test, or matched by a glob there."""
    sources = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("*.py"))
    names = {p.name for p in (ROOT / "examples").iterdir()}
    tested = {n for n in names if n in sources}
    for pattern in re.findall(r"""glob\(["']([^"']+)["']\)""", sources):
        tested |= {p.name for p in (ROOT / "examples").glob(pattern)}
    return tested


def test_there_are_pages_and_they_use_allowed_blocks():
    assert len(PAGES) >= 12
    problems = []
    tested = _tested_examples()
    for page in PAGES:
        for info, body, line in _blocks(page):
            where = f"{page.relative_to(ROOT)}:{line}"
            kind = info.split()[0] if info else ""
            if kind in ("python", "py", "python3", "ipython", ""):
                problems.append(f"{where}: a {kind or 'plain'} block (use pycon, or literalinclude an example)")
            elif kind == "{literalinclude}":
                target = (page.parent / info.split(maxsplit=1)[1].strip()).resolve()
                if target.parent != ROOT / "examples" or not target.exists():
                    problems.append(f"{where}: includes {target}, not a file of examples/")
                elif target.name not in tested:
                    problems.append(f"{where}: examples/{target.name} is run by no test")
            elif kind == "console":
                problems += [f"{where}: {p}" for p in _console_problems(body, tested)]
            elif kind not in DATA and kind != "pycon":
                problems.append(f"{where}: unknown block kind {kind!r}")
    assert not problems, "\n".join(problems)


def _console_problems(body: str, tested: set[str]) -> list[str]:
    from enoslib.cli import main

    problems = []
    for line in body.splitlines():
        if not line.startswith("$ "):
            continue
        words = [w for w in shlex.split(line[2:], comments=True) if "=" not in w or w.startswith("-")]
        words = words[1:] if words[:1] == ["sudo"] else words
        if not words or words[0] not in SHELL_COMMANDS:
            problems.append(f"unexpected command {line!r}")
        elif words[0] == "python" and words[1].startswith("examples/"):
            if Path(words[1]).name not in tested:
                problems.append(f"{words[1]} is run by no test")
        elif words[0] == "enos":
            try:
                main([words[1], "--help"])
            except SystemExit as exc:
                if exc.code != 0:
                    problems.append(f"enos has no subcommand {words[1]!r}")
    return problems


@pytest.mark.parametrize("page", [p for p in PAGES if any(i.startswith("pycon") for i, _, _ in _blocks(p))],
                         ids=lambda p: str(p.relative_to(DOCS)))
def test_pycon_blocks_run(page, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    globs = {"en": enoslib}
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE | doctest.IGNORE_EXCEPTION_DETAIL)
    failures = []
    with enoslib.config_context():  # a page may change settings: never for the next tests
        for info, body, line in _blocks(page):
            if not info.startswith("pycon"):
                continue
            test = parser.get_doctest(body, globs, f"{page.name}:{line}", str(page), line)
            result = runner.run(test, out=failures.append, clear_globs=False)
            if result.failed:
                break  # later blocks build on this one
    assert not failures, "".join(failures)
