"""Vagrant provider: virtual machines on this machine (libvirt/KVM or VirtualBox).

``VagrantConf`` needs nothing beyond enoslib; ``Enos_vagrant`` (alias ``Vagrant``) needs
``pip install 'enoslib[vagrant]'`` (python-vagrant) and the ``vagrant`` command.
"""

from enoslib.infra.enos_vagrant.configuration import VagrantConf
from enoslib.infra.enos_vagrant.provider import Enos_vagrant, Vagrant

__all__ = ["Enos_vagrant", "Vagrant", "VagrantConf"]
