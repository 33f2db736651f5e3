"""VMonG5k as a provider: nodes and a subnet reserved, VMs started and reachable, in one ``with``.

On Grid'5000: ``python examples/vmong5k_provider.py`` (credentials in
``~/.python-grid5000.yaml``). On the emulator (root), as for ``examples/vmong5k.py``:
``G5K_API_CONF=/tmp/g5k.yaml python examples/vmong5k_provider.py``.
"""

from __future__ import annotations

import enoslib as en


def main() -> None:
    conf = (
        en.VMonG5kConf.from_settings(job_name="enoslib-vmong5k", walltime="1:00:00",
                                     image="/grid5000/virt-images/debian12-x64-base.qcow2")
        .add_machine(roles=["server"], cluster="paravance", number=2, flavour="large")
        .add_machine(roles=["client"], cluster="paravance", number=6, flavour="tiny")
    )
    with en.VMonG5k(conf) as (roles, networks):
        subnet = networks["enos_network"][0]
        print(f"{len(roles['server'])} servers and {len(roles['client'])} clients in {subnet.network}")
        for result in en.run_command("hostname", roles=roles["server"]):
            print(f"  {result.host}: {result.stdout.strip()}")
        # a second init (or a second run of this script) keeps the running VMs
        again, _ = en.VMonG5k(conf).init()
        assert sorted(vm.address for vm in again.all()) == sorted(vm.address for vm in roles.all())
    print("released")


if __name__ == "__main__":
    main()
