"""The suite's guard (tests/conftest.py): a test not marked ``root`` cannot create labs."""

from __future__ import annotations

from pathlib import Path

import pytest

from enoslib.nodes import LabError, LoopbackLab, NamespaceLab
from enoslib.nodes._lab import NO_LABS_ENV

pytest_plugins = ["pytester"]
CONFTEST = (Path(__file__).resolve().parents[1] / "conftest.py").read_text()


@pytest.mark.parametrize("kind", [NamespaceLab, LoopbackLab])
def test_labs_refuse_while_forbidden_and_record_it(kind, tmp_path, monkeypatch):
    report = tmp_path / "attempts.log"
    monkeypatch.setenv(NO_LABS_ENV, str(report))
    with pytest.raises(LabError, match="must be marked root"):
        kind("guardt", state_dir=tmp_path / "state")
    assert "creating lab 'guardt'" in report.read_text()
    assert not (tmp_path / "state").exists()  # refused before anything was made


def test_unmarked_tests_and_their_fixtures_fail(pytester):
    pytester.makeini("[pytest]\nmarkers =\n    root: creates labs\n")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        """
        import pytest
        from enoslib.nodes import LabError, NamespaceLab

        @pytest.fixture(scope="session")
        def shared(tmp_path_factory):
            return NamespaceLab("guardf", state_dir=tmp_path_factory.mktemp("s") / "lab")

        def test_catches_the_error(tmp_path):
            with pytest.raises(LabError):  # caught: the guard still fails the test
                NamespaceLab("guardc", state_dir=tmp_path / "lab")

        @pytest.mark.root
        def test_marked_but_shares_the_fixture(shared):
            pass

        def test_unmarked_user_of_the_fixture(shared):
            pass

        def test_harmless():
            pass
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 1, result.stdout.str()
    assert outcomes.get("failed", 0) + outcomes.get("errors", 0) == 3, result.stdout.str()
    result.stdout.fnmatch_lines(["*created namespaces/sshd*"])
