"""Tools around the boards of an experiment, all run from the site's frontend.

* :class:`IotlabSerial` -- the board's serial port: interactively (read/write from this
  machine, the bytes carried by ``ssh -W <board>:20000`` through the frontend), or logged on the
  frontend by ``serial_aggregator`` into ``~/.iot-lab/<exp_id>/log/<board>_serial.log``.
* :class:`IotlabSniffer` -- the board's radio sniffer, written by ``sniffer_aggregator`` into
  ``~/.iot-lab/<exp_id>/sniffer/<board>.pcap`` on the frontend.

Both are context managers; the tools they start on the frontend are bounded by the experiment's
walltime and stopped on exit (errors and Ctrl-C included).
"""

from __future__ import annotations

import logging
import os
import select
import shlex
import subprocess
import time
from typing import Any

from enoslib.errors import EnosProviderError
from enoslib.infra.enos_iotlab.objects import IotlabSensor

logger = logging.getLogger(__name__)

SERIAL_PORT = 20000


def _node_list(sensor: IotlabSensor) -> str:
    """``-l`` argument of the aggregators: ``site,archi,number`` (``grenoble,m3,1``)."""
    archi, _, number = sensor.alias.rpartition("-")
    return f"{sensor.site},{archi},{number}"


class _FrontendTool:
    """A command kept running in the background on the sensor's frontend (pid in a file)."""

    def __init__(self, sensor: IotlabSensor, name: str, timeout: float | None) -> None:
        self.sensor = sensor
        self.name = name
        self.timeout = timeout
        self.pidfile = f".iot-lab/{sensor.exp_id}/.{name}-{sensor.alias}.pid"

    def _run(self, command: str, what: str) -> Any:
        from enoslib.api import run_command

        return run_command(command, roles=[self.sensor.frontend], task_name=what, timeout=60)

    def start(self, argv: list[str], output: str, stdout_to_output: bool) -> None:
        directory = os.path.dirname(output)
        limit = int(self.timeout) if self.timeout and self.timeout > 0 else 0
        tool = shlex.join((["timeout", str(limit)] if limit else []) + argv)
        errors = shlex.quote(self.pidfile[:-len(".pid")] + ".err")
        redirect = f"> {shlex.quote(output)} 2>&1" if stdout_to_output else f"> /dev/null 2> {errors}"
        script = (f"mkdir -p {shlex.quote(directory)} && "
                  f"{{ setsid {tool} {redirect} < /dev/null & echo $! > {shlex.quote(self.pidfile)}; }}")
        self._run(script, f"starting {self.name} for {self.sensor.alias}")
        logger.info("%s: %s started on %s (%s)", self.sensor.alias, self.name, self.sensor.frontend.address, output)

    def stop(self) -> None:
        pid, errors = shlex.quote(self.pidfile), shlex.quote(self.pidfile[:-len(".pid")] + ".err")
        script = (f"if [ -f {pid} ]; then kill $(cat {pid}) 2>/dev/null; "
                  f"for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 $(cat {pid}) 2>/dev/null || break; sleep 0.1; done; "
                  f"rm -f {pid}; fi; [ -s {errors} ] || rm -f {errors}")
        self._run(script, f"stopping {self.name} for {self.sensor.alias}")


def _walltime_seconds(sensor: IotlabSensor) -> float | None:
    try:
        exp = sensor.iotlab_client.experiment(sensor.exp_id)
    except EnosProviderError:
        return None
    minutes = exp.get("submitted_duration") or exp.get("duration")
    return float(minutes) * 60 if minutes else None


