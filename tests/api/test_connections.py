"""Connections: multiplexing, jump hosts, the user's ssh_config, Ansible on the same masters."""

from __future__ import annotations

from pathlib import Path

import pytest

from enoslib.api import actions, close_connections, ensure_python, run_command
from enoslib.api.ssh import connection, is_connected
from enoslib.config import config_context
from enoslib.objects import Host


@pytest.mark.root
def test_one_master_per_host_shared_with_ansible(hosts) -> None:
    h = hosts[3]
    close_connections([h])
    assert not is_connected(h)
    run_command("true", roles=h)
    assert is_connected(h)
    assert len(connection(h).control_path) < 100  # unix socket path limit
    count = "ss -Htn state established '( sport = :22 )' | wc -l"
    with actions(roles=h, engine="ansible") as a:
        a.shell(count)
    # Ansible reused the master: still one TCP connection to sshd, none of its own
    assert a.results[0].stdout == "1"
    assert run_command(count, roles=h)[0].stdout == "1"


@pytest.mark.root
def test_gateway_extra_goes_through_jump_host(lab, hosts) -> None:
    jump, target = hosts[0], lab.nodes["h2"]
    behind = Host(
        target.address,
        alias="behind",
        user=target.user,
        keyfile=target.keyfile,
        extra={"gateway": jump.address, "gateway_user": "root", "ansible_host_key_checking": False},
    )
    r = run_command("hostname; echo $SSH_CLIENT", roles=behind)[0]
    name, client = r.stdout.splitlines()
    assert name == "h2"
    assert client.split()[0] == jump.address  # the connection came from the jump host
    with actions(roles=behind, engine="ansible") as a:
        a.command("hostname")
    assert a.results[0].stdout == "h2"


@pytest.mark.root
def test_user_ssh_config_is_honoured(tmp_path: Path, lab) -> None:
    node = lab.nodes["h3"]
    cfg = tmp_path / "ssh_config"
    cfg.write_text(
        f"Host my-h3\n  HostName {node.address}\n  User {node.user}\n"
        f"  IdentityFile {node.keyfile}\n"
        # the user's own choice for this host, honoured (enoslib adds no host key option)
        "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
    )
    with config_context(ssh_config_file=str(cfg)):
        assert run_command("hostname", roles=Host("my-h3"))[0].stdout == "h3"


def test_address_cannot_be_an_option() -> None:
    with pytest.raises(ValueError):
        connection(Host("-oProxyCommand=touch /tmp/x"))


@pytest.mark.root
def test_ensure_python(hosts) -> None:
    assert ensure_python(hosts).ok.hosts == ["h1", "h2", "h3", "h4"]
