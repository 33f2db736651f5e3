"""Documentation build: time of a full and of an incremental ``sphinx-build -W -n``, pages built.

Run: ``.venv/bin/python benchmarks/docs_bench.py`` (needs ``pip install 'enoslib[docs]'``).
The HTML goes to a temporary folder, not to docs/_build.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(out: Path, fresh: bool) -> float:
    args = [sys.executable, "-m", "sphinx", "-W", "-n", "-q", "-b", "html", str(ROOT / "docs"), str(out / "html"),
            "-d", str(out / "doctrees")] + (["-E"] if fresh else [])
    started = time.perf_counter()
    subprocess.run(args, check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        full = build(out, fresh=True)
        again = build(out, fresh=False)
        pages = [p for p in (out / "html").rglob("*.html") if not p.relative_to(out / "html").parts[0].startswith("_")]
        api = [p for p in pages if p.parent.name == "api"]
    print("| build | seconds |")
    print("|---|---|")
    print(f"| full (`-E`) | {full:.1f} |")
    print(f"| incremental, nothing changed | {again:.1f} |")
    print(f"\n{len(pages)} HTML pages, {len(api)} of them in the API reference")


if __name__ == "__main__":
    main()
