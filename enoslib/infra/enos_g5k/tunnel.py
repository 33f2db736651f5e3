"""SSH tunnels from this machine to a service inside Grid'5000 (through the access host).

>>> with G5kTunnel("paravance-1.rennes.grid5000.fr", 80) as (address, port, _):   # doctest: +SKIP
...     requests.get(f"http://{address}:{port}/")

No tunnel is made (the target is returned as is) when there is no gateway, e.g. when the
script runs on a Grid'5000 frontend. Needs ``sshtunnel`` (``pip install 'enoslib[g5k]'``).
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from enoslib.errors import EnosMissingExtraError

logger = logging.getLogger(__name__)


class G5kTunnel:
    """A local port forwarded to ``address:port`` through ``gateway`` (an SSH jump host)."""

    def __init__(self, address: str, port: int, *, local_port: int = 0, gateway: str | None = None,
                 user: str | None = None, gateway_port: int = 22, **ssh_options: Any) -> None:
        self.address, self.port, self.local_port = address, int(port), int(local_port)
        self.gateway, self.user, self.gateway_port = gateway, user, int(gateway_port)
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
            (self.gateway, self.gateway_port), ssh_username=self.user,
            remote_bind_address=(self.address, self.port),
            local_bind_address=("127.0.0.1", self.local_port), **self.ssh_options)
        self.forwarder.start()
        host, port = self.forwarder.local_bind_address
        return host, int(port), self.forwarder

    def close(self) -> None:
        if self.forwarder is not None:
            self.forwarder.stop(force=True)
            self.forwarder = None

    def __enter__(self) -> tuple[str, int, Any]:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
