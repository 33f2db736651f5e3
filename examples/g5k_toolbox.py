"""The execo_g5k-style toolbox: submit, wait, get nodes and subnets, deploy, delete.

``ENOSLIB_G5K_EMULATOR=1 python examples/g5k_toolbox.py``
"""

from __future__ import annotations

from pathlib import Path

from g5k_support import EMULATED, node_settings, testbed
from rich.console import Console

from enoslib import g5k

console = Console()


def main() -> None:
    with testbed():
        console.print("clusters of nancy:", g5k.get_site_clusters("nancy"))
        spec = g5k.OarSubmission(["{cluster='grisou'}/nodes=2", "slash_22=1"], walltime="0:45:00",
                                 job_type="deploy", name="toolbox")
        jobs = g5k.oarsub([(spec, "nancy")])
        job_id, site = jobs[0]
        try:
            g5k.wait_oar_job_start(job_id, site, prediction_callback=lambda t: console.print("starts at", t))
            hosts = g5k.get_oar_job_nodes(job_id, site)
            console.print("nodes:", [h.address for h in hosts])
            pairs, params = g5k.get_oar_job_subnets(job_id, site)
            console.print(f"{len(pairs)} addresses in {params['ip_prefix']}, gateway {params['gateway']}")
            key = Path(node_settings()["key"]).read_text() if EMULATED else None
            deployed, undeployed = g5k.deploy(g5k.Deployment(hosts, env_name="debian12-min", key=key),
                                              check_deployed_command=not EMULATED, num_tries=2)
            console.print("deployed:", sorted(deployed), "undeployed:", sorted(undeployed))
        finally:
            g5k.oardel(jobs)


if __name__ == "__main__":
    main()