class IotlabSerial:
    """The serial port of ``sensor``.

    ``interactive=True``: :meth:`write` and :meth:`read` talk to the board from this machine.
    Otherwise (logging mode) the frontend's ``serial_aggregator`` writes everything the board
    prints to :attr:`filename` (relative to the login's home on the frontend) until
    :meth:`disable_logging_serial` (or the walltime).
    """

    def __init__(self, sensor: IotlabSensor, serial_port: int = SERIAL_PORT, interactive: bool = False,
                 timeout: float = 5) -> None:
        self.sensor = sensor
        self.serial_port = int(serial_port)
        self.interactive = interactive
        self.timeout = timeout
        self.filename = f".iot-lab/{sensor.exp_id}/log/{sensor.alias}_serial.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._tool: _FrontendTool | None = None

    # -- interactive ------------------------------------------------------------------------
    def open_serial_conn(self) -> None:
        """Connect to the board's serial port (an ``ssh -W`` stream through the frontend)."""
        from enoslib.api.ssh import connection

        conn = connection(self.sensor.frontend)
        # a stream of its own (no multiplexing): closing it never disturbs other sessions
        argv = ["ssh", "-o", "ControlMaster=no", "-o", "ControlPath=none", *conn.options,
                "-W", f"{self.sensor.address}:{self.serial_port}", conn.destination]
        self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, start_new_session=True)
        logger.info("%s: serial connection through %s", self.sensor.alias, conn.destination)

    def close_serial_conn(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream:
                stream.close()
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _check_open(self, what: str) -> subprocess.Popen[bytes]:
        if not self.interactive:
            raise EnosProviderError(f"{self.sensor.alias}: cannot {what} the serial port in logging mode "
                                    "(IotlabSerial(..., interactive=True))")
        if self._proc is None:
            raise EnosProviderError(f"{self.sensor.alias}: the serial connection is not open")
        if self._proc.poll() is not None:
            err = self._proc.stderr.read().decode(errors="replace").strip() if self._proc.stderr else ""
            raise EnosProviderError(f"{self.sensor.alias}: the serial connection closed ({err or 'no message'})")
        return self._proc

    def write(self, content: str) -> None:
        """Send ``content`` to the board."""
        proc = self._check_open("write to")
        assert proc.stdin is not None
        logger.debug("%s: serial write %r", self.sensor.alias, content)
        proc.stdin.write(content.encode())
        proc.stdin.flush()

    def read(self, size: int = 1024) -> str:
        """What the board printed (at most ``size`` bytes), waiting up to ``timeout`` seconds for
        the first byte; "" when it printed nothing."""
        proc = self._check_open("read from")
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], self.timeout)
        if not ready:
            return ""
        return os.read(proc.stdout.fileno(), size).decode(errors="replace")

    def read_until(self, text: str, timeout: float | None = None) -> str:
        """Everything read until ``text`` appears (or ``timeout``, default the serial's)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        out = ""
        while text not in out and time.monotonic() < deadline:
            out += self.read()
        return out

    # -- logging ---------------------------------------------------------------------------
    def enable_logging_serial(self) -> None:
        """Start ``serial_aggregator`` on the frontend, logging into :attr:`filename`."""
        self._tool = _FrontendTool(self.sensor, "serial_aggregator", _walltime_seconds(self.sensor))
        self._tool.start(["serial_aggregator", "-l", _node_list(self.sensor)], self.filename, True)

    def disable_logging_serial(self) -> None:
        """Stop ``serial_aggregator`` (the log stays on the frontend)."""
        tool = self._tool or _FrontendTool(self.sensor, "serial_aggregator", None)
        tool.stop()
        self._tool = None

    def __enter__(self) -> IotlabSerial:
        if self.interactive:
            self.open_serial_conn()
        else:
            self.enable_logging_serial()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.interactive:
            self.close_serial_conn()
        else:
            self.disable_logging_serial()


class IotlabSniffer:
    """The radio sniffer of ``sensor`` (its profile must have radio ``mode: sniffer``):
    ``sniffer_aggregator`` on the frontend writes the packets to :attr:`filename` (a pcap,
    relative to the login's home) for ``timeout`` seconds (-1: until the walltime) or until
    :meth:`stop_sniffer`."""

    def __init__(self, sensor: IotlabSensor, timeout: float = -1) -> None:
        self.sensor = sensor
        self.timeout = _walltime_seconds(sensor) if timeout == -1 else timeout
        self.filename = f".iot-lab/{sensor.exp_id}/sniffer/{sensor.alias}.pcap"
        self._tool = _FrontendTool(sensor, "sniffer_aggregator", self.timeout)

    def start_sniffer(self) -> None:
        self._tool.start(["sniffer_aggregator", "-l", _node_list(self.sensor), "-o", self.filename],
                         self.filename, False)

    def stop_sniffer(self) -> None:
        self._tool.stop()

    def __enter__(self) -> IotlabSniffer:
        self.start_sniffer()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_sniffer()
