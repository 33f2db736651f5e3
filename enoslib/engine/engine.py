"""``Engine``: the execo_engine experiment canvas (run directory, options, logs, continue).

>>> class Bench(Engine):                      # doctest: +SKIP
...     def __init__(self):
...         super().__init__()
...         self.args_parser.add_argument("--size", type=int, default=10)
...     def run(self):
...         sweeper = ParamSweeper(os.path.join(self.result_dir, "sweeps"), sweep({"n": [1, 2]}))
...         ...
>>> Bench().start()                            # doctest: +SKIP

Command line (execo's options, plus long names)::

    -l LEVEL             log level (name or number) of the enoslib loggers
    -L                   copy stdout / stderr to files in the result directory
    -R                   redirect stdout / stderr to files in the result directory
    -M                   with -L / -R: one file for both
    -c DIR, --continue DIR
                         use (continue) the experiment directory DIR
    -C, --continue-last  continue the most recent ``<EngineClass>_*`` directory here

Whatever the options, the run logs (enoslib's loggers, INFO and up) go to
``<result_dir>/engine.log``.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from enoslib.engine.utils import copy_outputs, redirect_outputs

__all__ = ["Engine", "run_meth_on_engine_ancestors"]

logger = logging.getLogger("enoslib.engine")
_engineargs = sys.argv[1:]  # saved at import, as execo does (ipython -i script.py -- options)


def run_meth_on_engine_ancestors(instance: Engine, method_name: str) -> None:
    """Call ``method_name`` as defined by each Engine class of ``instance``'s hierarchy,
    ancestors first (each class's own definition, once)."""
    for cls in reversed(type(instance).__mro__):
        if issubclass(cls, Engine) and method_name in cls.__dict__:
            cls.__dict__[method_name](instance)


class Engine:
    """Base class of experiment engines: subclass it, override :meth:`init` / :meth:`run`,
    instantiate it and call :meth:`start`.

    Attributes: ``engine_dir`` (directory of the engine's source file), ``args_parser``
    (an :class:`argparse.ArgumentParser` to add options to in ``__init__``), ``args`` (parsed,
    available in ``init`` and ``run``), ``run_name``, ``result_dir``.
    """

    def __init__(self) -> None:
        module = sys.modules.get(type(self).__module__)
        source = getattr(module, "__file__", None)
        self.engine_dir: str | None = os.path.dirname(os.path.realpath(source)) if source else None
        self.args_parser = argparse.ArgumentParser(usage="<program> [options] <arguments>",
                                                   description=f"engine: {type(self).__name__}")
        p = self.args_parser
        p.add_argument("-l", dest="log_level", default=None,
                       help="log level (int or name) of the enoslib loggers. Default: unchanged")
        p.add_argument("-L", dest="output_mode", action="store_const", const="copy", default=False,
                       help="copy stdout / stderr to files in the experiment result directory")
        p.add_argument("-R", dest="output_mode", action="store_const", const="redirect",
                       help="redirect stdout / stderr to files in the experiment result directory")
        p.add_argument("-M", dest="merge_outputs", action="store_true", default=False,
                       help="with -L or -R, merge stdout and stderr in a single file")
        p.add_argument("-c", "--continue", dest="use_dir", default=None, metavar="DIR",
                       help="use experiment directory DIR (continue a stopped experiment)")
        p.add_argument("-C", "--continue-last", dest="continue_last", action="store_true", default=False,
                       help="continue the most recent experiment directory of this engine in the "
                            "current directory")
        self.args: argparse.Namespace | None = None
        self.run_name: str | None = None
        self.result_dir: str | None = None
        self._log_handler: logging.Handler | None = None
        self._previous_level = logging.NOTSET

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self, engineargs: Sequence[str] | None = None) -> None:
        """Parse the command line (``engineargs``, default: the script's arguments), set up the
        result directory, outputs and logs, then call every ``init``, then every ``run``."""
        self.args = self.args_parser.parse_args(list(_engineargs if engineargs is None else engineargs))
        if self.args.log_level is not None:
            level = self.args.log_level
            logging.getLogger("enoslib").setLevel(int(level) if str(level).isdigit() else str(level).upper())
        self.setup_run_name()
        if self.args.use_dir:
            self.result_dir = os.path.abspath(self.args.use_dir)
        elif self.args.continue_last and self._last_result_dir():
            self.result_dir = self._last_result_dir()
        else:
            self.setup_run_dir()
        assert self.result_dir, "setup_result_dir must set self.result_dir"
        self._create_result_dir()
        self._setup_outputs()
        self._setup_log_file()
        logger.info("command line: %s", " ".join(shlex.quote(a) for a in sys.argv))
        logger.info("run in directory %s", self.result_dir)
        try:
            run_meth_on_engine_ancestors(self, "init")
            run_meth_on_engine_ancestors(self, "run")
        except KeyboardInterrupt:
            logger.warning("interrupted: continue with -c %s", shlex.quote(self.result_dir))
            raise
        finally:
            self._close_log_file()

    def _create_result_dir(self) -> None:
        assert self.result_dir is not None
        os.makedirs(self.result_dir, exist_ok=True)

    def _last_result_dir(self) -> str | None:
        prefix = f"{type(self).__name__}_"
        found = [d for d in Path.cwd().iterdir() if d.is_dir() and d.name.startswith(prefix)]
        return str(max(found, key=lambda d: (d.stat().st_mtime, d.name))) if found else None

    def _setup_outputs(self) -> None:
        assert self.args is not None and self.result_dir is not None
        if not self.args.output_mode:
            return
        if self.args.merge_outputs:
            out = err = os.path.join(self.result_dir, "stdout+stderr")
        else:
            out, err = os.path.join(self.result_dir, "stdout"), os.path.join(self.result_dir, "stderr")
        if self.args.output_mode == "copy":
            copy_outputs(out, err)
        else:
            redirect_outputs(out, err)
        logger.info("%s stdout / stderr to %s and %s",
                    "copy" if self.args.output_mode == "copy" else "redirect", out, err)

    def _setup_log_file(self) -> None:
        assert self.result_dir is not None
        handler = logging.FileHandler(os.path.join(self.result_dir, "engine.log"), encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.INFO)
        root = logging.getLogger("enoslib")
        self._previous_level = root.level
        if root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
        root.addHandler(handler)
        self._log_handler = handler

    def _close_log_file(self) -> None:
        if self._log_handler is not None:
            root = logging.getLogger("enoslib")
            root.removeHandler(self._log_handler)
            if self._previous_level == logging.NOTSET:
                root.setLevel(logging.NOTSET)
            self._log_handler.close()
            self._log_handler = None

    # -- to override ---------------------------------------------------------------------------
    def setup_run_name(self) -> None:
        """Set ``self.run_name`` (default: class name and date)."""
        self.run_name = f"{type(self).__name__}_{time.strftime('%Y%m%d_%H%M%S_%z')}"

    def setup_result_dir(self) -> None:
        """Set ``self.result_dir`` for a new run (default: ``./<run_name>``); not called when
        continuing (``-c DIR`` / ``-C``)."""
        self.result_dir = os.path.abspath(self.run_name or type(self).__name__)

    def setup_run_dir(self) -> None:
        """Another name for :meth:`setup_result_dir` (override either)."""
        self.setup_result_dir()

    def init(self) -> None:
        """Experiment initialization; every class's ``init`` runs, ancestors first."""

    def run(self) -> None:
        """Experiment code; every class's ``run`` runs, ancestors first."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} result_dir={self.result_dir!r}>"
