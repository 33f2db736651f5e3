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

__all__ = ["Deployment", "deploy"]


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
    names = {str(canonical_host_name(h.address if isinstance(h, Host) else h)): h for h in deployment.hosts}
    vlan = str(deployment.vlan) if deployment.vlan not in (None, "") else None
    targets = {}
    for name in names:
        site = get_host_site(name, client=c)
        if site is None:
            raise ValueError(f"cannot tell the site of {name!r}")
        full = name if name.endswith(".grid5000.fr") else f"{name}.{site}.grid5000.fr"
        targets[full] = _kadeploy.Target(site, vlan)

    def ssh_check(nodes: Iterable[str]) -> set[str]:
        jump = {} if remote.inside_g5k() else {"gateway": "access.grid5000.fr", "gateway_user": c.login}
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
