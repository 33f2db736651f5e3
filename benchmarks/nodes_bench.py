"""How fast does enoslib.nodes bring SSH hosts up and down?

    python benchmarks/nodes_bench.py [N ...]        (default: 10 50)

For each N: create N nodes on one network (sshd up and answering), check
every node answers an SSH banner, run ``ssh node true`` on all nodes in
parallel (cold: one handshake each; then again over ControlMaster
connections), and destroy. Root gets a NamespaceLab, others a LoopbackLab.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from enoslib.nodes import lab_for_current_user


def ssh_all(lab, multiplex: bool) -> float:
    """Seconds to run ``true`` on every node at once (one ssh process per node)."""
    argvs = [
        ["ssh", *lab.ssh_options(multiplex), "-p", str(n.port), f"{n.user}@{n.address}", "true"]
        for n in lab.nodes.values()
    ]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(argvs)) as pool:
        codes = list(pool.map(lambda a: subprocess.run(a, timeout=60, check=False).returncode, argvs))
    if any(codes):
        raise SystemExit(f"ssh failed on {sum(1 for c in codes if c)} nodes")
    return time.perf_counter() - start


def bench(n: int) -> dict[str, float]:
    name = f"bench{os.getpid() % 10000}"
    t0 = time.perf_counter()
    lab = lab_for_current_user(name)
    try:
        lab.add_bridge("bench", "10.250.0.0/22")
        t1 = time.perf_counter()
        lab.add_nodes([f"n{i}" for i in range(n)], networks=["bench"])
        t2 = time.perf_counter()
        lab.wait_ssh(timeout=30)
        t3 = time.perf_counter()
        cold = ssh_all(lab, multiplex=False)
        ssh_all(lab, multiplex=True)  # opens the masters
        warm = ssh_all(lab, multiplex=True)
    finally:
        t4 = time.perf_counter()
        lab.destroy()
        t5 = time.perf_counter()
    return {
        "lab+bridge": t1 - t0,
        "add_nodes (sshd answering)": t2 - t1,
        "wait_ssh": t3 - t2,
        "ssh true, all, cold": cold,
        "ssh true, all, ControlMaster": warm,
        "destroy": t5 - t4,
    }


RUN_ALL_ARGS = ["10"]  # benchmarks/run_all.py's quick run
RUN_ALL_ROOT = True

def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [10, 50]
    kind = "NamespaceLab" if os.geteuid() == 0 else "LoopbackLab"
    results = {n: bench(n) for n in sizes}
    rows = list(next(iter(results.values())))
    width = max(map(len, rows))
    print(f"enoslib.nodes ({kind}, {os.cpu_count()} CPUs), seconds")
    print(f"{'':{width}}" + "".join(f"{f'N={n}':>10}" for n in sizes))
    for row in rows:
        print(f"{row:{width}}" + "".join(f"{results[n][row]:10.3f}" for n in sizes))


if __name__ == "__main__":
    main()
