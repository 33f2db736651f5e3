"""Servers on an OpenStack cloud: a private network, a gateway with a floating IP, commands
run on every server through it, then everything the script made is deleted.

Run on your cloud: ``source openrc.sh && python examples/openstack.py`` (image, flavors and
keypair names below may need adapting); on the emulator:
``ENOSLIB_OPENSTACK_EMULATOR=1 python examples/openstack.py`` (``=netns`` as root: real SSH).
"""

from __future__ import annotations

from openstack_support import cloud
from rich.console import Console

import enoslib as en

console = Console()


def main() -> None:
    with cloud() as env:
        conf = (en.OpenstackConf.from_settings(key_name="enoslib-example", image="debian-12",
                                               user=env.user or "debian", rc_file=env.rc_file,
                                               prefix="enos-example")
                .add_machine(roles=["server"], flavour="m1.small", number=1)
                .add_machine(roles=["client"], flavour="m1.tiny", number=2)
                .add_network("lan"))
        provider = en.Openstack(conf, **env.provider_kwargs)
        with provider as (roles, networks):
            console.print(roles)
            console.print(f"gateway (floating IP): {provider.gateway_ip}")
            for host in roles["server"] + roles["client"]:
                console.print(f"  {host.alias}: {host.address} via {host.extra.get('gateway')}")
            console.print(f"network: {networks['lan'][0].cidr}")
            if env.ssh:
                results = en.run_command("hostname", roles=roles)
                for r in results:
                    console.print(f"  {r.host}: {r.stdout.strip()}")
            # a second init (or a second run of this script) reuses the same servers
            again, _ = en.Openstack(conf, **env.provider_kwargs).init()
            assert [h.address for h in again.all()] == [h.address for h in roles.all()]
            console.print("reloaded the same servers")
    console.print("released")


if __name__ == "__main__":
    main()
