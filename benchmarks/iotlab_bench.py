"""IoT-LAB provider cost against the emulator: wall time and HTTP requests of init / reload /
destroy (address-only hosts, stepped clock: waits are virtual), and, as root, the serial
round trip through the frontend.

Run::

    .venv/bin/python benchmarks/iotlab_bench.py [--runs 5]

Configuration: 2 M3 boards with a firmware and a monitoring profile + 1 A8 node on one site.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import requests

from enoslib.emulators.iotlab import IotlabEmulator
from enoslib.infra.enos_iotlab import ConsumptionConfiguration, Iotlab, IotlabConf
from enoslib.infra.enos_iotlab.client import IotlabClient

_count = {"n": 0}
_send = requests.adapters.HTTPAdapter.send


def _counting_send(self, *args, **kwargs):  # type: ignore[no-untyped-def]
    _count["n"] += 1
    return _send(self, *args, **kwargs)


requests.adapters.HTTPAdapter.send = _counting_send  # type: ignore[method-assign]


def conf(firmware: str) -> IotlabConf:
    return (IotlabConf.from_settings(job_name="bench", walltime="00:30")
            .add_machine(roles=["s"], archi="m3:at86rf231", site="grenoble", number=2, image=firmware,
                         profile="p")
            .add_machine(roles=["l"], archi="a8:at86rf231", site="grenoble")
            .add_profile(name="p", archi="m3", consumption=ConsumptionConfiguration(power=True, period=1100,
                                                                                      average=64)))


def measure(label: str, fn, rows: dict) -> None:  # type: ignore[no-untyped-def]
    before, t0 = _count["n"], time.perf_counter()
    fn()
    rows.setdefault(label, []).append((time.perf_counter() - t0, _count["n"] - before))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows: dict[str, list[tuple[float, int]]] = {}
    with tempfile.TemporaryDirectory() as tmp, IotlabEmulator({"grenoble": {"m3": 4, "a8": 2}}, speed=0,
                                                              backend="address") as emu:
        fw = Path(tmp) / "fw.elf"
        fw.write_bytes(b"\x7fELF")
        for _ in range(args.runs):
            client = IotlabClient(emu.username, emu.password, emu.url, sleep=emu.advance, now=emu.clock.now)
            first, again = Iotlab(conf(str(fw)), client=client), Iotlab(conf(str(fw)), client=client)
            measure("first init", first.init, rows)
            measure("re-run init (reload)", again.init, rows)
            measure("destroy", first.destroy, rows)
            emu.advance(10)
    print(f"{'step':<24}{'median s':>10}{'requests':>10}")
    for label, values in rows.items():
        print(f"{label:<24}{statistics.median(v[0] for v in values):>10.3f}{statistics.median(v[1] for v in values):>10.0f}")
    if os.geteuid() == 0:
        serial_round_trip(args.runs)


def serial_round_trip(runs: int) -> None:
    import enoslib as en
    from enoslib.infra.enos_iotlab import IotlabSerial

    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp, IotlabEmulator(
            {"grenoble": {"m3": 2}}, speed=0, backend="netns") as emu:
        fw = Path(tmp) / "fw.elf"
        fw.write_bytes(b"\x7fELF")
        emu.ssh_config(Path(tmp) / "ssh")
        with en.config_context(ssh_config_file=str(Path(tmp) / "ssh")):
            client = IotlabClient(emu.username, emu.password, emu.url, sleep=emu.advance, now=emu.clock.now)
            c = IotlabConf.from_settings(job_name="rt").add_machine(roles=["s"], archi="m3:at86rf231",
                                                                    site="grenoble", image=str(fw))
            with Iotlab(c, client=client) as (roles, _):
                board = roles["s"][0]
                t0 = time.perf_counter()
                with IotlabSerial(board, interactive=True) as serial:
                    opened = time.perf_counter() - t0
                    trips = []
                    for i in range(runs * 4):
                        t = time.perf_counter()
                        serial.write(f"echo ping-{i}\n")
                        got = serial.read_until(f"ping-{i}")
                        assert f"ping-{i}" in got, got
                        trips.append(time.perf_counter() - t)
    print(f"serial: open {opened:.3f}s, echo round trip median {statistics.median(trips) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
