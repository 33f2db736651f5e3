"""execo's serial ports and port forwarding: ``Serial``, ``SerialSsh``, ``RemoteSerial``,
``PortForwarder``.

A serial port is a process reading the device (its ``stdout``, ``expect``) and writing to it
what ``write()`` gets, after ``stty`` sets the speed and raw mode::

    with SerialSsh("host", "/dev/ttyUSB1", 115200).start() as serial:
        serial.write("\\n")
        serial.expect(r"^\\w+ login:\\s*$")
"""

from __future__ import annotations

import shlex
import socket
import threading
import time
from typing import Any

from enoslib.execo.action import Action, _split_kwargs
from enoslib.execo.host import get_hosts_list
from enoslib.execo.process import Process, SshProcess, ssh_host
from enoslib.objects import Host as _EnosHost


def serial_command(device: str, speed: int) -> str:
    """Shell command bridging stdin/stdout and ``device`` at ``speed`` bauds."""
    dev = shlex.quote(str(device))
    return (f"stty -F {dev} {int(speed)} raw -echo -echoe -echok -echoctl -echoke && "
            f"{{ cat {dev} & reader=$!; cat > {dev}; kill $reader; }}")


class Serial(Process):
    """A local serial port ``device`` at ``speed`` bauds, as a process."""

    def __init__(self, device: str, speed: int, **kwargs: Any) -> None:
        kwargs.setdefault("ignore_exit_code", True)  # ends by being killed
        kwargs.setdefault("nolog_exit_code", True)
        super().__init__(serial_command(device, speed), shell=True, **kwargs)
        self.device, self.speed = device, speed


class SerialSsh(SshProcess):
    """A serial port ``device`` of ``host`` at ``speed`` bauds, over ssh."""

    def __init__(self, host: str | _EnosHost, device: str, speed: int,
                 connection_params: dict[str, Any] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("ignore_exit_code", True)
        kwargs.setdefault("nolog_exit_code", True)
        super().__init__(serial_command(device, speed), host, connection_params, **kwargs)
        self.device, self.speed = device, speed


class RemoteSerial(Action):
    """The serial port ``device`` of every host, in parallel (one :class:`SerialSsh` each)."""

    def __init__(self, hosts: Any, device: str, speed: int,
                 connection_params: dict[str, Any] | None = None,
                 process_args: dict[str, Any] | None = None, **kwargs: Any) -> None:
        action_args, process_args = _split_kwargs(process_args, kwargs)
        super().__init__(**action_args)
        self.hosts = get_hosts_list(hosts)
        self.device, self.speed = device, speed
        self.processes = [SerialSsh(h, device, speed, connection_params, **process_args)
                          for h in self.hosts]


def _free_port(bind_address: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in bind_address else socket.AF_INET) as s:
        s.bind((bind_address, 0))
        return int(s.getsockname()[1])


class PortForwarder(SshProcess):
    """Forward ``local_port`` (default: a free one) on ``bind_address`` (default
    127.0.0.1) to ``remote_host:remote_port`` as seen from ``host``, through ssh, while the
    process runs. ``forwarding`` (a threading.Event) is set once the local port accepts
    connections; ``kill()`` stops the forwarding."""

    def __init__(self, host: str | _EnosHost, remote_host: str, remote_port: int,
                 local_port: int | None = None, bind_address: str | None = None,
                 connection_params: dict[str, Any] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("ignore_exit_code", True)  # ends by being killed
        kwargs.setdefault("nolog_exit_code", True)
        super().__init__(f"forward {remote_host}:{remote_port}", host, connection_params, **kwargs)
        self.remote_host, self.remote_port = str(remote_host), int(remote_port)
        self.bind_address = bind_address or "127.0.0.1"
        self.local_port = int(local_port) if local_port else _free_port(self.bind_address)
        self.forwarding = threading.Event()

    def _argv(self) -> tuple[list[str], bool]:
        from enoslib.api.ssh import connection

        self._pid_buffer = None  # no remote command: nothing to mark
        self._ssh_host = ssh_host(self.host, self.connection_params)
        conn = connection(self._ssh_host)
        bind = f"[{self.bind_address}]" if ":" in self.bind_address else self.bind_address
        remote = f"[{self.remote_host}]" if ":" in self.remote_host else self.remote_host
        # its own connection (not the shared master), so killing it ends the forwarding;
        # ssh takes the first value given for an option
        argv = [self.connection_params.get("ssh") or "ssh", "-N",
                "-o", "ControlMaster=no", "-o", "ControlPath=none",
                "-o", "ExitOnForwardFailure=yes",
                "-L", f"{bind}:{self.local_port}:{remote}:{self.remote_port}",
                *conn.options, conn.destination]
        return argv, False

    def start(self) -> "PortForwarder":
        self.forwarding.clear()
        super().start()
        threading.Thread(target=self._probe, daemon=True, name="enoslib-execo-forward").start()
        return self

    def _probe(self) -> None:
        while not self.ended:
            try:
                with socket.create_connection((self.bind_address, self.local_port), timeout=1):
                    self.forwarding.set()
                    return
            except OSError:
                time.sleep(0.1)
