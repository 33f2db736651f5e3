"""What an IoT-LAB experiment gives: Linux nodes (:class:`IotlabHost`, reachable over SSH through
the site's frontend), boards (:class:`IotlabSensor`, driven through the API and the frontend's
serial tools) and the sites' networks (:class:`IotlabNetwork`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from enoslib.objects import DefaultNetwork, Host

if TYPE_CHECKING:
    from enoslib.infra.enos_iotlab.client import IotlabClient

DOMAIN = "iot-lab.info"
SSH_ARCHIS = ("a8", "rpi")  # boards running Linux with an sshd

# Each site's production networks (public facts of the testbed): the IPv6 prefix routed to the
# site's A8 nodes and the IPv4 range they get on the site's LAN.
SITE_NETWORKS: dict[str, dict[str, str]] = {
    "grenoble": {"ipv6": "2001:660:5307:3100::/57", "ipv4": "172.16.0.0/16"},
    "lille": {"ipv6": "2001:660:4403:0480::/57", "ipv4": "172.17.0.0/16"},
    "paris": {"ipv6": "2001:660:330f:a280::/64", "ipv4": "172.18.0.0/16"},
    "saclay": {"ipv6": "2001:660:3207:400::/64", "ipv4": "172.19.0.0/16"},
    "strasbourg": {"ipv6": "2001:660:4701:f0a0::/64", "ipv4": "172.20.0.0/16"},
    "lyon": {"ipv6": "2001:660:5307:3000::/64", "ipv4": "172.21.0.0/16"},
}


def ssh_enabled(network_address: str) -> bool:
    """Whether a node of this name (``a8-1...``) is a Linux host reachable over SSH."""
    return network_address.split("-", 1)[0] in SSH_ARCHIS


def frontend(site: str) -> str:
    """The site's frontend, the SSH jump host to its nodes and where the serial tools run."""
    return f"{site}.{DOMAIN}"


class IotlabHost(Host):
    """A Linux node of an experiment (A8), reached as ``root@node-a8-N.<site>.iot-lab.info``
    through the site's frontend (``extra["gateway"]``, with the IoT-LAB login).

    ``address`` is the SSH address (what commands use); ``network_address`` the testbed's name
    of the node (``a8-1.grenoble.iot-lab.info``), ``ssh_address`` the same as ``address``."""

    def __init__(self, network_address: str, roles: list[str], site: str, uid: str, archi: str, *,
                 login: str | None = None, extra: dict[str, Any] | None = None) -> None:
        ssh = f"node-{network_address}"
        gateway = {"gateway": frontend(site), "gateway_user": login} if login else {"gateway": frontend(site)}
        super().__init__(ssh, alias=network_address.split(".")[0], user="root",
                         extra={**gateway, **(extra or {})})
        object.__setattr__(self, "network_address", network_address)
        object.__setattr__(self, "roles", list(roles))
        object.__setattr__(self, "site", site)
        object.__setattr__(self, "uid", uid)
        object.__setattr__(self, "archi", archi)

    @property
    def ssh_address(self) -> str:
        return self.address

    def __repr__(self) -> str:
        return (f"<IotlabHost(roles={self.roles}, address={self.network_address}, ssh_address={self.address}, "
                f"site={self.site}, uid={self.uid})>")


class IotlabSensor:
    """A board of the experiment (M3, nRF52 ...): no SSH; started, stopped, reset and flashed
    through the API; its serial port and radio are reached from the site's frontend
    (:class:`~enoslib.infra.enos_iotlab.sensor.IotlabSerial`,
    :class:`~enoslib.infra.enos_iotlab.sensor.IotlabSniffer`)."""

    def __init__(self, address: str, roles: list[str], site: str, uid: str, archi: str, image: str | None,
                 iotlab_client: IotlabClient, exp_id: int, *, frontend_host: Host | None = None) -> None:
        self.address = address
        self.alias = address.split(".")[0]
        self.roles, self.site, self.uid, self.archi, self.image = list(roles), site, uid, archi, image
        self.iotlab_client = iotlab_client
        self.exp_id = int(exp_id)
        self.user = iotlab_client.user
        self.frontend = frontend_host or Host(frontend(site), user=iotlab_client.user)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IotlabSensor) and other.address == self.address

    def __hash__(self) -> int:
        return hash(("iotlab-sensor", self.address))

    def __repr__(self) -> str:
        return (f"<IotlabSensor(roles={self.roles}, address={self.address}, site={self.site}, uid={self.uid}, "
                f"image={self.image})>")

    def _command(self, command: str, option: str | None = None) -> None:
        from enoslib.errors import EnosProviderError

        _, failed = self.iotlab_client.node_command(command, self.exp_id, [self.address], option)
        if failed:
            raise EnosProviderError(f"{self.alias}: {command} failed (experiment {self.exp_id})")

    def start(self) -> None:
        """Power the board on."""
        self._command("start")

    def stop(self) -> None:
        """Power the board off."""
        self._command("stop")

    def reset(self) -> None:
        """Reset the board (its firmware starts again)."""
        self._command("reset")

    def flash(self, image: str | Path) -> None:
        """Flash ``image`` (a local .elf/.bin/.hex file) on the board."""
        path = Path(image).expanduser()
        if not path.is_file():
            from enoslib.errors import EnosFilePathError

            raise EnosFilePathError(str(path), f"firmware {path} not found")
        self._command("flash", str(path))
        self.image = str(path)

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "alias": self.alias, "roles": self.roles, "site": self.site,
                "uid": self.uid, "archi": self.archi, "image": self.image}


class IotlabNetwork(DefaultNetwork):
    """A site's production network (one per address family), with the roles it was asked for."""

    def __init__(self, roles: list[str], *args: Any, site: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.roles = list(roles)
        self.site = site
