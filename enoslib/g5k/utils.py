"""execo_g5k.utils: ``get_kavlan_host_name`` and ``G5kAutoPortForwarder``."""

from __future__ import annotations

from typing import Any

from enoslib.g5k.api_utils import get_kavlan_host_name
from enoslib.infra.enos_g5k.tunnel import _AUTO, G5kTunnel

__all__ = ["G5kAutoPortForwarder", "get_kavlan_host_name"]


class G5kAutoPortForwarder:
    """``with G5kAutoPortForwarder(site, host, port) as (address, port):`` reach ``host:port``
    inside Grid'5000: directly from inside, through an SSH tunnel via the access host from
    outside (execo goes through the site's frontend; ``site`` is kept for compatibility).
    ``gateway`` / ``user`` choose another jump host (None: no tunnel)."""

    def __init__(self, site: str, host: str, port: int, *, gateway: Any = _AUTO, user: str | None = None,
                 **ssh_options: Any) -> None:
        self.site = site
        self._tunnel = G5kTunnel(host, port, gateway=gateway, user=user, **ssh_options)

    def __enter__(self) -> tuple[str, int]:
        address, port, _ = self._tunnel.start()
        return address, port

    def __exit__(self, *exc: object) -> None:
        self._tunnel.close()
