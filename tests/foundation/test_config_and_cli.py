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


# one wrong value per setting: each shows only later (a play's start, an ssh option, a
# reservation's patience) unless set_config refuses it
_BAD_SETTINGS = {
    "cache_dir": "", "ssh_control_persist": "ten minutes", "agent_persist": -5,
    "ansible_forks": 0, "ansible_workers": "forks", "ansible_stdout": None,
    "ssh_connect_timeout": "10", "command_timeout": -1, "display": 1,
    "ansible_python_interpreter": 3, "ssh_config_file": "",
    "ssh_strict_host_key_checking": False, "g5k_connect_timeout": 0,
    "g5k_read_timeout": "30", "g5k_api_deadline": None, "g5k_release_deadline": -1,
    "g5k_backoff": "1s", "g5k_max_backoff": None,
    "g5k_auto_jump": "no", "g5k_cache": "yes", "dump_results": "/no/such/folder/results.json",
}


def test_every_setting_has_a_bad_value_here():
    assert set(_BAD_SETTINGS) == set(en.get_config())


@pytest.mark.parametrize("key", sorted(_BAD_SETTINGS))
def test_a_bad_setting_is_refused_by_set_config(key):
    before = en.get_config()
    with pytest.raises(EnosConfigError, match=key) as info:
        en.set_config(**{key: _BAD_SETTINGS[key]})
    assert info.value.path == f"$.{key}"
    with pytest.raises(EnosConfigError, match=key):
        with en.config_context(**{key: _BAD_SETTINGS[key]}):
            pass
    assert en.get_config() == before  # nothing changed


def test_default_and_usual_settings_are_accepted():
    with en.config_context(**en.get_config()):
        pass
    with en.config_context(ansible_forks=50, ansible_workers="processes", command_timeout=2.5,
                           ssh_control_persist="1h30m", agent_persist=0, display="noop",
                           ssh_strict_host_key_checking="accept-new", g5k_backoff=1,
                           ansible_python_interpreter="/usr/bin/python3", cache_dir=Path("/tmp")):
        pass


def test_enoslib_scripts_settings_run_unchanged(tmp_path):
    # EnOSlib 10.9's settings and values, as its tutorials and users' scripts pass them
    before = en.get_config()
    en.set_config(g5k_auto_jump=False)
    en.set_config(g5k_cache=False)
    en.set_config(display="html", ansible_stdout="spinner", ansible_forks=5)
    assert {k: en.get_config()[k] for k in ("g5k_auto_jump", "g5k_cache", "display")} == {
        "g5k_auto_jump": False, "g5k_cache": False, "display": "html"}
    for values in ({"g5k_auto_jump": True}, {"g5k_auto_jump": None}, {"g5k_cache": "lru"},
                   {"g5k_cache": None}, {"display": "noop"}, {"display": "text"},
                   {"ansible_stdout": "noop"}, {"ansible_stdout": "default"},
                   {"ansible_stdout": "console"}, {"dump_results": tmp_path / "r.json"},
                   {"dump_results": str(tmp_path / "r.json")}, {"dump_results": None}):
        with en.config_context(**values):
            pass
    for key, value in before.items():
        en.set_config(**{key: value})
    assert en.get_config() == before


def test_ansible_stdout_any_other_string_is_ansible_own_output():
    from enoslib.config import ansible_console

    for value, console in (("noop", False), ("spinner", False), ("console", True),
                           ("default", True), ("yaml", True)):
        with en.config_context(ansible_stdout=value):
            assert ansible_console() is console, value
    with pytest.raises(EnosConfigError, match=r"ansible_stdout: expected a non-empty string, got 3"):
        en.set_config(ansible_stdout=3)


def test_dump_results_never_appends_to_an_existing_file(tmp_path):
    wanted = tmp_path / "results.json"
    with en.config_context(dump_results=str(wanted)) as config:
        assert config["dump_results"] == wanted  # a Path, as in EnOSlib
    wanted.write_text("[]\n")
    (tmp_path / "results.json.1").write_text("[]\n")
    with en.config_context(dump_results=wanted):
        assert en.get_config()["dump_results"] == tmp_path / "results.json.2"
    assert en.get_config()["dump_results"] is None
    with pytest.raises(EnosConfigError, match="dump_results: .* is a folder"):
        en.set_config(dump_results=tmp_path)
    with pytest.raises(EnosConfigError, match="dump_results: the folder of '/no/such/r.json'"):
        en.set_config(dump_results="/no/such/r.json")


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
