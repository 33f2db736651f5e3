"""The Grid'5000 REST API client: the only module that imports ``grid5000`` (python-grid5000).

:class:`G5kClient` wraps one ``grid5000.Grid5000`` connection and talks to the API by path
(``client.get("/sites/rennes/jobs/42")``), which costs exactly one HTTP request per call,
instead of going through the library's managers (``gk.sites["rennes"]`` is already a GET).

What it adds to the library:

* **Where to connect is explicit.** ``Grid5000.from_yaml`` swallows every error and silently
  returns an anonymous client on the real API URL. Here the URI is validated, the YAML file is
  read and checked by us, and an error names the file and the key.
* **One retry policy.** The library's own urllib3 retries (6 requests over ~9 s on 500/502/504,
  none on 503, none on POST) are switched off; transient failures (5xx, timeouts, connection
  resets, urllib3 ``RetryError``) are retried here with bounded exponential backoff. 4xx are
  never retried. A POST whose outcome is unknown (5xx or read timeout after sending) is only
  retried after ``reconcile()`` found that the server did not act on it.
* **Credentials never reach the logs**: ``repr``/``str`` show the URI and the login only.
* **Time is injectable**: ``sleep`` and ``now`` are attributes, so tests (and the emulator's
  stepped clock) drive every wait without real sleeping.
* ``requests`` counts the HTTP requests actually sent (retries included).
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from enoslib._urls import strip_credentials
from enoslib.errors import EnosConfigError, EnosMissingExtraError, EnosProviderError

logger = logging.getLogger(__name__)

DEFAULT_URI = "https://api.grid5000.fr/stable"
DEFAULT_CONF_FILE = "~/.python-grid5000.yaml"
_YAML_KEYS = {"uri", "username", "password", "verify_ssl", "timeout", "sslcert", "sslkey", "ssluser"}
TRANSIENT_STATUS = frozenset({500, 502, 503, 504})


class G5kApiError(EnosProviderError):
    """The Grid'5000 API answered with an error (``status``), or could not be reached
    (``status`` is None) even after the retries."""

    default_message = "Grid'5000 API error"

    def __init__(self, message: str, *, status: int | None = None, method: str = "", path: str = "",
                 body: str = "", unreachable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.method = method
        self.path = path
        self.body = body
        # the API's host name does not resolve: retrying does not help (DNS is not transient)
        self.unreachable = unreachable

    @property
    def transient(self) -> bool:
        return not self.unreachable and (self.status is None or self.status in TRANSIENT_STATUS)


def api_settings() -> dict[str, float]:
    """The patience settings of the Grid'5000 client, from :func:`enoslib.config.get_config`
    (``g5k_connect_timeout``, ``g5k_read_timeout``: seconds per request; ``g5k_api_deadline``:
    seconds one API call may take, retries included; ``g5k_release_deadline``: seconds
    ``destroy`` keeps trying to delete the jobs; ``g5k_backoff``/``g5k_max_backoff``: first and
    longest sleep between tries)."""
    from enoslib.config import get_config

    conf = get_config()
    return {key: float(conf[key]) for key in ("g5k_connect_timeout", "g5k_read_timeout", "g5k_api_deadline",
                                              "g5k_release_deadline", "g5k_backoff", "g5k_max_backoff")}


class Stopwatch:
    """Seconds elapsed since it was made, by the client's clock and by the real one (the larger):
    with a virtual clock that only sleeps move, time lost in request timeouts still counts."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._start = now()
        self._real = time.monotonic()

    def elapsed(self) -> float:
        return max(self._now() - self._start, time.monotonic() - self._real)


def _grid5000() -> Any:
    try:
        return importlib.import_module("grid5000")
    except ImportError:
        raise EnosMissingExtraError("grid5000", "g5k", feature="the Grid'5000 provider") from None


