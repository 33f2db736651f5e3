"""A local port forwarded to a port of a host's own loopback, over OpenSSH (``ssh -N -L``).

It takes the host's usual connection settings (user, key, ``~/.ssh/config``, gateway), so it
goes through Grid'5000's access host whenever the host itself is reached that way.
"""

from __future__ import annotations

import socket
import subprocess
import time

from enoslib.errors import EnosProviderError
from enoslib.objects import Host

__all__ = ["SshForward"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SshForward:
    """``127.0.0.1:<local_port>`` -> ``host``'s ``127.0.0.1:port``, while open."""

    def __init__(self, host: Host, port: int, timeout: float = 60.0) -> None:
        self.host, self.port, self.timeout = host, int(port), timeout
        self.local_port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def open(self) -> tuple[str, int]:
        """Start the forward; ``("127.0.0.1", local port)`` once it accepts connections."""
        from enoslib.api.ssh import connection

        conn = connection(self.host)
        self.local_port = _free_port()
        # an ssh of its own (not a client of the shared master): its forward lives and dies with it
        argv = ["ssh", "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "ExitOnForwardFailure=yes",
                "-N", "-L", f"127.0.0.1:{self.local_port}:127.0.0.1:{self.port}", *conn.options, conn.destination]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + self.timeout
        while True:
            if self.proc.poll() is not None:
                err = (self.proc.stderr.read() if self.proc.stderr else b"").decode(errors="replace").strip()
                self.proc = None
                raise EnosProviderError(f"cannot forward a port to {self.host.address}:{self.port} over SSH: "
                                        f"{err or 'ssh exited'}")
            try:
                with socket.create_connection(("127.0.0.1", self.local_port), timeout=1):
                    return "127.0.0.1", self.local_port
            except OSError:
                if time.monotonic() > deadline:
                    self.close()
                    raise EnosProviderError(f"the SSH forward to {self.host.address}:{self.port} did not come up "
                                            f"in {self.timeout:.0f}s") from None
                time.sleep(0.1)

    def close(self) -> None:
        """Stop the forward (idempotent)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stderr:
                proc.stderr.close()
