"""The only module importing openstacksdk: connection, retries and the calls the providers make.

Credentials come from the configuration's ``rc_file`` (``export OS_...=...`` lines, as
OpenStack and Chameleon "openrc" files write them; ``$VAR`` expands from the environment, so
a password read by the script at login stays out of the file), or, when it is empty, from
``OS_*`` variables / ``clouds.yaml`` exactly as openstacksdk reads them. They are handed to
openstacksdk and never logged nor kept by this module.

Every call goes through :meth:`OpenstackClient.call`: transient failures (HTTP 5xx, connection
errors) are retried with bounded exponential backoff; other 4xx are raised at once.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from enoslib.errors import EnosConfigError, EnosMissingExtraError, EnosProviderError

logger = logging.getLogger(__name__)

#: every resource this library creates carries this mark (Neutron ``description``, Nova metadata)
MARK = "enoslib"
MARK_KEY = "enoslib_prefix"
# set on our servers when the keypair was created by us (so a later destroy can delete it)
KEYPAIR_KEY = "enoslib_keypair"

_ASSIGN = re.compile(r"\A(?:export\s+)?(OS_[A-Z0-9_]+)=(.*)\Z")


def mark(prefix: str) -> str:
    """The Neutron ``description`` of the resources made for ``prefix``."""
    return f"{MARK}:{prefix}"


def read_rc_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """``OS_*`` assignments of an OpenStack RC file, ``$VAR``/``${VAR}`` expanded from the
    environment and the file's earlier lines; other lines (``read``, ``echo``, ``unset``) are
    ignored. Raises :class:`EnosConfigError` naming the file when it cannot be read."""
    p = Path(path).expanduser()
    try:
        text = p.read_text()
    except OSError as exc:
        raise EnosConfigError(f"invalid openstack configuration at $.rc_file: cannot read {str(p)!r} "
                              f"({exc.strerror}) (rule: file)", path="$.rc_file", rule="file") from None
    values: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        m = _ASSIGN.match(line)
        if not m:
            continue
        try:
            words = shlex.split(m.group(2), comments=True)
        except ValueError:
            raise EnosConfigError(f"invalid openstack configuration at $.rc_file: {str(p)!r} line {lineno}: "
                                  f"unbalanced quotes in {m.group(1)} (rule: rc-file)",
                                  path="$.rc_file", rule="rc-file") from None
        value = words[0] if words else ""
        values[m.group(1)] = _expand(value, {**os.environ, **values})
    return values


def _expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$(?:\{(\w+)\}|(\w+))", lambda m: env.get(m.group(1) or m.group(2), ""), value)


def connect_kwargs(rc: dict[str, str]) -> dict[str, Any]:
    """``openstack.connect`` keyword arguments from ``OS_*`` values (``OS_AUTH_URL`` ->
    ``auth_url`` ...; ``OS_CLOUD`` -> ``cloud``)."""
    kwargs: dict[str, Any] = {}
    for key, value in rc.items():
        if value == "" or key in ("OS_PASSWORD_INPUT",):
            continue
        kwargs[key[3:].lower()] = value
    return kwargs


def transient(exc: BaseException) -> bool:
    """Worth retrying: 5xx answers, timeouts, connection errors (never other 4xx)."""
    import requests
    from keystoneauth1 import exceptions as ks

    status = getattr(exc, "status_code", None) or getattr(exc, "http_status", None)
    if isinstance(status, int):
        return status >= 500
    if type(exc).__name__ == "NotSupported" and "supported versions" in str(exc):
        return True  # the service's version discovery answered 5xx
    return isinstance(exc, (requests.ConnectionError, requests.Timeout, ks.ConnectFailure,
                            ks.ConnectTimeout, ks.RetriableConnectionFailure))


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an openstacksdk/keystoneauth error (None if unknown)."""
    status = getattr(exc, "status_code", None) or getattr(exc, "http_status", None)
    return status if isinstance(status, int) else None


