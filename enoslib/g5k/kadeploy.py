"""Deployments, execo_g5k style: :class:`Deployment` and the clever :func:`deploy`.

>>> deployed, undeployed = deploy(Deployment(hosts, env_name="debian12-min"), num_tries=3)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from enoslib._urls import strip_credentials
from enoslib.g5k.api_utils import canonical_host_name, get_host_site, get_kavlan_host_name
from enoslib.g5k.config import g5k_configuration
from enoslib.infra.enos_g5k import kadeploy as _kadeploy
from enoslib.infra.enos_g5k import remote
from enoslib.infra.enos_g5k.client import as_client
from enoslib.objects import Host

logger = logging.getLogger(__name__)

__all__ = ["Deployment", "Kadeployer", "deploy"]


class Deployment:
    """A deployment (execo_g5k's POD class): ``hosts`` (names or Hosts), ``env_name`` (a
    registered environment) or ``env_file`` (an http(s) URL of an environment description),
    ``user`` (the environment's owner: ``env_name@user``), ``vlan`` (deploy straight into it),
    ``other_options`` (a dict of extra API fields such as ``{"partition_label": "..."}``)."""

    def __init__(self, hosts: Iterable[Any] | None = None, env_file: str | None = None, env_name: str | None = None,
                 user: str | None = None, vlan: Any = None, other_options: dict[str, Any] | str | None = None,
                 key: str | None = None) -> None:
        self.hosts = list(hosts or [])
        self.env_file = env_file
        self.env_name = env_name
        self.user = user
        self.vlan = vlan
        self.other_options = other_options
        self.key = key

    def environment(self) -> str:
        if self.env_file and self.env_name:
            raise ValueError("a Deployment takes env_name or env_file, not both")
        env = self.env_name or self.env_file or g5k_configuration.get("default_env_name")
        if not env:
            raise ValueError("no environment: set env_name (or env_file, or g5k_configuration['default_env_name'])")
        if env == self.env_file and not str(env).startswith(("http://", "https://")):
            raise ValueError(f"env_file {strip_credentials(env)!r}: the API deploys environment descriptions from http(s) URLs only")
        return f"{env}@{self.user}" if self.user and env == self.env_name and "@" not in env else env

    def options(self) -> dict[str, Any]:
        if isinstance(self.other_options, str):
            raise TypeError("other_options must be a dict of API fields (no kadeploy3 command line here)")
        return dict(self.other_options or {})

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if v not in (None, [], {}))
        return strip_credentials(f"Deployment({fields})")


def _targets(deployment: Deployment, client: Any) -> tuple[str | None, dict[str, _kadeploy.Target]]:
    """The deployment's vlan and its nodes (FQDN -> site and vlan)."""
    vlan = str(deployment.vlan) if deployment.vlan not in (None, "") else None
    targets = {}
    for h in deployment.hosts:
        name = str(canonical_host_name(h.address if isinstance(h, Host) else h))
        site = get_host_site(name, client=client)
        if site is None:
            raise ValueError(f"cannot tell the site of {name!r}")
        full = name if name.endswith(".grid5000.fr") else f"{name}.{site}.grid5000.fr"
        targets[full] = _kadeploy.Target(site, vlan)
    return vlan, targets


class Kadeployer:
    """One kadeploy run of a :class:`Deployment` over its sites, driven like an execo action:
    ``start()``, ``wait(timeout)``, ``run()``, ``kill()``; then ``deployed_hosts`` /
    ``error_hosts`` (sets of host names), ``ok``. No check, no retry (see :func:`deploy`).
    ``stdout_handlers`` / ``stderr_handlers`` are accepted for compatibility (the API gives no
    kadeploy output stream)."""

    def __init__(self, deployment: Deployment, frontend_connection_params: Any = None,
                 stdout_handlers: Any = None, stderr_handlers: Any = None, *, client: Any = None,
                 timeout: float | None = None) -> None:
        self.deployment = deployment
        self.timeout = timeout
        self.client = as_client(client)
        self.deployments: list[dict[str, Any]] = []
        self.deployed_hosts: set[str] = set()
        self.error_hosts: set[str] = set()
        self.started = self.ended = self.killed = False
        self._groups: list[list[str]] = []

    def start(self) -> Kadeployer:
        if self.started:
            raise RuntimeError("Kadeployer already started")
        self.started = True
        vlan, targets = _targets(self.deployment, self.client)
        groups: dict[_kadeploy.Target, list[str]] = {}
        for node, target in sorted(targets.items()):
            groups.setdefault(target, []).append(node)
        key = self.deployment.key or remote.public_keys(None)
        for target, nodes in groups.items():
            dep = _kadeploy.start(self.client, target.site, nodes, self.deployment.environment(), key=key,
                                  vlan=target.vlan, user=self.client.login, **self.deployment.options())
            self.deployments.append(dep)
            self._groups.append(nodes)
        return self

    def wait(self, timeout: float | None = None) -> Kadeployer:
        if not self.started:
            self.start()
        if not self.ended:
            self.deployments = _kadeploy.wait(self.client, self.deployments,
                                              timeout=timeout if timeout is not None else self.timeout)
            for dep, nodes in zip(self.deployments, self._groups):
                ok, failed = _kadeploy.outcome(dep, nodes)
                self.deployed_hosts |= ok
                self.error_hosts |= failed
            self.ended = True
        return self

    def run(self, timeout: float | None = None) -> Kadeployer:
        return self.start().wait(timeout)

    def kill(self) -> Kadeployer:
        """Cancel the running deployments (their nodes end in ``error_hosts``)."""
        for dep in self.deployments:
            if dep.get("status") not in _kadeploy.FINAL_STATUSES:
                self.client.delete(f"/sites/{dep['site']}/deployments/{dep['uid']}")
        self.killed = True
        return self.wait()

    @property
    def ok(self) -> bool:
        return self.ended and not self.killed and not self.error_hosts

    def __repr__(self) -> str:
        return (f"Kadeployer({self.deployment!r}, started={self.started}, ended={self.ended}, "
                f"deployed={len(self.deployed_hosts)}, errors={len(self.error_hosts)})")


def deploy(deployment: Deployment, check_deployed_command: bool | str | None = True,
           node_connection_params: dict[str, Any] | None = None, num_tries: int = 1,
           check_enough_func: Callable[[set[str], set[str]], bool] | None = None,
           frontend_connection_params: Any = None, deploy_timeout: float | None = None,
           check_timeout: float = 30, stdout_handlers: Any = None, stderr_handlers: Any = None,
           *, client: Any = None) -> tuple[set[str], set[str]]:
    """Deploy, checking first which hosts are already deployed, redeploying only the others,
    up to ``num_tries`` times or until ``check_enough_func(deployed, undeployed)``.

    ``check_deployed_command``: True (the default command of ``g5k_configuration``), a shell
    command (exit 0 = deployed), or False/None to trust kadeploy's per-node report. It runs as
    ``node_connection_params['user']`` (default root), through the access host when outside
    Grid'5000, on the hosts' names in ``deployment.vlan`` if set. Returns ``(deployed,
    undeployed)`` host names.
    """
    c = as_client(client)
    if check_deployed_command is True:
        check_deployed_command = g5k_configuration["check_deployed_command"]
    params = {"user": "root", **(node_connection_params or {})}
    vlan, targets = _targets(deployment, c)

    def ssh_check(nodes: Iterable[str]) -> set[str]:
        jump = {}  # through the access host from outside Grid'5000, or as g5k_auto_jump says
        if remote.use_access_host():
            jump = {"gateway": "access.grid5000.fr", "gateway_user": c.login}
        jump["ansible_host_key_checking"] = False  # just deployed: new host keys
        jump.update(params.get("extra", {}))
        hosts = {Host(get_kavlan_host_name(n, vlan) if vlan else n, user=params["user"],
                      port=params.get("port"), keyfile=params.get("keyfile"), extra=jump): n for n in nodes}
        ok, _ = remote.run_on(list(hosts), str(check_deployed_command), "check deployment", timeout=check_timeout)
        return {hosts[h] for h in ok}

    check = ssh_check if check_deployed_command else None
    deployed, undeployed = _kadeploy.deploy_rounds(
        c, targets, deployment.environment(), key=deployment.key or remote.public_keys(None),
        tries=num_tries, already_deployed=check, verify=check, check_enough=check_enough_func,
        user=c.login, timeout=deploy_timeout, **deployment.options())
    logger.info("deploy: %d deployed, %d undeployed", len(deployed), len(undeployed))
    return deployed, undeployed
