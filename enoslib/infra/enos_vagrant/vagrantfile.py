"""The multi-machine ``Vagrantfile`` a :class:`~enoslib.infra.enos_vagrant.configuration.VagrantConf`
describes: one ``config.vm.define`` per machine, its size for the chosen backend, one private
network per configured CIDR with a static address, and ``config_extra`` passed through.

>>> from enoslib.infra.enos_vagrant.configuration import VagrantConf
>>> conf = VagrantConf.from_settings(box="enoslib/debian12").add_machine(roles=["a"])
>>> "config.vm.define 'enos-1'" in render(conf.finalize())
True
"""

from __future__ import annotations

import os
import shlex

from enoslib.infra.enos_vagrant.configuration import VagrantConf
from enoslib.infra.enos_vagrant.constants import BACKEND_LIBVIRT, DEFAULT_LIBVIRT_CPU_MODEL, DEFAULT_LIBVIRT_DRIVER

HEADER = "# Written by enoslib's Vagrant provider; `destroy` removes it with the machines.\n"


def ruby(value: str) -> str:
    """A Ruby single-quoted literal of ``value`` (no interpolation; ``\\`` and ``'`` escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def libvirt_settings() -> list[str]:
    """vagrant-libvirt lines shared by every machine: the driver (``kvm``, or ``qemu`` for
    full emulation; ``ENOSLIB_VAGRANT_LIBVIRT_DRIVER``) and a named CPU model
    (``ENOSLIB_VAGRANT_CPU_MODEL``, see :mod:`~enoslib.infra.enos_vagrant.constants`)."""
    driver = os.environ.get("ENOSLIB_VAGRANT_LIBVIRT_DRIVER", "").strip() or DEFAULT_LIBVIRT_DRIVER
    model = os.environ.get("ENOSLIB_VAGRANT_CPU_MODEL", "").strip() or DEFAULT_LIBVIRT_CPU_MODEL
    lines = [f"libvirt.driver = {ruby(driver)}"]
    if model in ("host-model", "host-passthrough"):
        return lines + [f"libvirt.cpu_mode = {ruby(model)}"]
    return lines + ["libvirt.cpu_mode = 'custom'", f"libvirt.cpu_model = {ruby(model)}"]


def _user_script(user: str) -> str:
    """Shell run as root in each guest: let ``user`` log in with the key vagrant put in place
    for its own SSH user (``SUDO_USER``: the shell provisioner runs through sudo)."""
    u = shlex.quote(user)
    return "\n".join([
        "set -e",
        'src="$(getent passwd "${SUDO_USER:-vagrant}" | cut -d: -f6)/.ssh/authorized_keys"',
        f"home=$(getent passwd {u} | cut -d: -f6)",
        f'[ -n "$home" ] || {{ echo "no user {user} in the box" >&2; exit 1; }}',
        f'if [ "$src" != "$home/.ssh/authorized_keys" ]; then',
        f'  install -d -m 700 -o {u} "$home/.ssh"',
        f'  install -m 600 -o {u} "$src" "$home/.ssh/authorized_keys"',
        "fi",
    ])


def render(conf: VagrantConf) -> str:
    """The Vagrantfile text of a finalized configuration."""
    backend = conf.backend
    lines = [HEADER + 'Vagrant.configure("2") do |config|',
             f"  config.vm.box = {ruby(conf.box)}",
             "  config.vm.box_check_update = false",
             "  config.vm.synced_folder '.', '/vagrant', disabled: true"]
    if backend == BACKEND_LIBVIRT:
        lines += ["  config.vm.provider :libvirt do |libvirt|",
                  *(f"    {line}" for line in libvirt_settings()),
                  "  end"]
    if conf.user != "vagrant":
        lines.append(f"  config.vm.provision 'enoslib-user', type: 'shell', inline: {ruby(_user_script(conf.user))}")
    if conf.config_extra:
        lines += ["  # config_extra", *(f"  {line}" for line in conf.config_extra.splitlines())]
    networks = conf.network_specs()
    for machine in conf.machine_specs():
        name = machine["name"]
        lines += [f"  config.vm.define {ruby(name)} do |machine|",
                  f"    machine.vm.hostname = {ruby(name)}"]
        for network, address in zip(networks, machine["addresses"]):
            lines.append(f"    machine.vm.network :private_network, ip: {ruby(address)}, "
                         f"netmask: {ruby(network['netmask'])}")
        provider = "libvirt" if backend == BACKEND_LIBVIRT else "vb"
        lines += [f"    machine.vm.provider :{backend} do |{provider}|",
                  f"      {provider}.cpus = {machine['core']}",
                  f"      {provider}.memory = {machine['mem']}"]
        lines += ["    end", "  end"]
    lines.append("end")
    return "\n".join(lines) + "\n"
