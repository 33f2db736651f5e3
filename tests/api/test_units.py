"""No SSH here: patterns, substitutions, command wrapping, Results."""

from __future__ import annotations

import json
import shlex
import subprocess

import pytest

from enoslib.api import Result, Results, ResultsReport, get_hosts
from enoslib.api.commands import wrap
from enoslib.api.templating import UndefinedVariable, substitute
from enoslib.errors import EnosFailedHostsError, EnosUnreachableHostsError
from enoslib.objects import Host, Roles


def _roles() -> Roles:
    h = [Host(f"10.0.0.{i}", alias=f"node-{i}") for i in range(1, 6)]
    return Roles(web=h[:3], db=h[2:4], prod=[h[0], h[2], h[4]])


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ("all", [1, 2, 3, 4, 5]),
        ("*", [1, 2, 3, 4, 5]),
        ("web", [1, 2, 3]),
        ("web:db", [1, 2, 3, 4]),
        ("web,db", [1, 2, 3, 4]),
        ("web:&prod", [1, 3]),
        ("web:!db", [1, 2]),
        ("web:db:&prod:!node-1", [3]),
        ("node-4", [4]),
        ("10.0.0.5", [5]),
        ("node-[12]", [1, 2]),
        ("~node-[45]$", [4, 5]),
        ("w*", [1, 2, 3]),
        ("&prod:&db", [3]),
        ("nothing", []),
    ],
)
def test_get_hosts_patterns(pattern: str, expected: list[int]) -> None:
    assert [h.alias for h in get_hosts(_roles(), pattern)] == [f"node-{i}" for i in expected]


def test_get_hosts_accepts_hosts_and_host() -> None:
    h = Host("10.0.0.1", alias="a")
    assert get_hosts(h) == [h]
    assert get_hosts([h, Host("10.0.0.2")], "a") == [h]
    with pytest.raises(TypeError):
        get_hosts(["not a host"])  # type: ignore[list-item]


def test_substitutions_are_quoted() -> None:
    h = Host(
        "10.0.0.1",
        alias="x;rm -rf /",
        user="u",
        port=2222,
        extra={"f": "$(touch /tmp/pwned)", "n": {"k": 3}},
    )
    out = substitute("echo {{{host}}} {{{alias}}} {{{user}}} {{{port}}} {{ f }} {{ n.k }}", h)
    assert shlex.split(out) == [
        "echo",
        "10.0.0.1",
        "x;rm -rf /",
        "u",
        "2222",
        "$(touch /tmp/pwned)",
        "3",
    ]
    assert substitute("{{ cmd | raw }}", h, {"cmd": "a && b"}) == "a && b"
    assert (
        substitute("{{ f }}", h, {"f": "from extra_vars"}) == "'from extra_vars'"
    )  # extra_vars win
    # not lookups: left alone (docker/go templates, expressions)
    assert (
        substitute("docker ps --format '{{.Names}}' {{ a + b }}", h)
        == "docker ps --format '{{.Names}}' {{ a + b }}"
    )
    with pytest.raises(UndefinedVariable, match="'missing'.*'x;rm -rf /'"):
        substitute("{{ missing }}", h)


def _sh(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=20)


def test_wrap_runs_locally_with_quoting(tmp_path) -> None:
    weird = tmp_path / "d i r;$(echo x)"
    weird.mkdir()
    out = _sh(wrap('pwd; echo "$V"', chdir=str(weird), environment={"V": "a'b $HOME"}))
    assert out.stdout.splitlines() == [str(weird), "a'b $HOME"]
    assert _sh(wrap("exit 7", timeout=5)).returncode == 7
    assert _sh(wrap("sleep 5", timeout=0.2)).returncode == 124
    with pytest.raises(ValueError):
        wrap("true", environment={"A B": "x"})


def _results() -> Results:
    return Results(
        [
            Result("h1", "t1", "ok", "out", "", 0, True, {}, 0.1),
            Result("h2", "t1", "failed", "", "boom <b>", 2, True, {}, 0.3),
            Result("h3", "t1", "unreachable", payload={"msg": "no route"}),
            Result("h1", "t2", "skipped"),
        ]
    )


def test_results_views_and_filters() -> None:
    r = _results()
    assert [x.host for x in r.ok] == ["h1"]
    assert [x.host for x in r.failed] == ["h2"]
    assert [x.host for x in r.unreachable] == ["h3"]
    assert len(r.skipped) == 1
    assert len(r.filter(host="h1")) == 2
    assert len(r.filter(host=["h1", "h2"], task="t1")) == 2
    assert len(r.filter(status=lambda s: s != "ok")) == 3
    assert len(r.filter(host=Host("1.2.3.4", alias="h2"))) == 1
    assert r.hosts == ["h1", "h2", "h3"]
    assert json.loads(json.dumps(r.to_dict()))[1]["stderr"] == "boom <b>"
    assert list(r.by_host()) == ["h1", "h2", "h3"]


def test_results_renderings_and_report() -> None:
    r = _results()
    html = r._repr_html_()
    assert "<table>" in html and "boom &lt;b&gt;" in html and "<b>" not in html
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(r)
    assert "unreachable" in console.export_text()
    rep = r.report()
    assert isinstance(rep, ResultsReport) and not rep.ok
    assert rep.stats()["ok"] == 1 and rep.stats()["failed"] == 1 and rep.stats()["unreachable"] == 1
    assert rep.stats()["duration_max"] == 0.3
    assert "1 ok" in repr(r)
    console.print(rep)
    assert "<table>" in rep._repr_html_()


def test_raise_for_status() -> None:
    r = _results()
    with pytest.raises(EnosUnreachableHostsError) as unreachable:
        r.raise_for_status()
    assert unreachable.value.results is r and unreachable.value.hosts == ["h3"]
    failed = Results(x for x in r if x.status != "unreachable")
    with pytest.raises(EnosFailedHostsError, match="h2.*boom") as err:
        failed.raise_for_status()
    assert err.value.results is failed
    failed[1].payload["ignored"] = True  # ignore_errors: does not raise
    assert failed.raise_for_status() is failed