class OpenstackClient:
    """An openstacksdk ``Connection`` with retries and plain-dict results.

    ``sleep`` is how waits pass (tests give an emulator's virtual clock ``advance``).
    """

    def __init__(self, connection: Any, *, sleep: Callable[[float], Any] = time.sleep,
                 retries: int = 6, backoff: float = 0.5, max_backoff: float = 8.0) -> None:
        self.conn = connection
        self.sleep = sleep
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff

    @classmethod
    def from_rc_file(cls, rc_file: str | None, **kwargs: Any) -> "OpenstackClient":
        try:
            import openstack
        except ImportError:
            raise EnosMissingExtraError("openstack", "openstack", feature="the OpenStack providers") from None
        if rc_file:
            args = connect_kwargs(read_rc_file(rc_file))
            use_yaml = "cloud" in args
            conn = openstack.connect(load_envvars=False, load_yaml_config=use_yaml, **args)
        else:
            conn = openstack.connect()
        return cls(conn, **kwargs)

    # -- calls ---------------------------------------------------------------------------------
    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``, retried on transient failures."""
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - classified below
                if attempt == self.retries or not transient(exc):
                    raise
                logger.debug("transient OpenStack error (%s), retry in %.1fs", type(exc).__name__, delay)
                self.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
        raise AssertionError("unreachable")

    def listing(self, fn: Callable[..., Iterable[Any]] | str, **query: Any) -> list[dict[str, Any]]:
        """A whole (paginated) listing as dicts, retried as one call."""
        return self.call(lambda: [_plain(r) for r in self._method(fn)(**query)])

    def _method(self, fn: Callable[..., Any] | str) -> Callable[..., Any]:
        if isinstance(fn, str):
            service, name = fn.split(".")
            return getattr(getattr(self.conn, service), name)
        return fn

    def find(self, fn: Callable[..., Any], name_or_id: str, **kwargs: Any) -> dict[str, Any] | None:
        """By name or id; None when missing (404). ``fn`` may be a ``"service.method"`` path,
        resolved inside the retried call (the service's version discovery can fail too)."""
        try:
            return _plain(self.call(lambda: self._method(fn)(name_or_id, ignore_missing=False, **kwargs)))
        except Exception as exc:  # noqa: BLE001
            from openstack.exceptions import NotFoundException

            if isinstance(exc, NotFoundException) or status_of(exc) == 404:
                return None
            raise

    # -- compute -------------------------------------------------------------------------------
    def flavor(self, name: str) -> dict[str, Any] | None:
        return self.find("compute.find_flavor", name)

    def image(self, name: str) -> dict[str, Any] | None:
        return self.find("image.find_image", name)

    def keypair(self, name: str) -> dict[str, Any] | None:
        return self.find("compute.find_keypair", name)

    def create_keypair(self, name: str, public_key: str) -> dict[str, Any]:
        return _plain(self.call(self.conn.compute.create_keypair, name=name, public_key=public_key))

    def delete_keypair(self, name: str) -> None:
        self.call(self.conn.compute.delete_keypair, name, ignore_missing=True)

    def servers(self, prefix: str) -> list[dict[str, Any]]:
        """Servers whose name starts with ``<prefix>-`` (Nova's ``name`` filter is a regex)."""
        pattern = re.compile(rf"\A{re.escape(prefix)}-[0-9]+\Z")
        found = self.listing("compute.servers", details=True, name=f"^{re.escape(prefix)}-")
        return [s for s in found if pattern.match(s.get("name") or "")]

    def create_server(self, **attrs: Any) -> dict[str, Any]:
        # not retried blindly: a 5xx may still have made the server (see provider._boot)
        return _plain(self.conn.compute.create_server(**attrs))

    def delete_server(self, server_id: str) -> None:
        self.call(self.conn.compute.delete_server, server_id, ignore_missing=True)

    def server(self, server_id: str) -> dict[str, Any] | None:
        return self.find("compute.find_server", server_id)

    # -- network -------------------------------------------------------------------------------
    def network(self, name: str) -> dict[str, Any] | None:
        return self.find("network.find_network", name)

    def external_network(self) -> dict[str, Any] | None:
        nets = self.listing("network.networks", **{"router:external": True})
        return nets[0] if nets else None

    def subnet(self, name: str, network_id: str | None = None) -> dict[str, Any] | None:
        if network_id:
            return self.find("network.find_subnet", name, network_id=network_id)
        return self.find("network.find_subnet", name)

    def router(self, name: str) -> dict[str, Any] | None:
        return self.find("network.find_router", name)

    def security_group(self, name: str) -> dict[str, Any] | None:
        return self.find("network.find_security_group", name)

    def ports(self, **query: Any) -> list[dict[str, Any]]:
        return self.listing("network.ports", **query)

    def floating_ips(self, **query: Any) -> list[dict[str, Any]]:
        return self.listing("network.ips", **query)

    def owned(self, kind: str, prefix: str) -> list[dict[str, Any]]:
        """The Neutron resources of ``kind`` marked as made for ``prefix``."""
        fn = {"network": self.conn.network.networks, "subnet": self.conn.network.subnets,
              "router": self.conn.network.routers, "security_group": self.conn.network.security_groups,
              "floating_ip": self.conn.network.ips}[kind]
        return [r for r in self.listing(fn) if r.get("description") == mark(prefix)]

    def create(self, kind: str, **attrs: Any) -> dict[str, Any]:
        fn = {"network": self.conn.network.create_network, "subnet": self.conn.network.create_subnet,
              "router": self.conn.network.create_router,
              "security_group": self.conn.network.create_security_group,
              "security_group_rule": self.conn.network.create_security_group_rule,
              "floating_ip": self.conn.network.create_ip}[kind]
        return _plain(fn(**attrs))

    def delete(self, kind: str, resource_id: str) -> None:
        fn = {"network": self.conn.network.delete_network, "subnet": self.conn.network.delete_subnet,
              "router": self.conn.network.delete_router,
              "security_group": self.conn.network.delete_security_group,
              "floating_ip": self.conn.network.delete_ip}[kind]
        self.call(fn, resource_id, ignore_missing=True)

    def add_router_interface(self, router_id: str, subnet_id: str) -> None:
        self.call(self.conn.network.add_interface_to_router, router_id, subnet_id)

    def remove_router_interface(self, router_id: str, subnet_id: str) -> None:
        try:
            self.call(self.conn.network.remove_interface_from_router, router_id, subnet_id)
        except Exception as exc:  # noqa: BLE001
            if status_of(exc) != 404:
                raise

    def session(self) -> Any:
        """The keystoneauth session (for other clients of the same cloud, e.g. Blazar)."""
        return self.conn.session

    def region(self) -> str | None:
        return getattr(self.conn.config, "region_name", None) or None


def _plain(resource: Any) -> Any:
    """An SDK resource as a plain dict (None stays None)."""
    if resource is None or isinstance(resource, dict):
        return resource
    return dict(resource.items())


def describe_error(exc: BaseException) -> str:
    """A one-line description of an SDK error, without request headers (tokens)."""
    status = status_of(exc)
    text = getattr(exc, "details", None) or getattr(exc, "message", None) or str(exc)
    text = str(text).splitlines()[0] if str(text) else type(exc).__name__
    return f"HTTP {status}: {text}" if status else f"{type(exc).__name__}: {text}"
