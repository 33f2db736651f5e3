"""Wall time and API calls to get 10 servers SSH-ready on the OpenStack emulator.

    sudo flock /tmp/enoslib-tests.lock python benchmarks/openstack_bench.py [--servers 10] [--backend netns]

As root the servers are real SSH hosts (network namespaces) reached through the gateway's
floating IP, and "ready" means every one answered ``true`` over SSH; otherwise (address-only)
the time stops when they are ACTIVE. The emulator's clock is stepped (boots take 20 virtual
seconds, no real waiting), so the figures are the provider's own cost: requests, threads,
SSH. EnOSlib's provider is not measured: its venv (/work/main/.venv-enoslib) has no
openstacksdk (EnOSlib pins openstacksdk<=1.4, a different API generation).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=10)
    parser.add_argument("--backend", choices=("netns", "address"), default="netns" if os.geteuid() == 0 else "address")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    import enoslib as en
    from enoslib.config import config_context
    from enoslib.emulators.openstack import OpenstackEmulator

    with tempfile.TemporaryDirectory() as tmp, OpenstackEmulator(speed=0, backend=args.backend) as emu:
        ssh_config = os.path.join(tmp, "ssh_config")
        emu.ssh_config(ssh_config)
        with config_context(display="noop", ssh_config_file=ssh_config, cache_dir=os.path.join(tmp, "cache")):
            conf = (en.OpenstackConf.from_settings(key_name="bench", image="debian-12", user="root", rc_file="",
                                                   prefix="bench")
                    .add_machine(roles=["node"], flavour="m1.small", number=args.servers))
            ssh = args.backend == "netns"
            provider = en.Openstack(conf, client=emu.connect_kwargs(), sleep=emu.advance, now=emu.clock.now,
                                    public_key=emu.public_key() or "ssh-ed25519 AAAA bench", wait_ssh=ssh)
            t0 = time.perf_counter()
            roles, _ = provider.init()
            if ssh:
                en.run_command("true", roles=roles)
            ready = time.perf_counter() - t0
            calls = sum(emu.calls.values())
            t1 = time.perf_counter()
            again, _ = en.Openstack(conf, client=emu.connect_kwargs(), sleep=emu.advance, now=emu.clock.now,
                                    wait_ssh=False).init()
            reload = time.perf_counter() - t1
            reload_calls = sum(emu.calls.values()) - calls
            t2 = time.perf_counter()
            provider.destroy()
            destroy = time.perf_counter() - t2
            destroy_calls = sum(emu.calls.values()) - calls - reload_calls
    what = "SSH-ready (true over SSH via the gateway)" if ssh else "ACTIVE (address-only)"
    print(f"{args.servers} servers {what}, enoslib Openstack provider on the emulator")
    print(f"{'step':<10}{'wall s':>10}{'API calls':>12}")
    print(f"{'init':<10}{ready:>10.2f}{calls:>12}")
    print(f"{'reload':<10}{reload:>10.2f}{reload_calls:>12}")
    print(f"{'destroy':<10}{destroy:>10.2f}{destroy_calls:>12}")
    print("EnOSlib 10.9 provider: not measured (no openstacksdk in /work/main/.venv-enoslib; it pins <=1.4)")


if __name__ == "__main__":
    main()
