"""The one error hierarchy of enoslib.

Every error carries a human-readable message: ``str(error)`` is never empty, so a
traceback or a notebook cell always says what went wrong and where.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable


class EnosError(Exception):
    """Base class of every error raised by enoslib."""

    default_message = "enoslib error"

    def __init__(self, message: str | None = None, *args: Any) -> None:
        message = message if message else self.default_message
        super().__init__(message, *args)
        self.message = message

    def __str__(self) -> str:
        return self.message


class EnosConfigError(EnosError, ValueError):
    """A configuration does not follow its provider's schema.

    ``path`` is the JSON path of the offending value (``$.resources.machines[0].nodes``),
    ``rule`` the schema keyword that failed (``type``, ``minimum``, ``required`` ...).
    """

    default_message = "invalid configuration"

    def __init__(
        self,
        message: str | None = None,
        *,
        path: str = "$",
        rule: str | None = None,
        errors: Iterable[tuple[str, str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.path = path
        self.rule = rule
        # every (path, rule, message) found, the first one being ``path``/``rule``
        self.errors = list(errors)

    def __new__(cls, *args: Any, **kwargs: Any) -> "EnosConfigError":
        # EnOSlib users catch configuration errors as jsonschema's ValidationError: the error
        # actually built is also one, from a class made on first use (jsonschema stays out of
        # ``import enoslib``).
        if cls is EnosConfigError:
            cls = _schema_config_error_class()
        return super().__new__(cls)

    def __reduce__(self) -> Any:
        return (_rebuild_config_error, (self.message, self.path, self.rule, self.errors))


class NegativeWalltime(EnosConfigError):
    """``offset_walltime`` would make the walltime zero or negative (``$.walltime``, rule
    ``minimum``): an :class:`EnosConfigError` too, so one ``except`` catches both."""

    default_message = "the walltime would be negative"

    def __init__(self, message: str | None = None, *, path: str = "$.walltime", rule: str | None = "minimum",
                 errors: Iterable[tuple[str, str, str]] = ()) -> None:
        super().__init__(message, path=path, rule=rule, errors=errors)


class EnosMissingExtraError(EnosError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    default_message = "an optional dependency is missing"

    def __init__(self, module: str, extra: str, feature: str | None = None) -> None:
        what = feature or module
        super().__init__(
            f"{what} needs the Python module '{module}', which is not installed: "
            f"pip install 'enoslib[{extra}]'"
        )
        self.module = module
        self.extra = extra
        self.name = module


class EnosProviderError(EnosError):
    """A provider could not reserve, reload or release its resources."""

    default_message = "provider error"


class EnosReservationError(EnosProviderError):
    """The testbed refused a reservation (no resources at that time, quota, ...)."""

    default_message = "reservation refused"


class InvalidReservationTime(EnosReservationError):
    """The reservation cannot start at the requested time.

    ``next_time`` (epoch) and ``datetime`` (aware, UTC unless given otherwise) are the testbed's
    hint for the next possible start, or None. As in EnOSlib, the error may be built from that
    datetime alone: ``InvalidReservationTime(datetime(...))``.
    """

    default_message = "the reservation cannot start at the requested time"

    def __init__(self, message: "str | datetime | None" = None, next_time: float | None = None) -> None:
        hint: datetime | None = None
        if isinstance(message, datetime):
            hint, message = message, None
            if next_time is None:
                # a naive datetime is read as UTC, like every time the testbeds give
                aware = hint if hint.tzinfo else hint.replace(tzinfo=timezone.utc)
                next_time = aware.timestamp()
        elif next_time is not None:
            hint = datetime.fromtimestamp(next_time, timezone.utc)
        if not message and hint is not None:
            message = f"{self.default_message}; next possible start: {hint.isoformat(sep=' ')}"
        super().__init__(message)
        self.next_time = next_time
        self.datetime = hint


class InvalidReservationTooOld(EnosReservationError):
    """The requested reservation start is in the past."""

    default_message = "the requested reservation date is in the past"


class InvalidReservationCritical(EnosReservationError):
    """The testbed failed the reservation for a reason retrying will not fix."""

    default_message = "the reservation failed"

    def __init__(self, msg: str | None = None) -> None:
        super().__init__(msg)
        self.msg = self.message




class MissingNetworkError(EnosProviderError):
    """A network the configuration asks for was not given by the testbed (``site``: where,
    ``n_type``: which kind, e.g. ``kavlan``)."""

    default_message = "a network is missing"

    def __init__(self, site: str | None = None, n_type: str | None = None, message: str | None = None) -> None:
        if not message and (site or n_type):
            message = f"{self.default_message}: no {n_type or 'network'} on {site or 'the testbed'}"
        super().__init__(message)
        self.site = site
        self.n_type = n_type


class EnosFilePathError(EnosError, OSError):
    """A file the user named does not exist or cannot be used (``filepath``)."""

    default_message = "invalid file path"

    def __init__(self, filepath: str | None = None, msg: str = "") -> None:
        if filepath is None:
            message = msg or None
        else:
            message = f"{filepath}: {msg}" if msg else f"{self.default_message}: {filepath}"
        super().__init__(message)
        self.filepath = filepath
        self.msg = msg


class NoSlotError(EnosReservationError):
    """No common slot fits every provider in the search window.

    ``blocking``: names of the providers/resources that prevent a common start.
    ``next_possible``: the earliest common start after the window (epoch), when known.
    """

    default_message = "no common slot"

    def __init__(self, message: str | None = None, *, blocking: Iterable[str] = (),
                 next_possible: float | None = None) -> None:
        self.blocking: tuple[str, ...] = tuple(blocking)
        self.next_possible = next_possible
        if not message:
            message = self.default_message
            if self.blocking:
                message += f"; blocked by {', '.join(repr(name) for name in self.blocking)}"
            if next_possible is not None:
                from datetime import datetime, timezone

                when = datetime.fromtimestamp(next_possible, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                message += f"; next possible start: {when}"
        super().__init__(message)

    def __reduce__(self) -> Any:
        return (_rebuild_no_slot, (self.message, self.blocking, self.next_possible))


class EnosSSHNotReady(EnosError):
    """Hosts did not accept SSH connections in time."""

    default_message = "hosts are not reachable over SSH"


class EnosHostsError(EnosError):
    """Some hosts failed a remote operation; ``results`` holds every host's result."""

    default_message = "remote operation failed"

    def __init__(self, message: str | None = None, hosts: Iterable[Any] = (), results: Any = None):
        self.hosts = list(hosts)
        self.results = results
        if not message:
            names = ", ".join(str(getattr(h, "alias", h)) for h in self.hosts[:10])
            more = f" (+{len(self.hosts) - 10} more)" if len(self.hosts) > 10 else ""
            message = f"{self.default_message} on {len(self.hosts)} host(s): {names}{more}"
        super().__init__(message)


