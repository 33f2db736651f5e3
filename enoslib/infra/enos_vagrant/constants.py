"""Vagrant constants, under the names EnOSlib documents (``enoslib.infra.enos_vagrant.constants``).

Pure data: importing this module costs nothing.
"""

from __future__ import annotations

# -- configuration defaults (schemas/vagrant.json repeats them as JSON-schema defaults) -------
DEFAULT_BOX = "generic/debian11"
BACKEND_LIBVIRT = "libvirt"
BACKEND_VIRTUALBOX = "virtualbox"
BACKENDS = [BACKEND_LIBVIRT, BACKEND_VIRTUALBOX]
DEFAULT_BACKEND = BACKEND_LIBVIRT
DEFAULT_USER = "root"
DEFAULT_NAME_PREFIX = "enos"
DEFAULT_NUMBER = 1
DEFAULT_CONFIG = {"backend": DEFAULT_BACKEND, "box": DEFAULT_BOX, "user": DEFAULT_USER}

from enoslib.infra.flavours import DEFAULT_FLAVOUR, FLAVOURS  # noqa: E402 - one table for every provider

# -- what the provider writes -------------------------------------------------------------------
#: machines get the addresses of each private network from this offset in the CIDR on (the
#: first addresses are the hypervisor's: libvirt and VirtualBox take x.x.x.1 for the host)
ADDRESS_OFFSET = 10
#: directory (under the current directory) holding one Vagrant project per ``name_prefix``
WORKING_DIR = ".enoslib_vagrant"
#: CPU model of libvirt guests. vagrant-libvirt's default (``host-model``) and ``host-passthrough``
#: make qemu abort on some hosts (nested or restricted KVM: "failed to set MSR 0x10a"); a named
#: model boots everywhere KVM does. ``ENOSLIB_VAGRANT_CPU_MODEL`` overrides it, "host-model"
#: or "host-passthrough" restore vagrant-libvirt's modes.
DEFAULT_LIBVIRT_CPU_MODEL = "qemu64"
#: vagrant-libvirt's management network (DHCP, how vagrant reaches the guests)
LIBVIRT_MANAGEMENT_NETWORK = "192.168.121.0/24"
#: libvirt domain type: "kvm" (hardware acceleration) or "qemu" (full emulation, slower, for
#: hosts whose KVM cannot run a guest kernel, e.g. some nested setups);
#: ``ENOSLIB_VAGRANT_LIBVIRT_DRIVER`` overrides it
DEFAULT_LIBVIRT_DRIVER = "kvm"
