"""Helpers shared by the Grid'5000 tests (importable as ``g5k_helpers``)."""

from __future__ import annotations

import contextlib

import pytest

from enoslib.config import config_context
from enoslib.infra.enos_g5k.client import G5kClient, reset_api
from enoslib.infra.enos_g5k.oar import ACTIVE_STATES


@pytest.fixture(autouse=True)
def private_cache(tmp_path):
    """A private reference cache and no display; the default API connection forgotten after."""
    with config_context(cache_dir=str(tmp_path / "cache"), display="noop"):
        yield
    reset_api()


@pytest.fixture
def emu():
    """The emulator on a stepped clock, address-only nodes."""
    from enoslib.emulators.g5k import G5kEmulator, legacy_dataset

    with G5kEmulator(legacy_dataset(4), speed=0, backend="address", nodes_per_cluster=4, launch_delay=3, deploy_duration=20) as e:
        yield e


def make_client(emu, **options):
    """A client on the emulator whose waits move the emulator's virtual clock."""
    options.setdefault("sleep", emu.advance)
    options.setdefault("now", emu.clock.now)
    return G5kClient(emu.uri, emu.username, emu.password, **options)


def active_jobs(emu, user=None):
    """Jobs holding (or about to hold) resources, seen through a fresh real client."""
    probe = G5kClient(emu.uri, emu.username, emu.password, retries=0)
    found = []
    for site in [s["uid"] for s in probe.items("/sites")]:
        for job in probe.items(f"/sites/{site}/jobs", state=",".join(ACTIVE_STATES), limit=500):
            if user is None or job.get("user") == user:
                found.append((site, job["uid"], job["state"], job.get("name")))
    return found


def random_conf(rng, key, name):
    deploy = rng.random() < 0.5
    settings = {"job_name": name}
    if deploy:
        settings.update(job_type=["deploy"], env_name="debian12-min", key=key, wait_ssh=False, dhcp=False,
                        deploy_tries=rng.randint(1, 3))
    conf = basic_conf(**settings)
    sites = rng.sample([("paravance", "rennes"), ("grisou", "nancy"), ("nova", "lyon")], rng.randint(1, 3))
    for cluster, site in sites:
        nodes = rng.randint(1, 3)
        conf.add_machine(roles=[cluster], cluster=cluster, nodes=nodes, min=rng.randint(0, nodes))
        if deploy and rng.random() < 0.4:
            conf.add_network(type="kavlan", roles=[f"v-{site}"], site=site)
            conf.machines[-1].primary_network = conf.networks[-1].id
        if rng.random() < 0.3:
            conf.add_network(type="slash_22", roles=[f"ips-{site}"], site=site)
    return conf


def basic_conf(**settings):
    from enoslib.infra.enos_g5k import G5kConf

    settings.setdefault("job_name", "test")
    settings.setdefault("walltime", "1:00:00")
    settings.setdefault("root_access", False)
    return G5kConf.from_settings(**settings)


class StallingProxy:
    """A TCP forwarder to the emulator that, while stalled, accepts requests and never answers
    them (nor forwards them: a stalled request is never processed later), like an API behind
    a hung load balancer. ``stall_for(seconds)`` (real seconds) or ``stalled = True``."""

    def __init__(self, emu):
        import socket
        import threading
        import time
        from urllib.parse import urlsplit

        self._time = time
        target = urlsplit(emu.uri)
        self._target = (target.hostname, target.port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.uri = f"http://127.0.0.1:{self._listener.getsockname()[1]}{target.path}"
        self.stalled = False
        self._until = 0.0
        self._closed = False
        self._sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def stall_for(self, seconds):
        self._until = self._time.monotonic() + seconds

    def is_stalled(self):
        return self.stalled or self._time.monotonic() < self._until

    def _accept(self):
        import socket
        import threading

        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target)
            except OSError:
                conn.close()
                continue
            self._sockets += [conn, upstream]
            threading.Thread(target=self._pipe, args=(conn, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, conn, False), daemon=True).start()

    def _pipe(self, src, dst, requests):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if requests and self.is_stalled():
                    continue  # swallowed: no answer will ever come for it
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self):
        self._closed = True
        self._listener.close()
        for s in self._sockets:
            try:
                s.close()
            except OSError:
                pass


@contextlib.contextmanager
def following_ssh_config(emu, path):
    """Keep the ssh_config file ``path`` equal to the emulator's (node names move with vlans,
    guests come and go) and make it the one enoslib uses, while the block runs."""
    import os
    import threading

    from enoslib.config import config_context

    path.write_text("")
    stop = threading.Event()

    def follow():
        while not stop.is_set():
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(emu.ssh_config())
            os.replace(tmp, path)
            stop.wait(0.05)

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    try:
        with config_context(ssh_config_file=str(path)):
            yield path
    finally:
        stop.set()
        thread.join()
