"""The only module that imports ``iotlabcli`` (lazily): one authenticated IoT-LAB REST client.

``iotlabcli`` fixes its base URL at import time (``iotlabcli.rest.Api.url``, from
``~/.iotlab.api-url`` or ``IOTLAB_API_URL``) and reads the rc file path at import too. Here the
URL and the credentials are resolved when a client is made, so pointing a script at an emulator
(``IOTLAB_API_URL=http://127.0.0.1:PORT/api/``) works whenever the variable is set, and the URL
is kept per client (an instance attribute), never patched globally.

``iotlabcli`` accepts only 200 and 204 answers: anything else, 201 included, comes back as an
``HTTPError``. A 2xx carried in such an error is read back as the success it is; 5xx answers and
network errors are retried with a bounded backoff (not submissions: a lost answer may hide an
experiment that exists, which the provider looks up by name instead); 4xx are not retried.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from enoslib.errors import EnosConfigError, EnosMissingExtraError, EnosProviderError

logger = logging.getLogger(__name__)

DEFAULT_URL = "https://www.iot-lab.info/api/"
ACTIVE_STATES = ("Running", "Launching", "toLaunch", "Waiting")
ENDED_STATES = ("Terminated", "Stopped", "Error")


def _iotlabcli() -> Any:
    try:
        import iotlabcli.experiment  # noqa: F401
        import iotlabcli.node  # noqa: F401
        import iotlabcli.rest  # noqa: F401
    except ImportError:
        raise EnosMissingExtraError("iotlabcli", "iotlab", feature="the IoT-LAB provider") from None
    import iotlabcli

    return iotlabcli


def api_url(url: str | None = None) -> str:
    """The API base URL: ``url``, else ``IOTLAB_API_URL``, else ``~/.iotlab.api-url``, else the
    real testbed's; always with its trailing slash (paths are joined with urljoin)."""
    if not url:
        url = os.environ.get("IOTLAB_API_URL")
    if not url:
        path = Path("~/.iotlab.api-url").expanduser()
        if path.is_file():
            url = path.read_text().strip()
    url = url or DEFAULT_URL
    return url if url.endswith("/") else url + "/"


def read_credentials() -> tuple[str | None, str | None]:
    """(login, password) from the rc file (``IOTLAB_PASSWORD_FILE`` or ``~/.iotlabrc``, one line
    ``login:base64(password)``), read now, not at import time; (None, None) when absent."""
    path = Path(os.environ.get("IOTLAB_PASSWORD_FILE") or "~/.iotlabrc").expanduser()
    try:
        text = path.read_text().strip()
    except OSError:
        return None, None
    login, sep, encoded = text.partition(":")
    if not sep or not login:
        raise EnosConfigError(f"{path}: expected one line 'login:base64(password)'")
    try:
        return login, base64.b64decode(encoded).decode()
    except ValueError:
        raise EnosConfigError(f"{path}: the password is not base64 (write it with `iotlab-auth -u LOGIN`)") from None