def validate_uri(uri: str) -> str:
    """``uri`` without its trailing slash; raises EnosConfigError when it is not an http(s) URL."""
    if not isinstance(uri, str) or not uri.strip():
        raise EnosConfigError(f"invalid Grid'5000 API uri {strip_credentials(uri)!r}: empty", path="$.uri", rule="uri")
    parsed = urllib.parse.urlparse(uri.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise EnosConfigError(
            f"invalid Grid'5000 API uri {strip_credentials(uri)!r}: expected http(s)://host[:port]/prefix",
            path="$.uri", rule="uri",
        )
    if parsed.query or parsed.fragment:
        raise EnosConfigError(f"invalid Grid'5000 API uri {strip_credentials(uri)!r}: no query or fragment allowed",
                              path="$.uri", rule="uri")
    return uri.strip().rstrip("/")


def read_conf_file(path: str | Path) -> dict[str, Any]:
    """Read a python-grid5000 YAML file, failing loudly (unlike ``Grid5000.from_yaml``)."""
    import yaml

    path = Path(path).expanduser()
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise EnosConfigError(f"cannot read Grid'5000 API configuration {path}: {exc.strerror}",
                              rule="file") from None
    except yaml.YAMLError as exc:
        raise EnosConfigError(f"Grid'5000 API configuration {path} is not valid YAML: {exc}",
                              rule="yaml") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise EnosConfigError(f"Grid'5000 API configuration {path} must be a mapping", rule="type")
    unknown = sorted(set(data) - _YAML_KEYS)
    if unknown:
        raise EnosConfigError(
            f"Grid'5000 API configuration {path}: unknown key(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(_YAML_KEYS))})", path=f"$.{unknown[0]}", rule="additionalProperties",
        )
    return data


class G5kClient:
    """A connection to the Grid'5000 API (or to an emulator of it).

    >>> client = G5kClient("http://127.0.0.1:8000/stable", "alice", "secret")
    >>> client.get("/sites")["items"]                          # doctest: +SKIP

    Build it from explicit settings, from a python-grid5000 YAML file (``conf_file``), or wrap
    an existing ``grid5000.Grid5000`` object with :meth:`wrap`.
    """

    def __init__(
        self,
        uri: str | None = None,
        username: str | None = None,
        password: str | None = None,
        *,
        verify_ssl: Any = None,
        timeout: float | tuple[float, float] | None = None,
        retries: int = 5,
        backoff: float | None = None,
        max_backoff: float | None = None,
        deadline: float | None = None,
        sleep: Callable[[float], Any] | None = None,
        now: Callable[[], float] | None = None,
        **extra: Any,
    ) -> None:
        uri = validate_uri(uri if uri is not None else DEFAULT_URI)
        gk = _grid5000().Grid5000(uri=uri, username=username, password=password,
                                  verify_ssl=verify_ssl, **extra)
        self._setup(gk, uri, username, retries=retries, backoff=backoff, max_backoff=max_backoff,
                    deadline=deadline, timeout=timeout, sleep=sleep, now=now)

    def _setup(self, gk: Any, uri: str, username: str | None, *, retries: int = 5, backoff: float | None = None,
               max_backoff: float | None = None, deadline: float | None = None,
               timeout: float | tuple[float, float] | None = None, sleep: Callable[[float], Any] | None = None,
               now: Callable[[], float] | None = None) -> None:
        """The state every client has, however it was built. Unset patience settings come from
        :func:`api_settings` (``enoslib.config``)."""
        settings = api_settings()
        self.uri = uri
        self.username = username
        self.retries = int(retries)
        self.backoff = float(settings["g5k_backoff"] if backoff is None else backoff)
        self.max_backoff = float(settings["g5k_max_backoff"] if max_backoff is None else max_backoff)
        # seconds one call may take, retries and timeouts included: a stalled API fails in bounded time
        self.deadline = float(settings["g5k_api_deadline"] if deadline is None else deadline)
        if timeout is None:
            timeout = getattr(gk, "timeout", None) or (settings["g5k_connect_timeout"], settings["g5k_read_timeout"])
        gk.timeout = timeout  # (connect, read) seconds of every request
        self.sleep: Callable[[float], Any] = sleep or time.sleep
        self.now: Callable[[], float] = now or time.time
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.gk = gk
        self._prepare()

    @classmethod
    def wrap(cls, gk: Any, **options: Any) -> G5kClient:
        """Use an existing ``grid5000.Grid5000`` connection (e.g. ``emulator.client()``)."""
        self = cls.__new__(cls)
        self._setup(gk, validate_uri(getattr(gk, "_uri", "")), getattr(gk, "username", None), **options)
        return self

    @classmethod
    def from_file(cls, path: str | Path = DEFAULT_CONF_FILE, **options: Any) -> G5kClient:
        """Settings from a python-grid5000 YAML file (``uri``, ``username``, ``password`` ...)."""
        settings = read_conf_file(path)
        if "uri" not in settings:
            logger.info("%s sets no uri: using %s", Path(path).expanduser(), DEFAULT_URI)
        return cls(**{**settings, **options})

    def _prepare(self) -> None:
        # the library must not retry on its own: this class decides (and counts) every request
        if self.gk._uri.rstrip("/") != self.uri:
            raise EnosConfigError(f"the Grid'5000 client points at {strip_credentials(self.gk._uri)!r}, "
                                  f"not {strip_credentials(self.uri)!r}",
                                  path="$.uri", rule="uri")
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry

        client = self

        class CountingAdapter(HTTPAdapter):
            def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
                with client._lock:
                    client.requests[request.method] += 1
                return super().send(request, *args, **kwargs)

        no_retry = Retry(total=0, connect=0, read=0, status=0, redirect=3, raise_on_status=False)
        adapter = CountingAdapter(max_retries=no_retry, pool_connections=16, pool_maxsize=32)
        self.gk.session.mount("http://", adapter)
        self.gk.session.mount("https://", adapter)

    @property
    def request_count(self) -> int:
        return sum(self.requests.values())

    @property
    def login(self) -> str:
        """The Grid'5000 login: the API username, else ``$USER`` (anonymous on a frontend)."""
        return self.username or os.environ.get("USER") or "anonymous"

    def __repr__(self) -> str:
        return f"G5kClient(uri={strip_credentials(self.uri)!r}, username={self.username!r})"

    __str__ = __repr__

    # -- requests ---------------------------------------------------------------------------
    def get(self, path: str, **query: Any) -> Any:
        """GET ``path`` (relative to the API root); the parsed JSON."""
        return self._call("get", path, lambda: self.gk.http_get(path, query_data=_query(query)))

    def items(self, path: str, **query: Any) -> list[dict[str, Any]]:
        """GET a collection; its ``items`` (or the bare list)."""
        data = self.get(path, **query)
        if isinstance(data, dict):
            return list(data.get("items", []))
        return list(data or [])

    def post(self, path: str, data: Any, *, reconcile: Callable[[], Any] | None = None,
             idempotent: bool = False) -> Any:
        """POST JSON ``data``. When the outcome is unknown (5xx, timeout after sending) the
        request is retried only if ``reconcile()`` returns None (the server did nothing);
        otherwise what ``reconcile`` found is returned. Without ``reconcile`` a POST is retried
        only on failures that prove it was not received (connection refused), unless the
        caller says doing it twice is harmless (``idempotent``)."""

        def send() -> Any:
            result = self.gk.http_post(path, post_data=data)
            return result if not hasattr(result, "status_code") else _json_or_none(result)

        return self._call("post", path, send, reconcile=reconcile, idempotent=idempotent)

    def put(self, path: str, data: Any) -> Any:
        def send() -> Any:
            return _json_or_none(self.gk.http_request("put", path, post_data=data))

        return self._call("put", path, send)

    def delete(self, path: str) -> None:
        self._call("delete", path, lambda: self.gk.http_delete(path))

    # -- retry machinery --------------------------------------------------------------------
    def _delay(self, attempt: int) -> float:
        return min(self.max_backoff, self.backoff * (2 ** attempt))

    def _call(self, method: str, path: str, send: Callable[[], Any], *,
              reconcile: Callable[[], Any] | None = None, idempotent: bool = True) -> Any:
        attempt = 0
        watch = Stopwatch(self.now)
        while True:
            try:
                return send()
            except BaseException as exc:
                error = self._classify(exc, method, path)
                if error is None:
                    raise
                sent = _may_have_been_received(exc)
                delay = self._delay(attempt)
                elapsed = watch.elapsed()
                late = elapsed + delay > self.deadline
                retry = error.transient and attempt < self.retries and not late
                if retry and not idempotent and sent:
                    if reconcile is None:
                        retry = False
                    else:
                        found = reconcile()
                        if found is not None:
                            logger.info("%s %s: the server did act despite the error; reusing its result",
                                        method.upper(), path)
                            return found
                if not retry:
                    if error.transient and (attempt or late):
                        why = (f"gave up after {elapsed:.0f}s (g5k_api_deadline={self.deadline:g}s)" if late
                               else f"after {attempt + 1} attempts")
                        error.message = f"{error.message} ({why})"
                        error.args = (error.message,)
                    raise error from exc
                logger.warning("%s %s failed (%s); retry %d/%d in %.1fs (giving up in %.0fs)", method.upper(),
                               path, error.message, attempt + 1, self.retries, delay,
                               max(0.0, self.deadline - elapsed))
                attempt += 1
                self.sleep(delay)

    def _classify(self, exc: BaseException, method: str, path: str) -> G5kApiError | None:
        """Our error for a library/transport exception, or None to let it through."""
        import requests

        g5k = _grid5000()
        where = f"{method.upper()} {strip_credentials(self.uri)}{path}"
        if isinstance(exc, g5k.exceptions.Grid5000Error):
            status = exc.response_code
            text = exc.error_message if isinstance(exc.error_message, str) else repr(exc.error_message)
            if status == 401:
                text = f"authentication refused for user {self.username!r}"
            return G5kApiError(f"{where}: {status} {text}".strip(), status=status, method=method, path=path,
                               body=text)
        if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                            requests.exceptions.RetryError, requests.exceptions.ChunkedEncodingError)):
            host = urllib.parse.urlparse(self.uri).hostname
            dns = _dns_failure(exc)
            if dns is not None:
                return G5kApiError(f"the Grid'5000 API is unreachable: {where}: cannot resolve the host name "
                                   f"{host!r} ({dns}); check the uri of your API configuration and this "
                                   "machine's network/DNS", status=None, method=method, path=path, unreachable=True)
            if _read_timed_out(exc):
                return G5kApiError(f"{where}: no answer within {_read_timeout(self.gk.timeout):g}s "
                                   f"(the API at {host} accepts connections but does not answer)",
                                   status=None, method=method, path=path)
            return G5kApiError(f"{where}: {type(exc).__name__}: {_short(exc)}", status=None,
                               method=method, path=path)
        return None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps (requests and urllib3 nest them in several ways)."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        cur = todo.pop()
        if not isinstance(cur, BaseException) or id(cur) in seen:
            continue
        seen.add(id(cur))
        yield cur
        todo.extend([cur.__cause__, cur.__context__, getattr(cur, "reason", None), *cur.args])