class EnosFailedHostsError(EnosHostsError):
    """A command or task failed on some hosts."""

    default_message = "failed"


class EnosUnreachableHostsError(EnosHostsError):
    """Some hosts could not be reached."""

    default_message = "unreachable"


class EnosTimeoutError(EnosError, TimeoutError):
    """An operation did not finish in the allotted time."""

    default_message = "operation timed out"


def _rebuild_config_error(message: str, path: str, rule: str | None,
                          errors: list[tuple[str, str, str]]) -> "EnosConfigError":
    return EnosConfigError(message, path=path, rule=rule, errors=errors)


_SCHEMA_CONFIG_ERROR: list[type] = []


def _schema_config_error_class() -> type:
    """``EnosConfigError`` that is also a ``jsonschema.exceptions.ValidationError`` (built once).

    Its ``path`` stays our JSON path string; jsonschema's views of it are ``relative_path`` /
    ``absolute_path`` (deques) and ``json_path``; ``validator`` is the rule.
    """
    if _SCHEMA_CONFIG_ERROR:
        return _SCHEMA_CONFIG_ERROR[0]
    try:
        from jsonschema.exceptions import ValidationError
    except ImportError:  # pragma: no cover - jsonschema is a core dependency
        _SCHEMA_CONFIG_ERROR.append(EnosConfigError)
        return EnosConfigError

    def __init__(self: Any, message: str | None = None, *, path: str = "$", rule: str | None = None,
                 errors: Iterable[tuple[str, str, str]] = ()) -> None:
        ValidationError.__init__(self, message or EnosConfigError.default_message,
                                 validator=rule or "config", path=_json_path_parts(path))
        EnosConfigError.__init__(self, message, path=path, rule=rule, errors=errors)
        self.args = (self.message,)

    cls = type("EnosConfigError", (EnosConfigError, ValidationError),
               {"__init__": __init__, "__module__": __name__, "__doc__": EnosConfigError.__doc__})
    _SCHEMA_CONFIG_ERROR.append(cls)
    return cls


def _json_path_parts(path: str) -> list[str | int]:
    """``$.resources.machines[0].nodes`` -> ``["resources", "machines", 0, "nodes"]``."""
    import re

    return [int(index) if index else key
            for key, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path)]


def _rebuild_no_slot(message: str, blocking: tuple[str, ...], next_possible: float | None) -> "NoSlotError":
    return NoSlotError(message, blocking=blocking, next_possible=next_possible)


__all__ = [name for name in dir() if name.startswith(("Enos", "Invalid", "NoSlot", "Negative", "Missing"))]
