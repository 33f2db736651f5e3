"""Templates compiled once per process on the threaded TaskExecutor path
(enoslib.api._templating_cache): ansible-core's Templar gives the same values and the same
errors with the cache as without, per host, in threads; outside ``cached()`` nothing changes.

No SSH here; the same templates through whole plays on both paths are in
tests/api/test_executor_templates.py.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

pytest.importorskip("ansible._internal._templating._engine")

from ansible._internal._datatag._tags import TrustedAsTemplate  # noqa: E402
from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.template import Templar  # noqa: E402

from enoslib.api import _templating_cache  # noqa: E402
from enoslib.api._templating_cache import cached  # noqa: E402

TEMPLATES = [
    "hello {{ host }}",
    "{{ host | upper }}-{{ items | join(',') }}",
    "{% for i in items %}{{ i }}{% endfor %}\n",
    "#jinja2: variable_start_string:'[%', variable_end_string:'%]'\nnew [% host %] old {{ host }}",
    "#jinja2: trim_blocks:False\n{% if true %}\nkept\n{% endif %}\n",
    "{{ 'c:\\newfile' }} {{ host ~ '\\1' }}",
    "{{ lookup('vars', 'host') }} {{ '{{ host }}' }}",
    "{{ host is match('h[0-9]') }}",
]
EXPRESSIONS = ["host == 'h1'", "items | length > 1", "host is search('2')"]
BAD = [
    "{{ host ",  # syntax error
    "{{ nothere }}",  # undefined
    "{{ host | nosuchfilter }}",  # unknown filter
    "{% if %}x{% endif %}",
    "#jinja2: nosuchkey:1\n{{ host }}",  # bad override header
]


def _templar(host: str) -> Any:
    return Templar(loader=DataLoader(), variables={"host": host, "items": [1, 2, 3]})


def _render(host: str, source: str) -> Any:
    try:
        return ("ok", _templar(host).template(TrustedAsTemplate().tag(source)))
    except Exception as e:  # noqa: BLE001 - the error is what is compared
        return ("error", type(e).__name__, str(e), repr(e.__cause__))


def _condition(host: str, source: str) -> Any:
    try:
        return ("ok", _templar(host).evaluate_conditional(TrustedAsTemplate().tag(source)))
    except Exception as e:  # noqa: BLE001
        return ("error", type(e).__name__, str(e), repr(e.__cause__))


def test_same_values_and_errors_with_the_cache_per_host() -> None:
    _templating_cache._CODE.clear()
    sources = TEMPLATES + BAD
    plain = {(h, s): _render(h, s) for h in ("h1", "h2") for s in sources}
    plain_cond = {(h, s): _condition(h, s) for h in ("h1", "h2") for s in EXPRESSIONS}
    assert not _templating_cache._CODE, "nothing cached outside cached()"
    with cached():
        for _ in range(2):  # the second round from the cache
            assert {(h, s): _render(h, s) for h in ("h1", "h2") for s in sources} == plain
            assert {(h, s): _condition(h, s) for h in ("h1", "h2") for s in EXPRESSIONS} \
                == plain_cond
    kinds = {k[0] for k in _templating_cache._CODE}
    assert kinds == {"template", "expression"}
    # failed compiles are not kept: ansible-core's own compile reports them each time
    assert not {k[1] for k in _templating_cache._CODE} & set(BAD[:1] + BAD[3:])
    assert plain[("h2", TEMPLATES[3])] == ("ok", "new h2 old {{ host }}")
    assert plain[("h1", TEMPLATES[4])] == ("ok", "\nkept\n")
    assert plain[("h1", BAD[0])][0] == "error"


def test_untrusted_strings_are_not_templated() -> None:
    with cached():
        out = _templar("h1").template("{{ host }} from a host")  # no TrustedAsTemplate tag
    assert out == "{{ host }} from a host"


def test_threads_render_their_own_variables() -> None:
    _templating_cache._CODE.clear()
    got: dict[str, list[Any]] = {}

    def worker(host: str) -> None:
        with cached():
            got[host] = [_render(host, s) for s in TEMPLATES for _ in range(3)]

    threads = [threading.Thread(target=worker, args=(f"h{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(8):
        assert got[f"h{i}"] == [_render(f"h{i}", s) for s in TEMPLATES for _ in range(3)]
    assert got["h3"][0] == ("ok", "hello h3")
