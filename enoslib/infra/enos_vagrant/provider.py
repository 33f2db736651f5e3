"""The Vagrant provider: virtual machines on this machine, through python-vagrant and the
``vagrant`` command (libvirt/KVM or VirtualBox).

``init`` writes a multi-machine ``Vagrantfile`` in ``./.enoslib_vagrant/<name_prefix>/``, runs
``vagrant up`` and reads each machine's SSH settings (``vagrant ssh-config``); a second ``init``
with the same configuration reuses the running machines. ``destroy`` runs ``vagrant destroy``
and removes that directory.

>>> conf = (en.VagrantConf.from_settings(box="enoslib/debian12")
...         .add_machine(roles=["srv"], flavour="tiny", number=2)
...         .add_network(roles=["lan"], cidr="192.168.42.0/24"))
>>> with en.Vagrant(conf) as (roles, networks):
...     en.run_command("hostname", roles=roles)
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from enoslib.errors import EnosMissingExtraError, EnosProviderError
from enoslib.infra.enos_vagrant.configuration import VagrantConf
from enoslib.infra.enos_vagrant.constants import WORKING_DIR
from enoslib.infra.enos_vagrant.vagrantfile import render
from enoslib.infra.provider import ImmediateProvider, Time
from enoslib.objects import DefaultNetwork, Host, Networks, Roles

logger = logging.getLogger(__name__)

LOG_NAME = "vagrant.log"
_BACKTRACE = re.compile(r"\s*(from )?/\S+\.rb:\d+:in ")
# no calls home for updates and box versions (machines without internet access)
VAGRANT_ENV = {"VAGRANT_CHECKPOINT_DISABLE": "1", "VAGRANT_BOX_UPDATE_CHECK_DISABLE": "1"}


def _vagrant_module() -> Any:
    try:
        import vagrant
    except ImportError:
        raise EnosMissingExtraError("vagrant", "vagrant", feature="the Vagrant provider") from None
    return vagrant


class Enos_vagrant(ImmediateProvider):
    """The provider to use when working with vagrant (local machine). Usable inside
    ``Providers`` (always available, nothing to schedule)."""

    configuration_class = VagrantConf

    def __init__(self, provider_conf: VagrantConf | dict[str, Any], name: str | None = None) -> None:
        super().__init__(provider_conf, name)
        # fixed at construction: a later chdir does not lose the machines
        self.root = Path.cwd() / WORKING_DIR / self.provider_conf.name_prefix

    # -- vagrant ---------------------------------------------------------------------------
    def _client(self) -> Any:
        vagrant = _vagrant_module()
        if vagrant.get_vagrant_executable() is None:
            raise EnosProviderError(
                "the Vagrant provider needs the `vagrant` command on PATH (and, for backend "
                "'libvirt', the vagrant-libvirt plugin): see https://developer.hashicorp.com/vagrant"
            )
        log = vagrant.make_file_cm(str(self.root / LOG_NAME))
        return vagrant.Vagrant(root=str(self.root), env={**os.environ, **VAGRANT_ENV}, out_cm=log, err_cm=log)

    def _run(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        """A python-vagrant call; a failing vagrant command becomes an EnosProviderError
        carrying the end of vagrant's output."""
        try:
            return call(*args, **kwargs)
        except subprocess.CalledProcessError as exc:
            tail = self._log_tail()
            raise EnosProviderError(
                f"vagrant {what} failed in {self.root} (exit {exc.returncode})"
                + (f"; vagrant said:\n{tail}" if tail else "")
            ) from exc

    def _log_tail(self, lines: int = 15) -> str:
        """The last lines of vagrant's output, without its progress bars and terminal codes,
        and without Ruby backtraces (``/usr/...rb:12:in `call'``)."""
        try:
            text = (self.root / LOG_NAME).read_text(errors="replace")
        except OSError:
            return ""
        text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
        kept = [line.rstrip() for line in re.split(r"[\r\n]", text)
                if line.strip() and not line.startswith("Progress:") and not _BACKTRACE.match(line)]
        return "\n".join(kept[-lines:])

    # -- lifecycle ---------------------------------------------------------------------------
    def init(self, force_deploy: bool = False, start_time: Time | None = None, **kwargs: Any) -> tuple[Roles, Networks]:
        """Reserve and deploy the vagrant boxes (``force_deploy``: new machines)."""
        if start_time is not None:
            self.set_reservation(start_time)
        conf: VagrantConf = self.provider_conf  # type: ignore[assignment]
        text = render(conf)
        vagrantfile = self.root / "Vagrantfile"
        client = self._client()
        if vagrantfile.is_file() and vagrantfile.read_text() != text:
            logger.info("vagrant: the configuration changed, recreating the machines in %s", self.root)
            self._run("destroy", client.destroy)
        elif force_deploy and vagrantfile.is_file():
            self._run("destroy", client.destroy)
        self.root.mkdir(parents=True, exist_ok=True)
        vagrantfile.write_text(text)
        states = {s.name: s.state for s in self._run("status", client.status)}
        if any(state != client.RUNNING for state in states.values()):
            from enoslib.nodes._lab import _refuse_if_forbidden

            _refuse_if_forbidden("starting Vagrant machines")
            logger.info("vagrant up: %d machine(s) in %s", len(states), self.root)
            self._run("up", client.up, provider=conf.backend, provision=True)
        return self._roles_networks(client)

    def _roles_networks(self, client: Any) -> tuple[Roles, Networks]:
        conf: VagrantConf = self.provider_conf  # type: ignore[assignment]
        networks = Networks()
        nets = []
        for spec in conf.network_specs():
            net = DefaultNetwork(spec["cidr"])
            nets.append(net)
            networks.add_one(net, spec["roles"])
        roles = Roles()
        for machine in conf.machine_specs():
            ssh = self._run("ssh-config", client.conf, vm_name=machine["name"])
            extra = {
                "ansible_python_interpreter": "/usr/bin/python3",
                # every machine of a box may share its host keys; new ones each deployment
                "ansible_host_key_checking": False,
            }
            host = Host(
                ssh["HostName"],
                alias=machine["name"],
                user=conf.user,
                keyfile=ssh.get("IdentityFile"),
                port=int(ssh.get("Port", 22)),
                extra=extra,
            )
            roles.add_one(host, machine["roles"])
        if nets:
            # the interface names are the guest's business: ask it
            from enoslib.api.facts import sync_info

            roles = sync_info(roles, networks)
        return roles, networks

    def destroy(self, wait: bool = False, **kwargs: Any) -> None:
        """Destroy all vagrant boxes involved in the deployment, and the files written."""
        if (self.root / "Vagrantfile").is_file():
            try:
                self._run("destroy", self._client().destroy)
            except EnosProviderError:
                if self._created_machines():
                    raise  # machines may be left: keep the files to destroy them later
                # vagrant refused before creating anything (e.g. an invalid config_extra)
        if self.root.exists():
            shutil.rmtree(self.root)
        try:
            self.root.parent.rmdir()  # .enoslib_vagrant, when no other deployment uses it
        except OSError:
            pass

    def _created_machines(self) -> list[str]:
        """Machines vagrant created here (it writes ``.vagrant/machines/<name>/<provider>/id``)."""
        return sorted({p.parent.parent.name for p in (self.root / ".vagrant" / "machines").glob("*/*/id")})

    def is_created(self) -> bool:
        if not (self.root / "Vagrantfile").is_file():
            return False
        states = self._run("status", self._client().status)
        return any(s.state != "not_created" for s in states)


#: EnOSlib's short name of this provider
Vagrant = Enos_vagrant