def _dns_failure(exc: BaseException) -> str | None:
    """The resolver's message when ``exc`` comes from a host name that does not resolve."""
    import socket

    for cur in _causes(exc):
        if isinstance(cur, socket.gaierror):
            return str(cur.strerror or cur)
        if type(cur).__name__ == "NameResolutionError":
            return _short(cur)
    return None


def _read_timed_out(exc: BaseException) -> bool:
    import requests

    return any(isinstance(cur, requests.exceptions.ReadTimeout) or type(cur).__name__ == "ReadTimeoutError"
               for cur in _causes(exc))


def _read_timeout(timeout: Any) -> float:
    value = timeout[1] if isinstance(timeout, (tuple, list)) else timeout
    return float("inf") if value is None else float(value)


def _may_have_been_received(exc: BaseException) -> bool:
    """False only when the request provably never reached the server."""
    import requests

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return False
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc)
        return not any(s in text for s in ("Connection refused", "Failed to establish", "Name or service"))
    return True


def _short(exc: BaseException) -> str:
    text = strip_credentials(exc)  # transport errors may quote the URL
    return text if len(text) < 200 else text[:197] + "..."


def _query(query: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (",".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
            for k, v in query.items() if v is not None}


def _json_or_none(response: Any) -> Any:
    if "application/json" in response.headers.get("Content-Type", "") and response.content:
        return response.json()
    return None


# -- the default connection -------------------------------------------------------------------
_default: dict[str, Any] = {}


def set_api(uri: str | None = None, username: str | None = None, password: str | None = None,
            *, client: Any = None, **options: Any) -> G5kClient:
    """Make every Grid'5000 object built without an explicit client use this connection.

    ``client`` may be a :class:`G5kClient` or a ``grid5000.Grid5000`` (e.g. an emulator's).
    """
    chosen = as_client(client) if client is not None else G5kClient(uri, username, password, **options)
    _default["client"] = chosen
    return chosen


def reset_api() -> None:
    """Forget the cached default API client (the next call reads the credentials again)."""
    _default.clear()


def as_client(client: Any = None) -> G5kClient:
    """A :class:`G5kClient` from ``client`` (one, a ``grid5000.Grid5000``, a dict of settings,
    or None: the default set with :func:`set_api`, else ``~/.python-grid5000.yaml``, else the
    public API URL)."""
    if isinstance(client, G5kClient):
        return client
    if isinstance(client, Mapping):
        return G5kClient(**client)
    if client is not None:
        if hasattr(client, "http_get") and hasattr(client, "_uri"):
            return G5kClient.wrap(client)
        raise TypeError(f"cannot use {type(client).__name__} as a Grid'5000 client")
    if "client" in _default:
        return _default["client"]
    conf_file = Path(os.environ.get("G5K_API_CONF", DEFAULT_CONF_FILE)).expanduser()
    if conf_file.is_file():
        _default["client"] = G5kClient.from_file(conf_file)
    else:
        logger.info("no %s: using the Grid'5000 API at %s without credentials", conf_file, DEFAULT_URI)
        _default["client"] = G5kClient(DEFAULT_URI)
    return _default["client"]
