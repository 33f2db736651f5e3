"""The ``>>>`` examples in the docstrings of public modules (shown in the API reference) run.

Every public module's examples run here, except the few listed in ``ILLUSTRATIVE``: sketches
that need hosts or a testbed session (``roles`` from a provider, an OAR job). The list only
shrinks: a new module's examples must run, and an example listed here that starts to pass
must leave the list.
"""

from __future__ import annotations

import doctest

import pytest

import enoslib
import enoslib_apigen

# docstring -> what it needs that a unit test does not have
ILLUSTRATIVE = {
    "enoslib.api.commands": "hosts (roles from a provider)",
    "enoslib.api.hosts.get_hosts": "hosts (roles from a provider)",
    "enoslib.api.results": "results of a run on hosts",
    "enoslib.config": "an Ellipsis statement echoed by the REPL",
    "enoslib.execo": "hosts to run on",
    "enoslib.execo.report": "processes run on hosts",
    "enoslib.g5k": "an OAR job on Grid'5000",
    "enoslib.g5k.kadeploy": "Grid'5000 nodes",
    "enoslib.g5k.oar": "an OAR job on Grid'5000",
    "enoslib.infra.enos_g5k.reference.Reference": "a Grid'5000 API client",
    "enoslib.infra.enos_vagrant.provider": "vagrant, libvirt and root (boots virtual machines)",
    "enoslib.infra.local.provider": "root (network namespaces)",
    "enoslib.infra.provider": "a provider configuration",
    "enoslib.infra.providers": "Grid'5000 configurations",
    "enoslib.services.netem": "hosts (roles from a provider)",
}


def _doctests() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = []
    for name, module in enoslib_apigen.collect().modules.items():
        tests += [t for t in finder.find(module, name, extraglobs={"en": enoslib}) if t.examples]
    return tests


TESTS = _doctests()


def test_the_list_of_illustrative_examples_only_names_existing_ones():
    assert set(ILLUSTRATIVE) <= {t.name for t in TESTS}


@pytest.mark.parametrize("test", [t for t in TESTS if t.name not in ILLUSTRATIVE], ids=lambda t: t.name)
def test_docstring_examples_run(test, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    out: list[str] = []
    with enoslib.config_context():  # an example may change settings: never for the next tests
        result = runner.run(test, out=out.append)
    assert not result.failed, "".join(out)
