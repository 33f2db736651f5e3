"""Helpers shared by the OpenStack/Chameleon tests (a unique module name: conftest.py files of
other test folders would shadow ``from conftest import``)."""

from __future__ import annotations

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOpenstackEmulatorTestKey test@enoslib"


def provider_kwargs(emu, **kwargs):
    """What a test gives a provider: the emulator's credentials and clock."""
    return {"client": emu.connect_kwargs(), "sleep": emu.advance, "now": emu.clock.now, "wait_ssh": False,
            "public_key": PUBLIC_KEY, **kwargs}


def openstack_conf(prefix="exp", servers=2, clients=1, **settings):
    from enoslib.infra.enos_openstack import OpenstackConf

    settings = {"key_name": "exp-key", "image": "debian-12", "user": "root", "rc_file": "", "prefix": prefix,
                **settings}
    conf = OpenstackConf.from_settings(**settings).add_machine(roles=["server"], flavour="m1.small", number=servers)
    if clients:
        conf.add_machine(roles=["client"], flavour="m1.tiny", number=clients)
    return conf.add_network("lan")


def baremetal_conf(lease="exp-lease", walltime="1:00:00", haswell=2, **settings):
    from enoslib.infra.enos_chameleonbaremetal import ChameleonbaremetalConf

    return (ChameleonbaremetalConf.from_settings(key_name="exp-key", lease_name=lease, walltime=walltime,
                                                 user="root", **settings)
            .add_machine(roles=["server"], flavour="compute_haswell", number=haswell))


def leaks(emu):
    """What the project still holds that a provider could have made."""
    inv = emu.inventory()
    return {k: v for k, v in inv.items() if v and k in ("servers", "floating_ips", "leases", "networks", "subnets",
                                                      "routers", "ports", "security_groups", "keypairs")}
