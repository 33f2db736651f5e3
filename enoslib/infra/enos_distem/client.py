"""The only module that imports the ``distem`` client library (lazily)."""

from __future__ import annotations

import time
from typing import Any

from enoslib.errors import EnosMissingExtraError, EnosProviderError

__all__ = ["DistemApi", "not_found", "transient"]


class DistemApi:
    """The coordinator's REST API through ``distem.Distem``; client errors become
    :class:`~enoslib.errors.EnosProviderError` naming the call."""

    def __init__(self, address: str, port: int, *, retries: int = 4, backoff: float = 0.1) -> None:
        try:
            import distem
        except ImportError:
            raise EnosMissingExtraError("distem", "distem", feature="the Distem provider") from None
        self.address, self.port = address, int(port)
        self.retries, self.backoff = retries, backoff
        self.raw = distem.Distem(serveraddr=address, port=int(port))

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.raw, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            for attempt in range(self.retries + 1):
                try:
                    return method(*args, **kwargs)
                except Exception as exc:  # the client raises bare Exception(reason)
                    if attempt < self.retries and transient(exc):
                        time.sleep(min(2.0, self.backoff * 2 ** attempt))
                        continue
                    raise EnosProviderError(f"Distem {name} on {self.address}:{self.port}: "
                                            f"{exc or type(exc).__name__}") from exc
            raise AssertionError("unreachable")

        return call


def transient(exc: BaseException) -> bool:
    """A connection failure, or an error without Distem's reason header (a proxy, a restart):
    worth trying again. Distem's own errors (a reason given) are not."""
    import requests

    return isinstance(exc, requests.ConnectionError) or str(exc) == "Unknown error"


def not_found(exc: BaseException) -> bool:
    """Is this client error Distem's "no such resource"?"""
    return "NotFound" in str(exc)
