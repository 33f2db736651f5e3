import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import enoslib as en
from enoslib.errors import EnosConfigError, EnosError, EnosMissingExtraError
import enoslib.errors as errors

ROOT = Path(__file__).resolve().parents[2]


def test_config_context_restores_everything():
    before = en.get_config()
    en.set_config(ansible_forks=7)
    with en.config_context(ansible_forks=None, command_timeout=3):
        assert en.get_config()["ansible_forks"] is None
        assert en.get_config()["command_timeout"] == 3
    assert en.get_config()["ansible_forks"] == 7
    en.set_config(ansible_forks=before["ansible_forks"])
    assert en.get_config() == before
    with pytest.raises(EnosConfigError, match="unknown setting.*nope"):
        en.set_config(nope=1)


def test_every_error_has_a_message():
    for name in errors.__all__:
        cls = getattr(errors, name)
        if name == "EnosMissingExtraError":
            err = cls("grid5000", "g5k")
        else:
            err = cls()
        assert str(err), name
        assert isinstance(err, EnosError)
    err = EnosMissingExtraError("grid5000", "g5k")
    assert "pip install 'enoslib[g5k]'" in str(err) and isinstance(err, ImportError)


def test_missing_extra_names_the_extra(monkeypatch):
    monkeypatch.setitem(en._LAZY, "Fake", ("enoslib.objects", ("surely_not_installed_mod", "g5k")))
    with pytest.raises(ImportError, match=r"pip install 'enoslib\[g5k\]'"):
        en.Fake


def test_import_is_light():
    code = (
        "import sys, enoslib as en; en.Host; en.StaticConf;"
        "heavy=[m for m in ('ansible','grid5000','rich','jsonschema','requests','openstack') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def _enos(*args):
    return subprocess.run([sys.executable, "-m", "enoslib.cli", *args], capture_output=True, text=True, cwd=ROOT)


def test_cli_schema_and_check(tmp_path):
    out = _enos("schema", "static")
    assert out.returncode == 0 and json.loads(out.stdout)["title"] == "Static provider"
    out = _enos("schema", "nope")
    assert out.returncode == 2 and "no schema named 'nope'" in out.stderr
    out = _enos("check")
    assert out.returncode == 0 and "g5k" in out.stdout and "core dependencies: ok" in out.stdout


def test_init_logging_uses_rich():
    import logging

    logger = en.init_logging(logging.DEBUG)
    assert any(type(h).__name__ == "RichHandler" for h in logger.handlers)
    en.init_logging(logging.WARNING)
    assert sum(getattr(h, "_enoslib", False) for h in logger.handlers) == 1
