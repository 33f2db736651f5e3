"""Grid'5000 nodes and Chameleon bare-metal nodes started together at the earliest time both
testbeds can give them (Chameleon's lease starts on a whole minute), released together.

Run on the testbeds: ``source CHI-openrc.sh && python examples/providers_g5k_chameleon.py``;
on the emulators: ``ENOSLIB_G5K_EMULATOR=1 ENOSLIB_OPENSTACK_EMULATOR=1 python ...`` (both
emulators share one virtual clock; someone else holds every compute_haswell host for the
first 90 minutes, so the common start is after that).
"""

from __future__ import annotations

from g5k_support import node_settings, testbed
from openstack_support import cloud
from rich.console import Console

import enoslib as en
from enoslib.infra.slots import format_time

console = Console()


def someone_else_holds_haswell(emulator, minutes: int) -> None:
    """On the emulator: another project's lease of every compute_haswell host."""
    if emulator is None:
        return
    start = emulator.clock.now()
    blazar = emulator.blazar()
    blazar.lease.create("other-user", "now", _date(start + minutes * 60), [
        {"resource_type": "physical:host", "min": 8, "max": 8, "hypervisor_properties": "",
         "resource_properties": '["=", "$node_type", "compute_haswell"]'}], [])


def _date(t: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M")


def main() -> None:
    with testbed() as g5k_emulator, cloud(chameleon=True, clock=getattr(g5k_emulator, "clock", None)) as env:
        someone_else_holds_haswell(env.emulator, 90)
        g5k = (en.G5kConf.from_settings(job_name="enoslib-g5k-chameleon", walltime="1:00:00", **node_settings())
               .add_machine(roles=["server"], cluster="paravance", nodes=1))
        chi = (en.ChameleonbaremetalConf.from_settings(key_name="enoslib-example", lease_name="enoslib-g5k-chameleon",
                                                       walltime="1:00:00", rc_file=env.rc_file,
                                                       **({"user": env.user} if env.user else {}))
               .add_machine(roles=["client"], flavour="compute_haswell", number=2))
        clock = env.emulator.clock.now if env.emulator else None
        providers = en.Providers([en.G5k(g5k, name="g5k"), en.Chameleonbaremetal(chi, name="chameleon",
                                                                                 **env.provider_kwargs)],
                                 **({"clock": clock} if clock else {}))
        plan = providers.plan(time_window=6 * 3600)
        console.print(plan.gantt(width=110))
        with providers as (roles, _):
            console.print(f"started together at {format_time(providers.start_time)}")
            for name, own in providers.roles_by_provider.items():
                console.print(f"  {name}: {[h.address for h in own.all()]}")
    console.print("released")


if __name__ == "__main__":
    main()
