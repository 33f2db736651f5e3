"""The bench lab: N local SSH hosts (network namespaces + sshd) for the benchmarks.

Shared by ``api_bench.py`` and ``execo_bench.py`` (not a benchmark itself: no
``RUN_ALL_ARGS``, run_all skips it)::

    with bench_lab("apibench", 10, "10.79.0.0/16", prefix="b") as (lab, hosts):
        ...  # hosts: enoslib Hosts, alias = node name; connections closed on exit

Root only. An interrupted earlier run's leftovers are removed first; enoslib's cache dir
is a fresh temporary directory (``~/.cache/enoslib`` is shared by every run on a machine).
"""

from __future__ import annotations

import sys
import tempfile
import time
from contextlib import contextmanager
from typing import Any, Iterator

# lab nodes get new host keys each run
DISPOSABLE = {"ansible_host_key_checking": False}


@contextmanager
def bench_lab(name: str, n: int, cidr: str, prefix: str = "h",
              timeout: float = 180) -> Iterator[tuple[Any, list[Any]]]:
    """Bring up ``n`` hosts named ``<prefix><i>`` on one bridge ``cidr``; yield (lab, hosts)."""
    from enoslib.api import close_connections
    from enoslib.config import set_config
    from enoslib.nodes import NamespaceLab
    from enoslib.objects import Host

    set_config(cache_dir=tempfile.mkdtemp(prefix=f"{name}-cache-"))
    if NamespaceLab.load(name) is not None or NamespaceLab.leftovers(name):
        NamespaceLab.cleanup_all(name)
    t0 = time.perf_counter()
    with NamespaceLab(name) as lab:
        lab.add_bridge("n1", cidr)
        infos = lab.add_nodes([f"{prefix}{i}" for i in range(n)], networks=["n1"], timeout=timeout)
        lab.wait_ssh(timeout=timeout)
        print(f"{n} hosts up in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        hosts = [Host(i.address, alias=i.name, user=i.user, port=i.port, keyfile=i.keyfile,
                      extra=dict(DISPOSABLE)) for i in infos]
        try:
            yield lab, hosts
        finally:
            close_connections(hosts)


def host_specs(hosts: list[Any]) -> list[dict[str, Any]]:
    """The hosts as JSON for a worker process (another tool, another venv)."""
    return [{"address": h.address, "alias": h.alias, "user": h.user, "port": h.port,
             "keyfile": h.keyfile} for h in hosts]
