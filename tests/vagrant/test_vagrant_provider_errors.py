"""What a user sees before any machine exists: missing vagrant, missing python-vagrant."""

from __future__ import annotations

import sys

import pytest

import enoslib as en
from enoslib.errors import EnosMissingExtraError, EnosProviderError


def conf() -> en.VagrantConf:
    return en.VagrantConf.from_settings(box="enoslib/debian12").add_machine(roles=["a"])


def test_no_vagrant_command_is_a_clear_error(tmp_path, monkeypatch):
    pytest.importorskip("vagrant")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    provider = en.Vagrant(conf())
    with pytest.raises(EnosProviderError, match="needs the `vagrant` command on PATH"):
        provider.init()
    assert list(tmp_path.iterdir()) == []  # nothing written
    assert not provider.is_created()
    provider.destroy()  # nothing to do, no error


def test_no_python_vagrant_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "vagrant", None)  # as if python-vagrant were not installed
    with pytest.raises(EnosMissingExtraError, match=r"pip install 'enoslib\[vagrant\]'"):
        en.Vagrant(conf()).init()
    assert list(tmp_path.iterdir()) == []


def test_immediate_provider_inside_providers_planning():
    provider = en.Vagrant(conf())
    assert provider.test_slot(0, 3600)
    assert list(provider.availability(0, 3600)) != []
    provider.offset_walltime(60)  # no walltime: nothing to do
