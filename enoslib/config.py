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
    # "noop" | "spinner": Ansible's console output goes to enoslib's logger; any other string
    # ("console", EnOSlib's callback names ...): Ansible's own stdout callback prints it
    "ansible_stdout": "noop",
    "ssh_connect_timeout": 10,
    # default command timeout in seconds (None: no timeout)
    "command_timeout": None,
    # show rich progress bars while waiting for testbeds ("rich"; any other string, such as
    # EnOSlib's "html" or "noop": none)
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
    # reach Grid'5000 nodes through its access host: None auto (from outside Grid'5000 only),
    # True always, False never (a VPN); a configuration's ssh_jump "always"/"never" wins
    "g5k_auto_jump": None,
    # the on-disk cache of Grid'5000's reference API: "lru" (or True) on, False/None off
    "g5k_cache": "lru",
    # a file each api call appends its results to, as JSON (None: none); see set_config
    "dump_results": None,
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


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return None
    return f"expected a non-empty string, got {value!r}"


def _dump_file(value: Any) -> str | None:
    if value is None:
        return None
    why = _path(optional=True)(value)
    if why:
        return why
    folder = Path(value).expanduser().parent
    if not folder.is_dir():
        return f"the folder of {str(value)!r} does not exist ({folder})"
    if Path(value).expanduser().is_dir():
        return f"{str(value)!r} is a folder, not a file"
    return None


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
    # any string, as in EnOSlib: "spinner" and "noop" are ours, others Ansible's own output
    "ansible_stdout": _text,
    "ssh_connect_timeout": lambda v: _number(v, 1, integer=True),
    "command_timeout": lambda v: _number(v, 0, optional=True),
    # any string, as in EnOSlib (which only tells "html" from the rest): "rich" shows
    # progress bars, others none
    "display": _text,
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
    "g5k_auto_jump": _choice(None, True, False),
    # EnOSlib's values ("diskcache" was its on-disk cache before 8.0)
    "g5k_cache": _choice("lru", "diskcache", True, False, None),
    "dump_results": _dump_file,
}


def ansible_console() -> bool:
    """Whether Ansible's own stdout callback prints a play's progress (``ansible_stdout``
    other than ``"noop"`` and ``"spinner"``), rather than enoslib's logger."""
    return _config.get("ansible_stdout") not in ("noop", "spinner")


def _free_dump_file(value: Any) -> Path:
    """EnOSlib's rule: ``path`` when no such file exists, else the first of ``path.1``,
    ``path.2`` ... that does not: a run never appends to a former run's file."""
    wanted = Path(value).expanduser()
    candidate, n = wanted, 0
    while candidate.exists():
        n += 1
        candidate = wanted.with_name(f"{wanted.name}.{n}")
    return candidate


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


