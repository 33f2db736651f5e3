"""EnOSlib's module path ``enoslib.service.emul``: its submodules ``netem`` and ``htb``
re-export :mod:`enoslib.services.netem`."""