class IotlabApiError(EnosProviderError):
    """An answer of the IoT-LAB API that is an error (``code``: HTTP status, or None for a
    network error)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class IotlabClient:
    """Authenticated calls to the IoT-LAB REST API through ``iotlabcli``.

    ``poll_interval`` paces the waits (an emulator with a fast clock can make it small);
    ``sleep`` and ``now`` are the clock used while waiting and backing off.
    """

    def __init__(self, user: str | None = None, password: str | None = None, url: str | None = None, *,
                 poll_interval: float = 5.0, retries: int = 4, backoff: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep, now: Callable[[], float] = time.time) -> None:
        if user is None:
            user, password = read_credentials()
        if not user or password is None:
            raise EnosConfigError(
                "no IoT-LAB credentials: run `iotlab-auth -u LOGIN` (writes ~/.iotlabrc) or pass "
                "user= and password= to the client")
        self.cli = _iotlabcli()
        self.user = user
        self.url = api_url(url)
        self.api = self.cli.rest.Api(user, password)
        self.api.url = self.url  # per client, instead of the class attribute frozen at import
        self.poll_interval, self.retries, self.backoff = poll_interval, retries, backoff
        self.sleep, self.now = sleep, now

    def __repr__(self) -> str:
        return f"IotlabClient(user={self.user!r}, url={self.url!r})"

    # -- one call, with the answer normalised ----------------------------------------------------
    def call(self, what: str, fn: Callable[..., Any], *args: Any, retry: bool = True, **kwargs: Any) -> Any:
        from urllib.error import HTTPError

        delay = self.backoff
        for attempt in range(self.retries + 1 if retry else 1):
            try:
                return fn(*args, **kwargs)
            except HTTPError as err:
                body = str(err.msg or "").strip()
                if 200 <= err.code < 300:  # iotlabcli refuses every success but 200/204
                    try:
                        return json.loads(body) if body else None
                    except ValueError:
                        return body
                error = IotlabApiError(f"IoT-LAB API, {what}: HTTP {err.code}: {_message(body)}", err.code)
                # OAR's answer to a second stop is a 500 that no retry changes
                transient = (err.code >= 500 or err.code == 429) and "already killed" not in body
            except RuntimeError as err:  # iotlabcli's wrapping of network errors
                error = IotlabApiError(f"IoT-LAB API, {what}: {_network_message(err)} ({self.url})", None)
                transient = True
            if not (retry and transient) or attempt == self.retries:
                raise error
            logger.warning("%s; retrying in %.1fs", error, delay)
            self.sleep(delay)
            delay = min(delay * 2, 30.0)
        raise AssertionError("unreachable")

    # -- experiments -----------------------------------------------------------------------------
    def submit(self, name: str, minutes: int, groups: Sequence[dict[str, Any]], start_time: int | None) -> int:
        """Submit one experiment; ``groups``: ``{"archi", "site", "number", "mobile"}`` or
        ``{"hostname": [...]}``, each with optional ``image`` and ``profile``. Not retried."""
        exp = self.cli.experiment
        resources = []
        for g in groups:
            nodes = sorted(g["hostname"]) if "hostname" in g else exp.AliasNodes(
                g["number"], g["site"], g["archi"], g.get("mobile", False))
            resources.append(exp.exp_resources(nodes, g.get("image"), g.get("profile")))
        answer = self.call(f"submitting experiment {name!r}", exp.submit_experiment, self.api, name, minutes,
                           resources, start_time, retry=False)
        return int(answer["id"])

    def experiment(self, exp_id: int) -> dict[str, Any]:
        return self.call(f"experiment {exp_id}", self.cli.experiment.get_experiment, self.api, exp_id)

    def experiment_nodes(self, exp_id: int) -> list[dict[str, Any]]:
        answer = self.call(f"nodes of experiment {exp_id}", self.cli.experiment.get_experiment, self.api,
                           exp_id, "nodes")
        return list(answer.get("items", []))

    def active_experiments(self, name: str | None = None) -> list[dict[str, Any]]:
        """This user's experiments not ended yet (optionally only those named ``name``), oldest first."""
        answer = self.call("listing experiments", self.cli.experiment.get_experiments_list, self.api,
                           ",".join(ACTIVE_STATES), 0, 0)
        items = [e for e in answer.get("items", []) if name is None or e.get("name") == name]
        return sorted(items, key=lambda e: int(e["id"]))

    def stop(self, exp_id: int) -> bool:
        """Stop an experiment; False when it had already ended."""
        try:
            self.call(f"stopping experiment {exp_id}", self.cli.experiment.stop_experiment, self.api, exp_id)
        except IotlabApiError as err:
            if "already killed" in str(err) or err.code == 404:
                return False
            state = self._state_or_none(exp_id)
            if state in ENDED_STATES:
                return False
            raise
        return True

    def _state_or_none(self, exp_id: int) -> str | None:
        try:
            return str(self.experiment(exp_id).get("state"))
        except IotlabApiError:
            return None

    # -- nodes -----------------------------------------------------------------------------------
    def node_command(self, command: str, exp_id: int, nodes: Sequence[str], option: str | None = None
                     ) -> tuple[list[str], list[str]]:
        """Run ``command`` (start, stop, reset, flash, profile ...) on ``nodes``; (ok, failed)."""
        answer = self.call(f"{command} on {len(nodes)} node(s) of experiment {exp_id}",
                           self.cli.node.node_command, self.api, command, exp_id, list(nodes), option) or {}
        return list(answer.get("0", [])), list(answer.get("1", []))

    def testbed_nodes(self, **selection: str) -> list[dict[str, Any]]:
        answer = self.call("listing nodes", self.api.get_nodes, **selection)
        return list(answer.get("items", []))

    def gantt(self, start: float, stop: float) -> list[dict[str, Any]]:
        """Experiments holding nodes between ``start`` and ``stop`` (epoch seconds)."""
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        url = (f"drawgantt/experiments?start={time.strftime(fmt, time.gmtime(start))}"
               f"&stop={time.strftime(fmt, time.gmtime(stop))}")
        return list((self.call("planning", self.api.method, url) or {}).get("items", []))

    # -- monitoring profiles -----------------------------------------------------------------------
    def add_profile(self, profile: dict[str, Any]) -> None:
        self.call(f"adding profile {profile.get('profilename')!r}", self.api.add_profile, profile)


def _message(body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body[:300] or "(no body)"
    if isinstance(data, dict) and "message" in data:
        return str(data["message"])[:300]
    return body[:300]


def _network_message(err: RuntimeError) -> str:
    info = err.args[0] if err.args else None
    if isinstance(info, tuple) and len(info) >= 2:
        return f"{type(info[1]).__name__}: {info[1]}"
    return str(err)
