"""Experiment tasks: steps of an experiment that share a persisted environment.

An experiment is often driven in steps run by separate processes (``python exp.py up``,
``python exp.py bench``, ``python exp.py destroy``). Each step is a function decorated with
:func:`enostask`; it receives an :class:`Environment`, a dict saved in an experiment folder
(``env.json``, human-readable JSON, never pickle) when the step ends, errors included. The next
step reloads it: roles, networks, hosts, providers and configurations come back as objects.

``@enostask(new=True)`` starts a new experiment folder (``enos_<date>`` in the current
directory, with a ``current`` symlink to it); other tasks reuse ``current``, or the folder
given as ``env=`` (``--env DIR`` on the command line). :func:`cli` turns tasks into a command
line.

>>> import tempfile
>>> from pathlib import Path
>>> folder = Path(tempfile.mkdtemp()) / "exp"
>>> @enostask(new=True)
... def up(env=None):
...     env["answer"] = 42
>>> @enostask()
... def show(env=None):
...     return env["answer"]
>>> up(env=folder)
>>> show(env=folder)
42
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from enoslib.objects.serialize import TAG, class_path, from_data, load_class, to_data

__all__ = ["Environment", "enostask", "get_or_create_env", "cli", "ENV_FILE", "CURRENT"]

logger = logging.getLogger(__name__)

ENV_FILE = "env.json"
"""Name of the file holding an environment inside its experiment folder."""

CURRENT = "current"
"""Name of the symlink to the newest experiment folder (what tasks use by default)."""

_FORMAT = "enoslib-env/1"
F = TypeVar("F", bound=Callable[..., Any])


class Environment(MutableMapping[str, Any]):
    """The persisted state of one experiment: a dict kept in ``<env_name>/env.json``.

    Values may be JSON data (str, numbers, bool, None, lists, dicts with string keys),
    :class:`~enoslib.objects.Roles`, :class:`~enoslib.objects.Networks`,
    :class:`~enoslib.objects.Host`, :class:`~enoslib.objects.Network`, :class:`pathlib.Path`,
    a provider (saved as its class, name and configuration: the reloaded provider finds its
    reservation by name, so ``env["provider"].destroy()`` works in another process) or a
    provider configuration. ``env["resultdir"]`` is the experiment folder.

    Args:
        env_name: the experiment folder (created on :meth:`dump`).

    >>> import tempfile
    >>> env = Environment(Path(tempfile.mkdtemp()) / "exp")
    >>> env["seed"] = 7
    >>> env.dump()
    >>> Environment.load(env.env_name)["seed"]
    7
    """

    def __init__(self, env_name: str | os.PathLike[str]) -> None:
        self.env_name = Path(env_name)
        self._store: dict[str, Any] = {"resultdir": self.env_name}

    # -- the mapping ------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self._store[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._store[key] = value

    def __delitem__(self, key: str) -> None:
        del self._store[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._store)

    def __len__(self) -> int:
        return len(self._store)

    def __repr__(self) -> str:
        return f"Environment({str(self.env_name)!r}, keys={sorted(self._store)})"

    @property
    def path(self) -> Path:
        """The file the environment is saved to."""
        return self.env_name / ENV_FILE

    def reset(self) -> None:
        """Forget every value (``resultdir`` is kept)."""
        self._store = {"resultdir": self.env_name}

    # -- on disk ----------------------------------------------------------------------------
    def dump(self) -> None:
        """Write the environment to :attr:`path` (atomically: a crash leaves the previous file).

        Raises:
            TypeError: a value cannot be stored; the message names its key (``$.roles``).
        """
        data = to_data(self._store, _encode)
        self.env_name.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{ENV_FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"format": _FORMAT, "env": data}, indent=2, sort_keys=False) + "\n")
        os.replace(tmp, self.path)

    @classmethod
    def load(cls, env_name: str | os.PathLike[str]) -> "Environment":
        """The environment saved in the folder ``env_name``.

        Raises:
            FileNotFoundError: the folder holds no environment.
            ValueError: the file is not an environment; the message names the file and where.
        """
        env = cls(env_name)
        try:
            raw = json.loads(env.path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"no environment in {env.env_name} (no {ENV_FILE})") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{env.path}: not JSON ({exc})") from None
        if not isinstance(raw, dict) or raw.get("format") != _FORMAT or not isinstance(raw.get("env"), dict):
            raise ValueError(f"{env.path}: not an enoslib environment (expected format {_FORMAT!r})")
        try:
            env._store = from_data(raw["env"], _decode)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{env.path}: {exc}") from None
        env._store["resultdir"] = env.env_name  # the folder may have been moved
        return env


# -- what the objects codec does not know: paths, providers, configurations -----------------------
def _encode(value: Any) -> dict[str, Any] | None:
    from enoslib.infra.configuration import BaseConfiguration
    from enoslib.infra.provider import Provider

    if isinstance(value, Path):
        return {TAG: "Path", "path": str(value)}
    if isinstance(value, Provider):
        return {TAG: "Provider", "class": class_path(type(value)), "name": value.name,
                "conf": value.provider_conf.to_dict()}
    if isinstance(value, BaseConfiguration):
        return {TAG: "Configuration", "class": class_path(type(value)), "conf": value.to_dict()}
    return None


def _decode(d: dict[str, Any], where: str) -> Any:
    from enoslib.infra.configuration import BaseConfiguration
    from enoslib.infra.provider import Provider

    tag = d[TAG]
    if tag == "Path":
        return Path(d["path"])
    if tag == "Configuration":
        return load_class(d["class"], BaseConfiguration, where).from_dictionary(d["conf"])
    if tag == "Provider":
        cls = load_class(d["class"], Provider, where)
        return cls(cls.configuration_class.from_dictionary(d["conf"]), name=d.get("name"))
    raise ValueError(f"{where}: unknown object kind {tag!r}")


# -- finding the folder ---------------------------------------------------------------------------
def _new_folder(base: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder, n = base / f"enos_{stamp}", 1
    while folder.exists():
        n += 1
        folder = base / f"enos_{stamp}-{n}"
    return folder


def _link_current(folder: Path) -> None:
    link = folder.parent / CURRENT
    if link.exists() and not link.is_symlink():
        logger.warning("%s exists and is not a symlink: left as it is", link)
        return
    tmp = folder.parent / f".{CURRENT}.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(folder.name)
    os.replace(tmp, link)


def get_or_create_env(new: bool, env_name: str | os.PathLike[str] | None = None, symlink: bool = True
                      ) -> Environment:
    """The environment a task works in.

    Args:
        new: start a fresh environment (in ``env_name``, or in a new ``enos_<date>`` folder of
            the current directory) instead of loading one.
        env_name: the experiment folder; None means ``./current`` when not ``new``.
        symlink: when ``new``, point ``current`` (next to the folder) at it.

    Returns:
        The loaded environment, or an empty one when the folder holds none yet (it is
        written when the task ends).
    """
    if new:
        folder = Path(env_name) if env_name is not None else _new_folder(Path.cwd())
        folder.mkdir(parents=True, exist_ok=True)
        if symlink:
            _link_current(folder)
        logger.info("new environment in %s", folder)
        return Environment(folder)
    folder = Path(env_name) if env_name is not None else Path.cwd() / CURRENT
    if (folder / ENV_FILE).exists():
        return Environment.load(folder)
    if env_name is None:
        # no experiment yet: behave as a first run
        return get_or_create_env(True, None, symlink)
    return Environment(folder)


def enostask(new: bool = False, symlink: bool = True) -> Callable[[F], F]:
    """Make a function a task: it receives the experiment's :class:`Environment` as ``env``.

    The caller passes ``env=`` an :class:`Environment`, a folder, or nothing (``./current``;
    with ``new=True`` a new folder). The environment is saved when the task returns or raises,
    so what a failed task recorded (a provider, say) is there for the next one.

    Args:
        new: the task starts a new experiment (typically the task that reserves resources).
        symlink: with ``new``, update the ``current`` symlink to the new folder.
    """

    def decorator(fn: F) -> F:
        @functools.wraps(fn)
        def task(*args: Any, **kwargs: Any) -> Any:
            env = kwargs.get("env")
            if not isinstance(env, Environment):
                env = get_or_create_env(new, env, symlink)
            kwargs["env"] = env
            try:
                return fn(*args, **kwargs)
            finally:
                env.dump()

        task.__enostask__ = True  # type: ignore[attr-defined]
        return task  # type: ignore[return-value]

    return decorator


# -- the command line -----------------------------------------------------------------------------
def _add_options(parser: argparse.ArgumentParser, fn: Callable[..., Any]) -> list[str]:
    names = []
    for param in inspect.signature(fn).parameters.values():
        if param.name == "env" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.default is param.empty:
            raise TypeError(f"task {fn.__name__}: parameter {param.name!r} needs a default to be an option")
        flag = "--" + param.name.replace("_", "-")
        if isinstance(param.default, bool):
            parser.add_argument(flag, dest=param.name, action=argparse.BooleanOptionalAction,
                                default=param.default)
        else:
            kind = type(param.default) if isinstance(param.default, (int, float)) else str
            parser.add_argument(flag, dest=param.name, type=kind, default=param.default,
                                help=f"(default: {param.default})")
        names.append(param.name)
    return names


def cli(*tasks: Callable[..., Any], argv: Sequence[str] | None = None, prog: str | None = None) -> Any:
    """Run one of ``tasks`` from the command line: ``prog TASK [--env DIR] [--option ...]``.

    Each task is a subcommand named after its function (``_`` written ``-``); its keyword
    parameters with defaults become options (``force=False`` -> ``--force/--no-force``,
    ``count=3`` -> ``--count N``); ``--env DIR`` picks the experiment folder (default:
    ``./current``, or a new folder for ``new=True`` tasks). The first docstring line is the
    help text.

    Returns:
        What the task returned.
    """
    parser = argparse.ArgumentParser(prog=prog, description=(sys.modules["__main__"].__doc__ or "").strip()
                                     .split("\n")[0] or None)
    commands = parser.add_subparsers(dest="task", required=True, metavar="TASK")
    options: dict[str, tuple[Callable[..., Any], list[str]]] = {}
    for fn in tasks:
        name = fn.__name__.replace("_", "-")
        doc = (inspect.getdoc(fn) or "").split("\n")[0]
        sub = commands.add_parser(name, help=doc, description=doc)
        sub.add_argument("--env", default=None, metavar="DIR",
                         help="experiment folder (default: ./current, or a new one)")
        options[name] = (fn, _add_options(sub, fn))
    args = parser.parse_args(argv)
    fn, names = options[args.task]
    return fn(env=args.env, **{n: getattr(args, n) for n in names})
