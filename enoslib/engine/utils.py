"""Helpers of execo_engine.utils: ``slugify``, ``redirect_outputs``, ``copy_outputs``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import unicodedata

__all__ = ["copy_outputs", "redirect_outputs", "slugify"]


def slugify(value: object, separator: str = "-") -> str:
    """A file-name-safe form of ``value``: ASCII, lower case, runs of other characters replaced
    by ``separator``.

    >>> slugify({"algo": "cubic", "n": 10})
    'algo-cubic-n-10'
    """
    text = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", separator, text.lower()).strip(separator)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass


def redirect_outputs(stdout_filename: str, stderr_filename: str) -> None:
    """Send this process's stdout / stderr (file descriptors 1 and 2, children included) to
    files (appended; the same name for both merges them)."""
    _flush()
    out = os.open(stdout_filename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    err = out if stderr_filename == stdout_filename else os.open(
        stderr_filename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(out, 1)
    os.dup2(err, 2)
    for fd in {out, err}:
        os.close(fd)


def _tee(fileno: int, filename: str) -> None:
    tee = shutil.which("tee")
    if tee is None:
        raise FileNotFoundError("copy_outputs needs the tee command (coreutils)")
    original = os.dup(fileno)
    proc = subprocess.Popen([tee, "-a", filename], stdin=subprocess.PIPE, stdout=original,
                            start_new_session=True)  # Ctrl-C must not kill the copy before us
    os.close(original)
    assert proc.stdin is not None
    os.dup2(proc.stdin.fileno(), fileno)
    proc.stdin.close()


def copy_outputs(stdout_filename: str, stderr_filename: str) -> None:
    """Copy this process's stdout / stderr to files while still writing them to the terminal
    (a ``tee`` per stream; the same name for both merges them)."""
    _flush()
    _tee(1, stdout_filename)
    _tee(2, stderr_filename)
