"""Two virtual machines on your own machine with Vagrant: two private networks, commands,
a delay on one network measured with ping, then everything removed.

Run (root, with vagrant + vagrant-libvirt and a box; on our machines ``source
scripts/setup.sh && ensure_vagrant`` installs them and builds the ``enoslib/debian12`` box):

    python examples/vagrant.py [--box enoslib/debian12] [--keep]

``--keep`` leaves the machines running: a second run then reuses them in a few seconds.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# this file is named vagrant.py: its directory must not hide python-vagrant's `vagrant` module
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import enoslib as en  # noqa: E402


def min_rtt(host: en.Host, address: str) -> float:
    out = en.run_command(f"ping -q -n -c 5 -i 0.2 {address}", roles=[host])[0].stdout
    return float(re.search(r"= ([0-9.]+)/", out).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--box", default=os.environ.get("ENOSLIB_VAGRANT_BOX", "enoslib/debian12"))
    parser.add_argument("--keep", action="store_true", help="do not destroy the machines at the end")
    args = parser.parse_args()

    conf = (en.VagrantConf.from_settings(backend="libvirt", box=args.box, name_prefix="example")
            .add_machine(roles=["server"], flavour_desc={"core": 1, "mem": 256})
            .add_machine(roles=["client"], flavour="tiny")
            .add_network(roles=["data"], cidr="192.168.80.0/24")
            .add_network(roles=["control"], cidr="192.168.81.0/24"))
    provider = en.Vagrant(conf)
    try:
        start = time.monotonic()
        roles, networks = provider.init()
        print(f"init: {time.monotonic() - start:.1f} s")
        for host in roles.all():
            print(f"  {host.alias}: ssh {host.user}@{host.address} -i {host.keyfile}; "
                  f"data {host.filter_addresses(networks['data'])}, "
                  f"control {host.filter_addresses(networks['control'])}")
        for result in en.run_command("uname -r", roles=roles):
            print(f"  {result.host}: kernel {result.stdout}")

        server, client = roles["server"][0], roles["client"][0]
        data_ip = server.filter_addresses(networks["data"])[0].split("/")[0]
        control_ip = server.filter_addresses(networks["control"])[0].split("/")[0]
        # entering deploys the delay, leaving removes it
        with en.Netem().add_constraints("delay 20ms", roles.all(), networks=networks["data"]):
            print(f"ping with 20 ms on each side of 'data': {min_rtt(client, data_ip):.1f} ms, "
                  f"'control' untouched: {min_rtt(client, control_ip):.1f} ms")
    finally:
        if not args.keep:
            provider.destroy()
            print("destroyed: no machine, network or file left")


if __name__ == "__main__":
    main()
