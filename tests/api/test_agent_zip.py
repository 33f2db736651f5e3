"""The agent's zip writer (enoslib.api._agent._stored_zip): what it writes is what zipfile
reads, and Python imports from it. The agent's file is loaded as a module (importing it runs
nothing)."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any

AGENT = Path(__file__).resolve().parents[2] / "enoslib" / "api" / "_agent.py"


def _agent() -> Any:
    spec = importlib.util.spec_from_file_location("enoslib_agent_under_test", AGENT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_stored_zip_reads_back_and_imports(tmp_path: Path) -> None:
    agent = _agent()
    when = (2026, 12, 6, 18, 30, 58)
    files = [("pkg/__init__.py", b""), ("pkg/mod.py", b"VALUE = 'stored'\n"),
             ("data/h\u00e9llo.txt", "d\u00e9j\u00e0".encode()), ("empty", b"")]
    entries = [(name, when, data, zlib.crc32(data)) for name, data in files]
    archive = tmp_path / "lib.zip"
    archive.write_bytes(agent._stored_zip(entries))
    with zipfile.ZipFile(archive) as z:
        assert z.testzip() is None  # every CRC right
        assert [(i.filename, i.date_time, i.compress_type) for i in z.infolist()] == \
            [(name, when, zipfile.ZIP_STORED) for name, _ in files]
        assert [z.read(name) for name, _ in files] == [data for _, data in files]
    # what zipfile itself writes for the same entries, byte for byte
    assert archive.read_bytes() == agent._zipfile_zip(entries)
    sys.path.insert(0, str(archive))
    try:
        spec = importlib.util.find_spec("pkg.mod")
        assert spec is not None and spec.origin == str(archive / "pkg" / "mod.py")
        module = importlib.util.module_from_spec(spec)
        assert spec.loader is not None
        spec.loader.exec_module(module)
        assert module.VALUE == "stored"
    finally:
        sys.path.remove(str(archive))
        sys.modules.pop("pkg", None)
        sys.modules.pop("pkg.mod", None)
