"""FIT/IoT-LAB: boards with a firmware and a monitoring profile, an A8 Linux node, their serial
ports, the radio sniffer and the measures, released at the end.

Run on IoT-LAB (credentials from ``iotlab-auth``, i.e. ``~/.iotlabrc``)::

    python examples/iotlab.py --firmware tutorial_m3.elf

Dry-run on the emulator (in-process; root gives real SSH hosts, serial ports and sniffer)::

    python examples/iotlab.py --emulate
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console

import enoslib as en
from enoslib.infra.enos_iotlab import (ConsumptionConfiguration, Iotlab, IotlabConf, IotlabSerial, IotlabSniffer,
                                       RadioConfiguration)

console = Console()


@contextlib.contextmanager
def emulated(work: Path) -> Iterator[dict[str, Any]]:
    """An IoT-LAB emulator for the duration of the run; the provider's client settings."""
    from enoslib.emulators.iotlab import IotlabEmulator

    with IotlabEmulator({"grenoble": {"m3": 4, "a8": 1}}, speed=60, serial_period=0.3) as emu:
        os.environ.update(emu.env())  # IOTLAB_API_URL, IOTLAB_PASSWORD_FILE: what iotlabcli reads
        emu.ssh_config(work / "ssh_config")
        with en.config_context(ssh_config_file=str(work / "ssh_config")):
            yield {"poll_interval": 0.5}


def experiment(firmware: str, out: Path, client: dict[str, Any] | None, ssh: bool) -> None:
    conf = (
        IotlabConf.from_settings(job_name="enoslib-iotlab", walltime="00:30")
        .add_machine(roles=["sensor"], archi="m3:at86rf231", site="grenoble", number=2, image=firmware,
                     profile="watch")
        .add_machine(roles=["linux"], archi="a8:at86rf231", site="grenoble", number=1)
        .add_network(roles=["lan"], site="grenoble")
        .add_profile(name="watch", archi="m3",
                     consumption=ConsumptionConfiguration(power=True, voltage=True, period=1100, average=64),
                     radio=RadioConfiguration(mode="sniffer", channels=[22]))
        .finalize()
    )
    provider = Iotlab(conf, client=client)
    with provider as (roles, networks):
        console.print(roles)
        console.print(f"lan: {', '.join(str(n.network) for n in networks['lan'])}")
        if not ssh:
            console.print("no SSH hosts (the emulator runs without root): stopping here")
            return
        for result in en.run_command("uname -a", roles=roles["linux"]):
            console.print(f"{result.host}: {result.stdout}")
        board = roles["sensor"][0]
        with IotlabSerial(board, interactive=True) as serial:
            serial.write("help\n")
            console.print(f"{board.alias} says: {serial.read_until('commands').strip()}")
        with IotlabSerial(board), IotlabSniffer(board, timeout=60):  # logged on the frontend
            board.reset()
            time.sleep(2)
        folder = provider.collect_data(out) / board.site / str(provider.exp_id)
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            console.print(f"collected {path.relative_to(out)} ({path.stat().st_size} bytes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emulate", action="store_true", help="run against an in-process emulator")
    parser.add_argument("--firmware", help="firmware (.elf) flashed on the boards")
    parser.add_argument("--out", default="iotlab-results", help="where the experiment's files are collected")
    args = parser.parse_args()
    out = Path(args.out)
    if not args.emulate:
        if not args.firmware:
            parser.error("--firmware is needed on the real testbed")
        experiment(args.firmware, out, None, ssh=True)
        return
    with tempfile.TemporaryDirectory(prefix="iotlab-example-") as tmp:
        work = Path(tmp)
        firmware = args.firmware or str(work / "tutorial_m3.elf")
        if not args.firmware:
            Path(firmware).write_bytes(b"\x7fELF emulated firmware")
        with emulated(work) as client:
            experiment(firmware, out, client, ssh=os.geteuid() == 0)


if __name__ == "__main__":
    main()