def _settle(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The checked values as stored (``dump_results``: the file the results go to)."""
    _check(kwargs)
    values = dict(kwargs)
    if values.get("dump_results") is not None:
        values["dump_results"] = _free_dump_file(values["dump_results"])
    return values


def set_config(**kwargs: Any) -> None:
    """Change settings for the rest of the process.

    Each keyword is a setting; a name that is not one, or a wrong value, raises
    :class:`~enoslib.errors.EnosConfigError` naming it (``$.<setting>``) and changes nothing.
    ``None`` sets a setting to None (EnOSlib skips None values; here None means the
    setting's "none"/"auto"). The settings, with their defaults:

    * ``cache_dir`` (``$ENOSLIB_CACHE_DIR`` or ``~/.cache/enoslib``): per-run state (ssh
      control sockets, the Grid'5000 reference cache, reservation records).
    * ``ssh_control_persist`` (``"600s"``): how long an idle SSH connection is kept (ssh's
      ``ControlPersist`` syntax); ``agent_persist`` (None: as ``ssh_control_persist``; 0: no
      daemon): how long a host's module agent waits idle.
    * ``ansible_forks`` (None: one per host): Ansible's parallelism (EnOSlib: 5).
    * ``ansible_workers`` (``"threads"``): ``"threads"`` or ``"processes"`` (ansible-core's
      forked workers and ssh plugin) for plays ansible-core runs.
    * ``ansible_stdout`` (``"noop"``; EnOSlib: ``"spinner"``): Ansible's stdout callback.
      ``"noop"`` and ``"spinner"`` send Ansible's console output to enoslib's logger (DEBUG;
      warnings and errors at INFO); any other string (``"console"``, or any value EnOSlib
      passed over to let ``ansible.cfg`` govern) lets Ansible print: its warnings, and on
      plays ansible-core runs its stdout callback (the one ``ansible.cfg`` names, else
      ``default``: ``TASK [...]``, ``ok: [host]`` ...; the fast paths print nothing). Not a
      string: refused.
    * ``display`` (``"rich"``; EnOSlib: ``"html"``, its notebook rendering): ``"rich"`` shows
      progress bars while waiting for testbeds; any other string (``"html"``, ``"noop"``,
      ``"text"`` ...) shows none. Not a string: refused.
    * ``ssh_connect_timeout`` (10 s), ``command_timeout`` (None: no timeout, seconds),
      ``ansible_python_interpreter`` (None: auto), ``ssh_config_file`` (None:
      ``~/.ssh/config``), ``ssh_strict_host_key_checking`` (None: per host; else ssh's value).
    * ``g5k_connect_timeout``, ``g5k_read_timeout``, ``g5k_api_deadline``,
      ``g5k_release_deadline``, ``g5k_backoff``, ``g5k_max_backoff``: Grid'5000 API patience
      (seconds).
    * ``g5k_auto_jump`` (None), EnOSlib's: None reaches Grid'5000 nodes through the access host
      only from outside Grid'5000; True always (e.g. from a frontend, to test the way users
      outside go); False never (a VPN to Grid'5000). It applies wherever a configuration
      says ``ssh_jump: auto`` (the default of G5k, VMonG5k through G5k, Distem); an explicit
      ``ssh_jump: always`` or ``never`` wins over it. Also for hosts built from G5k objects
      (``G5kHost.to_enoslib``), tunnels with the default gateway and kadeploy's checks.
    * ``g5k_cache`` (``"lru"``), EnOSlib's switch for its cache of Grid'5000 API reads: here the
      on-disk cache of the reference API (``<cache_dir>/g5k/reference``). ``"lru"``,
      ``"diskcache"`` or True: on; False or None: off, every process reads the reference
      from the API again and nothing is written there (EnOSlib's reason: concurrent access
      to a cache on NFS); one process still keeps what it read. Other values: refused.
    * ``dump_results`` (None), EnOSlib's: a file where each api call that runs something on
      hosts (``run_command``, ``run``, ``run_play``, ``run_ansible``, ``actions``,
      ``gather_facts``, ``ensure_python``, ``run_scripts``, ``put``/``get``/``broadcast``)
      appends its results, when it returns them, as one JSON list (``Results.to_dict()``:
      host, task, status, stdout, stderr, rc, changed, payload, duration) per line; a call
      made inside another writes nothing of its own. When the file exists, ``path.1``,
      ``path.2`` ... is used instead (EnOSlib's rule, applied here and by ``config_context``):
      ``get_config()["dump_results"]`` is the file chosen. Created mode 0600; results of
      ``no_log`` tasks are written censored. Its folder must exist.
    """
    _config.update(_settle(kwargs))


@contextlib.contextmanager
def config_context(**kwargs: Any) -> Iterator[dict[str, Any]]:
    """Change settings inside a ``with`` block; every previous value is restored on exit.
    Settings and values as for :func:`set_config`."""
    values = _settle(kwargs)
    saved = dict(_config)
    _config.update(values)
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
    import threading

    # one temporary file per writer: hosts' threads of one process may store the same file
    tmp = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
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
