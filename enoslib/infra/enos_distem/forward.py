"""A local port forwarded to a port of a host's own loopback, over OpenSSH (``ssh -N -L``).

It takes the host's usual connection settings (user, key, ``~/.ssh/config``, gateway), so it
goes through Grid'5000's access host whenever the host itself is reached that way. The
forwarding process is execo's :class:`~enoslib.execo.ports.PortForwarder`; this adds the
provider's errors and a bounded wait for the port to accept connections.
"""

from __future__ import annotations

import time
from typing import Any

from enoslib.errors import EnosProviderError
from enoslib.objects import Host

__all__ = ["SshForward"]


class SshForward:
    """``127.0.0.1:<local_port>`` -> ``host``'s ``127.0.0.1:port``, while open."""

    def __init__(self, host: Host, port: int, timeout: float = 60.0) -> None:
        self.host, self.port, self.timeout = host, int(port), timeout
        self.local_port = 0
        self.proc: Any = None

    def open(self) -> tuple[str, int]:
        """Start the forward; ``("127.0.0.1", local port)`` once it accepts connections."""
        from enoslib.execo.ports import PortForwarder

        proc = self.proc = PortForwarder(self.host, "127.0.0.1", self.port).start()
        self.local_port = proc.local_port
        deadline = time.monotonic() + self.timeout
        while not proc.forwarding.wait(0.1):
            if proc.ended:
                self.proc = None
                raise EnosProviderError(f"cannot forward a port to {self.host.address}:{self.port} over SSH: "
                                        f"{proc.stderr.strip() or 'ssh exited'}")
            if time.monotonic() > deadline:
                self.close()
                raise EnosProviderError(f"the SSH forward to {self.host.address}:{self.port} did not come up "
                                        f"in {self.timeout:.0f}s")
        return "127.0.0.1", self.local_port

    def close(self) -> None:
        """Stop the forward (idempotent)."""
        proc, self.proc = self.proc, None
        if proc is not None and not proc.ended:
            proc.kill()
            proc.wait(timeout=10)
