"""Suite-wide guard: only tests marked ``root`` may create labs (network namespaces, sshd).

``pytest -m "not root"`` must be safe on a shared machine, so the marker cannot be allowed
to drift. While a test that is not marked ``root`` runs (its setup included), and while
any fixture that such a test uses is set up (a session fixture built by a root test first
counts too), ``ENOSLIB_NO_LABS`` points at a report file: every lab constructor and sshd
start then refuses (``LabError``) and records the attempt there, subprocesses included.
A recorded attempt fails the test even if it caught the LabError.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from enoslib.nodes._lab import NO_LABS_ENV

def pytest_configure(config: pytest.Config) -> None:
    """Each run gets its own enoslib cache (subprocesses too): what earlier runs or other
    programs left in ``~/.cache/enoslib`` (reference data of other APIs, pending-release
    records) must not change what a test sees."""
    import tempfile

    from enoslib.config import set_config

    import signal

    # started in the background (a shell's `cmd &` ignores SIGINT, and children inherit that):
    # give Ctrl-C back its default meaning, so the tests of Ctrl-C handling test it
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    cache = tempfile.mkdtemp(prefix="enoslib-test-cache-")
    os.environ["ENOSLIB_CACHE_DIR"] = cache
    set_config(cache_dir=cache)
    config.stash[_CACHE_KEY] = cache


_CACHE_KEY = pytest.StashKey[str]()

# fixtures (by definition site and name) requested by at least one test not marked root
_USED_UNMARKED: set[tuple[str, str]] = set()


def _key(fixturedef: pytest.FixtureDef) -> tuple[str, str]:
    return fixturedef.baseid, fixturedef.argname


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if item.get_closest_marker("root") is None and info is not None:
            for defs in info.name2fixturedefs.values():
                _USED_UNMARKED.update(_key(d) for d in defs)


@contextmanager
def _labs_forbidden(report: Path) -> Iterator[None]:
    previous = os.environ.get(NO_LABS_ENV)
    os.environ[NO_LABS_ENV] = str(report)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(NO_LABS_ENV, None)
        else:
            os.environ[NO_LABS_ENV] = previous


def _report_path(config: pytest.Config) -> Path:
    path = getattr(config, "_enoslib_no_labs_report", None)
    if path is None:
        import tempfile

        fd, name = tempfile.mkstemp(prefix="enoslib-no-labs-", suffix=".log")
        os.close(fd)
        path = Path(name)
        config._enoslib_no_labs_report = path  # type: ignore[attr-defined]
    return path


def _take_report(path: Path) -> str:
    text = path.read_text() if path.exists() else ""
    path.write_text("")
    return text.strip()


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest):
    if _key(fixturedef) not in _USED_UNMARKED:
        yield
        return
    with _labs_forbidden(_report_path(request.config)):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    if item.get_closest_marker("root") is not None:
        yield
        return
    with _labs_forbidden(_report_path(item.config)):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    # attempts are only recorded where forbidden (a root test setting up a fixture that
    # unmarked tests use too, included)
    attempts = _take_report(_report_path(item.config))
    if attempts and not report.failed:
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} (or a fixture it shares with a test not marked root) created "
            f"namespaces/sshd:\n{attempts}\nmark every test using it @pytest.mark.root"
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    path = getattr(config, "_enoslib_no_labs_report", None)
    if path is not None:
        path.unlink(missing_ok=True)
    cache = config.stash.get(_CACHE_KEY, None)
    if cache is not None:
        import shutil

        shutil.rmtree(cache, ignore_errors=True)


@pytest.fixture(autouse=True)
def _enoslib_logging_restored() -> Iterator[None]:
    """A test that calls ``en.init_logging`` (an example run in-process does) must not leave
    its terminal handler to later tests (their captured output would carry log lines)."""
    import logging

    logger = logging.getLogger("enoslib")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
