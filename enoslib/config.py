"""Global settings and logging.

>>> import enoslib as en
>>> en.set_config(ansible_forks=50)
>>> with en.config_context(ansible_stdout="noop"):
...     ...  # every setting is restored on exit, None values included
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any, Iterator

_DEFAULTS: dict[str, Any] = {
    # where per-run state lives (ssh control sockets, caches, reservations); never the cwd
    # (ENOSLIB_CACHE_DIR, when set, wins: the test suite gives each run its own)
    "cache_dir": os.environ.get("ENOSLIB_CACHE_DIR")
    or str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "enoslib"),
    # reuse one SSH connection per host for this long after the last use
    "ssh_control_persist": "600s",
    # how long a host's module agent daemon waits for the next process once idle (None: as
    # ssh_control_persist; 0: no daemon, one agent per process), see enoslib.api.agents
    "agent_persist": None,
    # None: size forks to the number of hosts
    "ansible_forks": None,
    # how ansible-core runs a task on a host (run_ansible, run_play, plays through it):
    # "threads" (a thread per task and host, modules on enoslib's agents) | "processes"
    # (ansible-core's forked workers and its ssh connection plugin)
    "ansible_workers": "threads",
    # "spinner" | "noop" | "console": how Ansible progress is shown
    "ansible_stdout": "noop",
    "ssh_connect_timeout": 10,
    # default command timeout in seconds (None: no timeout)
    "command_timeout": None,
    # show rich progress bars while waiting for testbeds ("rich"; "noop"/"html": none)
    "display": "rich",
    # the python interpreter Ansible uses on hosts (None: auto)
    "ansible_python_interpreter": None,
    # optional path to a user's ssh_config to honour (None: ~/.ssh/config as ssh does)
    "ssh_config_file": None,
    # StrictHostKeyChecking for every enoslib ssh connection ("no" also skips known_hosts);
    # None: per host (providers mark reinstalled nodes with ansible_host_key_checking=False),
    # other hosts checked by ssh against the user's known_hosts
    "ssh_strict_host_key_checking": None,
    # Grid'5000 API patience (seconds): per request (connect, read), per call with its retries,
    # and how long destroy keeps trying to delete jobs before recording what is left
    "g5k_connect_timeout": 10,
    "g5k_read_timeout": 30,
    "g5k_api_deadline": 120,
    "g5k_release_deadline": 600,
    # first and longest sleep between two tries of a failed Grid'5000 API request
    "g5k_backoff": 1.0,
    "g5k_max_backoff": 30.0,
}

_config: dict[str, Any] = dict(_DEFAULTS)


def get_config() -> dict[str, Any]:
    """A copy of the current settings."""
    return dict(_config)


def _check(kwargs: dict[str, Any]) -> None:
    from enoslib.errors import EnosConfigError

    unknown = sorted(set(kwargs) - set(_DEFAULTS))
    if unknown:
        raise EnosConfigError(
            f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(_DEFAULTS))}",
            path="$." + unknown[0],
            rule="additionalProperties",
        )
    # values whose mistakes would only show later, deep in a run (a play, a reservation)
    for key, value in kwargs.items():
        why = _CHECKS[key](value)
        if why:
            raise EnosConfigError(f"{key}: {why}", path="$." + key, rule="format")


def _number(value: Any, minimum: float, optional: bool = False, integer: bool = False) -> str | None:
    """Why ``value`` is not a number >= ``minimum`` (a whole one with ``integer``; None
    allowed with ``optional``), or None when it is."""
    if value is None and optional:
        return None
    wanted = ("a whole number" if integer else "a number") + f" >= {minimum:g}"
    if optional:
        wanted += " or None"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return f"expected {wanted}, got {value!r}"
    if value < minimum or (integer and value != int(value)):
        return f"expected {wanted}, got {value!r}"
    return None


def _choice(*allowed: Any) -> Any:
    def check(value: Any) -> str | None:
        if any(value is a if a is None else (type(value) is type(a) and value == a) for a in allowed):
            return None
        return f"expected one of {', '.join(map(repr, allowed))}, got {value!r}"

    return check


def _path(optional: bool) -> Any:
    def check(value: Any) -> str | None:
        if value is None and optional:
            return None
        if isinstance(value, os.PathLike) or (isinstance(value, str) and value.strip()):
            return None
        return f"expected a path{' or None' if optional else ''}, got {value!r}"

    return check


def _duration(setting: str, optional: bool) -> Any:
    def check(value: Any) -> str | None:
        if not (value is None and optional):
            duration_seconds(value, setting)  # raises, naming the setting
        return None

    return check


def _interpreter(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value.strip()):
        return None
    return f"expected a path to a python on the hosts, or None (auto), got {value!r}"


# one check per setting: a wrong value is refused by set_config / config_context, naming it
_CHECKS: dict[str, Any] = {
    "cache_dir": _path(optional=False),
    "ssh_control_persist": _duration("ssh_control_persist", optional=False),
    "agent_persist": _duration("agent_persist", optional=True),
    "ansible_forks": lambda v: _number(v, 1, optional=True, integer=True),
    "ansible_workers": _choice("threads", "processes"),
    "ansible_stdout": _choice("spinner", "noop", "console"),
    "ssh_connect_timeout": lambda v: _number(v, 1, integer=True),
    "command_timeout": lambda v: _number(v, 0, optional=True),
    # "html" (EnOSlib's display for notebooks) shows no progress bars here, as "noop"
    "display": _choice("rich", "html", "noop"),
    "ansible_python_interpreter": _interpreter,
    "ssh_config_file": _path(optional=True),
    # ssh's own values (a bool would reach ssh as "True")
    "ssh_strict_host_key_checking": _choice(None, "yes", "no", "accept-new", "ask", "off"),
    "g5k_connect_timeout": lambda v: _number(v, 0.001),
    "g5k_read_timeout": lambda v: _number(v, 0.001),
    "g5k_api_deadline": lambda v: _number(v, 0),
    "g5k_release_deadline": lambda v: _number(v, 0),
    "g5k_backoff": lambda v: _number(v, 0),
    "g5k_max_backoff": lambda v: _number(v, 0),
}


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration_seconds(value: Any, setting: str = "agent_persist") -> float:
    """Seconds of a duration in ssh's ``ControlPersist`` syntax (``600``, ``"600s"``,
    ``"10m"``, ``"1h30m"``; ``"yes"``/True: forever, 10**9; ``0``/``"no"``/False: 0); a
    value that is none of these raises EnosConfigError naming ``$.<setting>``."""
    from enoslib.errors import EnosConfigError

    def bad(why: str) -> EnosConfigError:
        return EnosConfigError(f"{setting}: {why}", path="$." + setting, rule="format")

    if isinstance(value, bool):
        return 10.0**9 if value else 0.0
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        if text in ("yes", "true"):
            return 10.0**9
        if text in ("no", "false", ""):
            return 0.0
        seconds, number = 0.0, ""
        for ch in text:
            if ch.isdigit() or ch == ".":
                number += ch
            elif ch in _UNITS and number:
                seconds += float(number) * _UNITS[ch]
                number = ""
            else:
                raise bad(f"cannot read {value!r} as a duration (e.g. '10m')")
        try:
            seconds += float(number or 0)
        except ValueError:
            raise bad(f"cannot read {value!r} as a duration (e.g. '10m')") from None
    if not seconds >= 0:
        raise bad(f"negative duration {value!r}")
    return seconds


def set_config(**kwargs: Any) -> None:
    """Change settings for the rest of the process."""
    _check(kwargs)
    _config.update(kwargs)


@contextlib.contextmanager
def config_context(**kwargs: Any) -> Iterator[dict[str, Any]]:
    """Change settings inside a ``with`` block; every previous value is restored on exit."""
    _check(kwargs)
    saved = dict(_config)
    _config.update(kwargs)
    try:
        yield get_config()
    finally:
        _config.clear()
        _config.update(saved)


def cache_dir(*parts: str) -> Path:
    """A directory under the configured cache dir, created on first use (mode 0700)."""
    path = Path(_config["cache_dir"]).expanduser().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def cache_store(path: Path, value: Any) -> None:
    """Write ``value`` as JSON to the cache file ``path`` at once (processes reading it see
    the old or the new content); a cache that cannot be written is only logged (DEBUG)."""
    import json

    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(value))
        tmp.replace(path)
    except OSError as exc:
        logging.getLogger("enoslib.config").debug("%s not cached: %s", path.name, exc)


def init_logging(level: int | str = logging.INFO, *, rich: bool = True) -> logging.Logger:
    """Log enoslib's messages to the terminal (with rich when available).

    Each module logs under ``enoslib.<module>``, so ``logging.getLogger("enoslib.api")`` can
    be tuned on its own.
    """
    logger = logging.getLogger("enoslib")
    logger.setLevel(level)
    for handler in list(logger.handlers):
        if getattr(handler, "_enoslib", False):
            logger.removeHandler(handler)
    handler: logging.Handler
    if rich:
        from rich.logging import RichHandler

        handler = RichHandler(show_path=False, rich_tracebacks=True)
        handler.setFormatter(logging.Formatter("%(message)s", datefmt="[%X]"))
    else:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._enoslib = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    return logger
