"""Regressions: rich renderings show user text as it is (a ``[...]`` in a stdout, an alias or a
configuration value was read as markup: ``[/data]`` crashed printing, ``[g5k]`` vanished)."""

from __future__ import annotations

import io

import enoslib as en
from enoslib.api.results import Result, Results
from enoslib.cli import main
from enoslib.objects import DefaultNetwork, Host, Networks, Roles


def render(obj: object) -> str:
    from rich.console import Console

    out = io.StringIO()
    Console(file=out, width=300, color_system=None).print(obj)
    return out.getvalue()


def test_results_with_markup_like_output():
    results = Results([
        Result("a[/x]", "rm -rf [/data]", "ok", stdout="[/data] cleaned", stderr="[bold]not bold[/bold]"),
        Result("b", "t", "failed", stdout="[red]x"),
    ])
    text = render(results)
    for shown in ("a[/x]", "[/data] cleaned", "[bold]not bold[/bold]", "[red]x", "rm -rf [/data]"):
        assert shown in text
    assert "Report" in render(results.report())


def test_hosts_roles_networks_with_markup_like_names():
    h = Host("10.0.0.1", alias="a[/x]", user="[b]")
    roles = Roles({"role[/r]": [h]})
    for obj in (h, roles, roles["role[/r]"]):
        text = render(obj)
        assert "a[/x]" in text
    assert "role[/r]" in render(roles)
    networks = Networks({"net[/n]": [DefaultNetwork("10.0.0.0/24")]})
    assert "net[/n]" in render(networks) and "10.0.0.0/24" in render(networks["net[/n]"])


def test_enos_check_prints_the_extra_to_install(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    from enoslib.cli import EXTRAS

    rc = main(["check"])
    out = capsys.readouterr().out
    assert rc in (0, 1)
    missing = [e for e, mods in EXTRAS.items()
               if any(__import__("importlib.util").util.find_spec(m) is None for m in mods)]
    for extra in missing:
        assert f"pip install 'enoslib[{extra}]'" in out
    assert "pip install 'enoslib'" not in out


def test_check_function_prints_the_same(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    en.check()
    assert "enoslib" in capsys.readouterr().out
