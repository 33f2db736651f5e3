"""Hold Ctrl-C back while releasing resources (stdlib only: used by enoslib.nodes too)."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from typing import Any, Iterator

logger = logging.getLogger("enoslib")


@contextlib.contextmanager
def sigint_deferred(message: str = "releasing resources, please wait (Ctrl-C is deferred)") -> Iterator[None]:
    """Let a teardown finish even if Ctrl-C is pressed again; raise KeyboardInterrupt after.

    A second Ctrl-C in the middle of a release would otherwise leave half the resources
    behind. Only possible in the main thread (Python's signal rule); elsewhere a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def remember(signum: int, frame: Any) -> None:
        received.append(signum)
        logger.warning(message)

    try:
        previous = signal.signal(signal.SIGINT, remember)
    except ValueError:  # not the main interpreter
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt
