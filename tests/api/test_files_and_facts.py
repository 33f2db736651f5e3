"""put / get / broadcast with content checks, and sync_info on multi-interface hosts."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import enoslib as en
from enoslib.api import broadcast, get, put, run_command, sync_info
from enoslib.errors import EnosUnreachableHostsError
from enoslib.objects import Roles

# every test here uses the session lab of namespaces + sshd (conftest.py)
pytestmark = pytest.mark.root


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def payload(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("payload") / "data $(x).bin"  # odd name on purpose
    path.write_bytes(os.urandom(3 << 20) + b"end")
    path.chmod(0o640)
    return path


def test_put_then_get(tmp_path: Path, hosts, payload: Path) -> None:
    results = put(hosts, payload, "/tmp/copy-{{{alias}}}.bin")
    assert [r.status for r in results] == ["ok"] * 4
    sums = run_command(
        "sha256sum /tmp/copy-{{{alias}}}.bin | cut -d' ' -f1; stat -c %a /tmp/copy-*.bin",
        roles=hosts,
    )
    assert {r.stdout for r in sums} == {f"{_sha(payload)}\n640"}
    fetched = get(hosts, "/tmp/copy-{{{alias}}}.bin".replace("{{{alias}}}", "*"), tmp_path)
    assert fetched.ok and len(fetched) == 4
    for alias in ("h1", "h2", "h3", "h4"):
        assert _sha(tmp_path / alias / f"copy-{alias}.bin") == _sha(payload)


def test_put_directory_and_errors(tmp_path: Path, hosts, ghost) -> None:
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "sub" / "f").write_text("x")
    put(hosts[:2], tmp_path / "tree", "/tmp/")
    assert run_command("cat /tmp/tree/sub/f", roles=hosts[:2]).ok[1].stdout == "x"
    with pytest.raises(FileNotFoundError):
        put(hosts, tmp_path / "missing", "/tmp/")
    with pytest.raises(EnosUnreachableHostsError) as err:
        put([hosts[0], ghost], tmp_path / "tree" / "sub" / "f", "/tmp/f")
    assert [r.status for r in err.value.results] == ["ok", "unreachable"]
    missing = get(hosts[:1], "/nonexistent", tmp_path / "out", on_error_continue=True)
    assert missing[0].status == "failed"


def test_put_get_process_objects(tmp_path: Path, roles, hosts, payload: Path) -> None:
    """``en.Put`` / ``en.Get`` are execo's: ``{{{host}}}`` in paths, ``create_dirs``, and Get
    puts files where ``local_location`` says (no per-host folder of its own)."""
    p = en.Put(roles["server"], [payload], "/tmp/put-{{{host}}}/", create_dirs=True).run()
    assert p.finished_ok and p.raise_for_status().hosts == ["h1", "h2"]
    remote = f"/tmp/put-{{{{{{host}}}}}}/{payload.name}"
    g = en.Get(hosts[:2], [remote], str(tmp_path / "{{{host}}}"), create_dirs=True).start().wait()
    assert g.finished_ok and sorted(os.listdir(tmp_path)) == sorted(h.address for h in hosts[:2])
    assert {_sha(tmp_path / h.address / payload.name) for h in hosts[:2]} == {_sha(payload)}
    missing = en.Get(hosts[:1], ["/tmp/no-such-file"], str(tmp_path), nolog_exit_code=True).run()
    assert not missing.ok and [(r.host, r.status) for r in missing.results] == [("h1", "failed")]


def test_broadcast_chain(hosts, ghost, payload: Path) -> None:
    results = broadcast([*hosts, ghost], payload, "/tmp/bcast.bin", on_error_continue=True)
    assert [(r.host, r.status) for r in results] == [
        ("h1", "ok"),
        ("h2", "ok"),
        ("h3", "ok"),
        ("h4", "ok"),
        ("ghost", "unreachable"),
    ]
    assert {r.payload["sha256"] for r in results.ok} == {_sha(payload)}
    sums = run_command(
        "sha256sum /tmp/bcast.bin | cut -d' ' -f1; stat -c %a /tmp/bcast.bin; ls /tmp", roles=hosts
    )
    for r in sums:
        lines = r.stdout.splitlines()
        assert lines[:2] == [_sha(payload), "640"]
        assert not [f for f in lines[2:] if "enoslib" in f]  # no part/status files left


def test_broadcast_into_directory_over_a_network(hosts, networks) -> None:
    synced = sync_info(hosts, networks)
    src = Path(__file__)
    results = broadcast(synced, src, "/tmp", network=networks["n2"][0])
    assert [r.payload["dest"] for r in results] == [f"/tmp/{src.name}"] * 4
    assert all(r.payload["sha256"] == _sha(src) for r in results)


def test_sync_info_maps_addresses_to_networks(roles, networks) -> None:
    synced = sync_info(roles, networks)
    assert isinstance(synced, Roles) and list(synced) == list(roles)
    assert all(not h.net_devices for h in roles.all())  # the originals are untouched
    h1 = synced["server"][0]
    assert synced["rack1"][0] is h1  # one object per host across roles
    devices = {d.name: d for d in h1.net_devices}
    assert {"lo", "eth0", "eth1"} <= set(devices)
    n1, n2 = networks["n1"][0], networks["n2"][0]
    (a0,) = [a for a in devices["eth0"].addresses if a.version == 4]
    (a1,) = [a for a in devices["eth1"].addresses if a.version == 4]
    assert (a0.address, a0.network) == ("10.77.0.2/24", n1)
    assert (a1.address, a1.network) == ("10.78.0.2/24", n2)
    assert devices["eth0"].mac and devices["lo"].kind == "loopback"
    assert [a.network for a in devices["lo"].addresses] == [None, None]
    assert h1.filter_interfaces(networks["n2"]) == ["eth1"]
    assert (h1.extra["n1_dev"], h1.extra["n2_ip"]) == ("eth0", "10.78.0.2")
    assert (
        run_command("echo {{ n2_ip }}", roles=synced, pattern_hosts="client")[1].stdout
        == "10.78.0.5"
    )


def test_sync_info_unreachable(hosts, ghost, networks) -> None:
    with pytest.raises(EnosUnreachableHostsError):
        sync_info([hosts[0], ghost], networks)
    kept = sync_info([hosts[0], ghost], networks, on_error_continue=True)
    assert [bool(h.net_devices) for h in kept.all()] == [True, False]
