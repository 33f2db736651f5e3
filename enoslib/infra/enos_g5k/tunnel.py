"""SSH tunnels from this machine to a service inside Grid'5000 (through the access host).

>>> with G5kTunnel("paravance-1.rennes.grid5000.fr", 80) as (address, port, _):   # doctest: +SKIP
...     requests.get(f"http://{address}:{port}/")

By default the gateway is Grid'5000's access host, with the API login, when this machine is
outside Grid'5000; no tunnel is made (the target is returned as is) inside Grid'5000 or when
``gateway=None`` is given. Needs ``sshtunnel`` (``pip install 'enoslib[g5k]'``).
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from enoslib.errors import EnosMissingExtraError
from enoslib.infra.enos_g5k.constants import DEFAULT_ACCESS_HOST

logger = logging.getLogger(__name__)


_AUTO: Any = "auto"


class G5kTunnel:
    """A local port forwarded to ``address:port`` through ``gateway`` (an SSH jump host).

    ``local_port`` 0 picks a free port. ``gateway_port`` None: the ``Port`` of ``~/.ssh/config``
    for the gateway, else 22 (a laptop's ssh_config may alias the gateway).
    """

    def __init__(self, address: str, port: int, local_port: int = 0, *, gateway: str | None = _AUTO,
                 user: str | None = None, gateway_port: int | None = None, **ssh_options: Any) -> None:
        if gateway is _AUTO:
            from enoslib.infra.enos_g5k.remote import use_access_host

            gateway = DEFAULT_ACCESS_HOST if use_access_host() else None
            if gateway and user is None:
                from enoslib.infra.enos_g5k.client import as_client

                user = as_client().login
        self.address, self.port, self.local_port = address, int(port), int(local_port)
        self.gateway, self.user = gateway, user
        self.gateway_port = int(gateway_port) if gateway_port is not None else None
        self.ssh_options = ssh_options
        self.forwarder: Any = None

    def start(self) -> tuple[str, int, Any]:
        """Open the tunnel; (local address, local port, the sshtunnel forwarder or None)."""
        if not self.gateway:
            return self.address, self.port, None
        try:
            sshtunnel = importlib.import_module("sshtunnel")
        except ImportError:
            raise EnosMissingExtraError("sshtunnel", "g5k", feature="G5kTunnel") from None
        logger.debug("tunnel 127.0.0.1:%s -> %s:%s through %s", self.local_port, self.address, self.port, self.gateway)
        self.forwarder = sshtunnel.SSHTunnelForwarder(
            (self.gateway, self.gateway_port) if self.gateway_port else self.gateway, ssh_username=self.user,
            remote_bind_address=(self.address, self.port),
            local_bind_address=("127.0.0.1", self.local_port), **self.ssh_options)
        self.forwarder.start()
        host, port = self.forwarder.local_bind_address
        return host, int(port), self.forwarder

    def close(self) -> None:
        """Close the tunnel (connections in flight are cut)."""
        if self.forwarder is not None:
            self.forwarder.stop(force=True)
            self.forwarder = None

    def __enter__(self) -> tuple[str, int, Any]:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> OpenTunnel:
        """Start the tunnel; ``(local address, local port, forwarder or None)`` that also closes
        it when used as a context manager."""
        return OpenTunnel(self, self.start())


class OpenTunnel(tuple):  # type: ignore[type-arg]
    """A started tunnel: ``(local address, local port, forwarder or None)``, as EnOSlib's
    ``G5k.tunnel`` returns it; ``with`` closes it on exit."""

    tunnel: G5kTunnel

    def __new__(cls, tunnel: G5kTunnel, values: tuple[str, int, Any]) -> OpenTunnel:
        self = super().__new__(cls, values)
        self.tunnel = tunnel
        return self

    def __enter__(self) -> OpenTunnel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.tunnel.close()

    def close(self) -> None:
        self.tunnel.close()


class tunnel_method:  # noqa: N801 - used as a decorator, like staticmethod
    """``provider.tunnel(address, port)`` goes through the provider's SSH jump settings;
    ``G5k.tunnel(address, port)`` (documented as a static method) through the defaults."""

    def __init__(self, func: Any) -> None:
        self.func = func
        self.__doc__ = func.__doc__

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            def static(address: str, port: int, local_port: int = 0) -> OpenTunnel:
                return G5kTunnel(address, port, local_port).open()

            static.__doc__ = self.func.__doc__
            return static
        return self.func.__get__(obj, owner)
