"""execo's substitutions in command lines and paths, done in one pass.

- ``{{{host}}}``: the address of the host the command runs on;
- ``{{expression}}``: ``expression`` is evaluated once, in the context (globals and locals) of
  the code that created the action, and must give a sequence; the command for the host at
  index ``i`` gets ``str(sequence[i % len(sequence)])`` (Hosts give their address).

In commands (``quote=True``) every substituted value is shell-quoted, so data never becomes
shell syntax (a plain address or number reads the same quoted or not). A substituted value
is never scanned again: ``{{...}}`` inside a value stays literal.
"""

from __future__ import annotations

import re
import shlex
import sys
from types import FrameType
from typing import Any, Mapping, Sequence

from enoslib.objects import Host

_PATTERN = re.compile(r"\{\{\{host\}\}\}|\{\{(.+?)\}\}", re.S)

Context = tuple[Mapping[str, Any], Mapping[str, Any]]


def get_caller_context(skip_prefix: str = "enoslib.execo") -> Context:
    """(globals, locals) of the first frame outside enoslib.execo: where the user wrote the
    ``{{expression}}``."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith(skip_prefix):
        frame = frame.f_back
    if frame is None:
        return {}, {}
    return frame.f_globals, dict(frame.f_locals)


def _text(value: Any) -> str:
    return value.address if isinstance(value, Host) else str(value)


class Substituter:
    """Evaluates each ``{{expression}}`` once (in ``context``), then substitutes per host."""

    def __init__(self, hosts: Sequence[Host], context: Context | None) -> None:
        self.hosts = list(hosts)
        self.context = context or ({}, {})
        self._values: dict[str, Sequence[Any]] = {}

    def _sequence(self, expression: str) -> Sequence[Any]:
        if expression not in self._values:
            glob, loc = self.context
            try:
                value = eval(expression, dict(glob), dict(loc))  # noqa: S307 - the user's code
            except Exception as exc:
                raise ValueError(f"substitution {{{{{expression}}}}}: {exc!r}") from exc
            indexable = hasattr(value, "__getitem__") and hasattr(value, "__len__")
            if isinstance(value, (str, bytes)) or not indexable:
                try:
                    value = list(value)
                except TypeError:
                    raise ValueError(
                        f"substitution {{{{{expression}}}}} must give a sequence, got "
                        f"{type(value).__name__}"
                    ) from None
            if len(value) == 0:
                raise ValueError(f"substitution {{{{{expression}}}}} gives an empty sequence")
            self._values[expression] = value
        return self._values[expression]

    def __call__(self, string: str, index: int, quote: bool = True) -> str:
        host = self.hosts[index] if self.hosts else None

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression is None:
                if host is None:
                    raise ValueError("{{{host}}} used where there is no host")
                text = host.address
            else:
                seq = self._sequence(expression)
                text = _text(seq[index % len(seq)])
            return shlex.quote(text) if quote else text

        return _PATTERN.sub(replace, string)


def remote_substitute(
    string: str,
    all_hosts: Sequence[Host],
    index: int,
    frame_context: Context | None = None,
    quote: bool = False,
) -> str:
    """``string`` with ``{{{host}}}`` and ``{{expression}}`` substituted for the host at
    ``index`` of ``all_hosts`` (execo's function; ``quote=True`` shell-quotes the values)."""
    if frame_context is None:
        frame_context = get_caller_context()
    return Substituter(all_hosts, frame_context)(string, index, quote=quote)
