"""Bare-metal nodes on Chameleon: a Blazar lease, servers booted on it, released at the end.

Run on Chameleon: ``source CHI-xxxx-openrc.sh && python examples/chameleon_baremetal.py``;
on the emulator: ``ENOSLIB_OPENSTACK_EMULATOR=1 python examples/chameleon_baremetal.py``.
"""

from __future__ import annotations

from openstack_support import cloud
from rich.console import Console

import enoslib as en
from enoslib.infra.slots import format_time

console = Console()


def main() -> None:
    with cloud(chameleon=True) as env:
        conf = (en.ChameleonbaremetalConf.from_settings(key_name="enoslib-example", lease_name="enoslib-example",
                                                        walltime="2:00:00", rc_file=env.rc_file,
                                                        **({"user": env.user} if env.user else {}))
                .add_machine(roles=["server"], flavour="compute_haswell", number=1)
                .add_machine(roles=["client"], flavour="compute_skylake", number=2))
        provider = en.Chameleonbaremetal(conf, **env.provider_kwargs)
        now = provider.now()
        starts = provider.start_times(now, now + 24 * 3600)
        console.print(f"first possible start of a 2h lease: {format_time(starts.earliest())}")
        with provider as (roles, _):
            lease = provider.lease
            console.print(f"lease {lease['name']} {lease['status']} until {lease['end_date']}")
            console.print(roles)
            if env.ssh:
                for r in en.run_command("uname -n", roles=roles):
                    console.print(f"  {r.host}: {r.stdout.strip()}")
    console.print("lease released")


if __name__ == "__main__":
    main()
