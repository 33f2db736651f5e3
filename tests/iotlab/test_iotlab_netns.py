"""The provider's SSH side against the emulator's real hosts (root: network namespaces):
commands on A8 nodes through the frontend, serial read/write and logging, sniffer capture,
monitoring files collected."""

from __future__ import annotations

import os
import struct
import time

import pytest

import enoslib as en
from enoslib.emulators.iotlab import IotlabEmulator
from enoslib.infra.enos_iotlab import (ConsumptionConfiguration, Iotlab, IotlabConf, IotlabSerial, IotlabSniffer,
                                       RadioConfiguration)

from iotlab_helpers import make_client

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="namespaces need root")]


@pytest.fixture(scope="module")
def netns_emu(tmp_path_factory):
    with IotlabEmulator({"grenoble": {"m3": 3, "a8": 2}}, speed=0, backend="netns", serial_period=0.2) as emu:
        path = tmp_path_factory.mktemp("iotlab") / "ssh_config"
        emu.ssh_config(path)
        with en.config_context(ssh_config_file=str(path)):
            yield emu


def test_boards_and_a8_nodes_over_ssh(netns_emu, tmp_path):
    emu = netns_emu
    fw = tmp_path / "echo.elf"
    fw.write_bytes(b"\x7fELF")
    conf = (IotlabConf.from_settings(job_name="netns", walltime="00:20")
            .add_machine(roles=["sensor"], archi="m3:at86rf231", site="grenoble", number=2, image=str(fw),
                         profile="watch")
            .add_machine(roles=["linux"], archi="a8:at86rf231", site="grenoble", number=2)
            .add_profile(name="watch", archi="m3", consumption=ConsumptionConfiguration(power=True, period=1100,
                                                                                         average=64),
                         radio=RadioConfiguration(mode="sniffer", channels=[22])))
    provider = Iotlab(conf, client=make_client(emu))
    with provider as (roles, _):
        results = en.run_command("hostname", roles=roles["linux"])
        assert sorted(r.stdout for r in results) == ["node-a8-1.grenoble.iot-lab.info",
                                                     "node-a8-2.grenoble.iot-lab.info"]
        board = roles["sensor"][0]
        with IotlabSerial(board, interactive=True, timeout=5) as serial:
            serial.write("echo hello board\n")
            assert "hello board" in serial.read_until("hello board")
            serial.write("info\n")
            assert "firmware=echo.elf" in serial.read_until("boots=")
        board.reset()  # the firmware restarts: its boot line goes to the log
        with IotlabSerial(board) as log:
            time.sleep(0.8)
            board.reset()
            time.sleep(0.8)
        with IotlabSniffer(board, timeout=30) as sniffer:
            time.sleep(1.0)
        emu.advance(30)
        time.sleep(1.1)
        emu.tick()  # monitoring files written
        out = provider.collect_data(tmp_path / "collected")
        folder = out / "grenoble" / str(provider.exp_id)
        lines = (folder / "log" / "m3-1_serial.log").read_text().splitlines()
        assert any(line.endswith("m3-1: echo.elf booted") for line in lines), lines
        assert any(";m3-1;m3-1: sensors temperature=" in line for line in lines)
        pcap = (folder / "sniffer" / "m3-1.pcap").read_bytes()
        magic, _, _, _, _, _, linktype = struct.unpack("<IHHiIII", pcap[:24])
        assert magic == 0xA1B2C3D4 and linktype == 195 and len(pcap) > 24 + 16
        assert b"m3-1 ch22" in pcap
        oml = (folder / "consumption" / "m3-2.oml").read_text()
        assert oml.startswith("protocol: 5") and len(oml.splitlines()) > 20
        # the tools were stopped on exit
        left = en.run_command("pgrep -f '[s]erial_aggregator|[s]niffer_aggregator' || true", roles=[board.frontend])
        assert left[0].stdout == ""
        # a second provider with the same name reloads the experiment; its A8 nodes answer
        again = Iotlab(conf, client=make_client(emu))
        roles2, _ = again.init()
        assert again.exp_id == provider.exp_id
        assert en.run_command("true", roles=roles2["linux"]).ok
    emu.advance(10)
    assert [e for e in emu.running_experiments() if e.state != "Finishing"] == []
