"""Hardware and network shapes of the generated Grid'5000 dataset.

Cluster shapes follow the real clusters (cores, memory, NICs, disks, queues,
exotic flag); per-site networks follow the real ranges where known. Add your
own with ``make_dataset(..., shapes={"mycluster": ClusterShape(...)})``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "CLUSTER_SHAPES",
    "DEFAULT_LAYOUT",
    "GENERIC_SHAPE",
    "SITE_NETWORKS",
    "ClusterShape",
    "Nic",
]


@dataclass(frozen=True)
class Nic:
    """One network adapter of a cluster's nodes."""

    device: str
    name: str
    rate: int = 10_000_000_000
    mountable: bool = True
    kavlan: bool = True
    driver: str = "i40e"


@dataclass(frozen=True)
class ClusterShape:
    """Hardware shape shared by every node of a cluster."""

    model: str
    cpu_model: str
    cpu_version: str
    clock_speed: int
    procs: int
    cores_per_proc: int
    ram_gib: int
    nics: tuple[Nic, ...] = (Nic("eth0", "eno1"),)
    platform: str = "x86_64"
    cpu_vendor: str = "Intel"
    threads_per_core: int = 2
    disks: tuple[tuple[str, int, str], ...] = (("sda", 600_127_266_816, "HDD"),)
    queues: tuple[str, ...] = ("admin", "default")
    exotic: bool = False
    created_at: str = "Mon, 05 Jan 2015 23:00:00 GMT"
    gpus: int = 0
    nodes: int = 8  # real size, used when a layout does not say


CLUSTER_SHAPES: dict[str, ClusterShape] = {
    "paravance": ClusterShape(
        "Dell PowerEdge R630",
        "Intel Xeon E5-2630 v3",
        "E5-2630 v3",
        2_400_000_000,
        2,
        8,
        128,
        (Nic("eth0", "eno1"), Nic("eth1", "eno2")),
        nodes=72,
    ),
    "parasilo": ClusterShape(
        "Dell PowerEdge R630",
        "Intel Xeon E5-2630 v3",
        "E5-2630 v3",
        2_400_000_000,
        2,
        8,
        128,
        (Nic("eth0", "eno1"), Nic("eth1", "eno2")),
        disks=(
            ("sda", 600_127_266_816, "HDD"),
            ("sdb", 600_127_266_816, "HDD"),
            ("sdf", 200_049_647_616, "SSD"),
        ),
        nodes=28,
    ),
    "roazhon4": ClusterShape(
        "Dell PowerEdge R640",
        "Intel Xeon Gold 5220",
        "Gold 5220",
        2_200_000_000,
        2,
        18,
        384,
        (Nic("eth0", "eno1", 25_000_000_000),),
        queues=("production",),
        nodes=1,
        created_at="Tue, 01 Mar 2022 23:00:00 GMT",
    ),
    "grisou": ClusterShape(
        "Dell PowerEdge R630",
        "Intel Xeon E5-2630 v3",
        "E5-2630 v3",
        2_400_000_000,
        2,
        8,
        128,
        (
            Nic("eth0", "enp4s0f0"),
            Nic("eth1", "enp4s0f1"),
            Nic("eth2", "enp5s0f0"),
            Nic("eth3", "enp5s0f1"),
            Nic("eth4", "eno1", 1_000_000_000, False, False, "igb"),
        ),
        nodes=51,
    ),
    "gros": ClusterShape(
        "Dell PowerEdge R640",
        "Intel Xeon Gold 5220",
        "Gold 5220",
        2_200_000_000,
        1,
        18,
        96,
        (
            Nic("eth0", "eno1", 25_000_000_000, driver="mlx5_core"),
            Nic("eth1", "eno2", 25_000_000_000, False, False, "mlx5_core"),
        ),
        disks=(("sda", 480_103_981_056, "SSD"), ("sdb", 960_197_124_096, "SSD")),
        nodes=124,
        created_at="Thu, 04 Jul 2019 22:00:00 GMT",
    ),
    "graffiti": ClusterShape(
        "Dell PowerEdge T640",
        "Intel Xeon Silver 4110",
        "Silver 4110",
        2_100_000_000,
        2,
        8,
        128,
        (Nic("eth0", "ens5f0"),),
        queues=("production",),
        gpus=4,
        nodes=13,
        created_at="Wed, 05 Jun 2019 22:00:00 GMT",
    ),
    "nova": ClusterShape(
        "Dell PowerEdge R430",
        "Intel Xeon E5-2620 v4",
        "E5-2620 v4",
        2_100_000_000,
        2,
        8,
        64,
        (Nic("eth0", "enp5s0f0"),),
        nodes=23,
        created_at="Tue, 20 Dec 2016 23:00:00 GMT",
    ),
    "pyxis": ClusterShape(
        "R181-T92-00",
        "ThunderX2 99xx",
        "99xx",
        2_200_000_000,
        2,
        32,
        256,
        (Nic("eth0", "eth0", 10_000_000_000, driver="qede"),),
        platform="aarch64",
        cpu_vendor="Cavium",
        threads_per_core=4,
        exotic=True,
        nodes=4,
        created_at="Tue, 07 Jan 2020 23:00:00 GMT",
    ),
}

GENERIC_SHAPE = ClusterShape(
    "Generic 1U server", "Intel Xeon Gold 6130", "Gold 6130", 2_100_000_000, 2, 16, 192
)

# Real-looking per-site networking; unknown sites get generated values.
SITE_NETWORKS: dict[str, dict[str, Any]] = {
    "rennes": {
        "index": 0,
        "prod": "172.16.96.0/20",
        "subnet": "10.156.0.0/14",
        "kavlan": "10.24.0.0/14",
        "global": 16,
        "name": "Rennes",
    },
    "nancy": {
        "index": 1,
        "prod": "172.16.64.0/20",
        "subnet": "10.144.0.0/14",
        "kavlan": "10.16.0.0/14",
        "global": 15,
        "name": "Nancy",
    },
    "lyon": {
        "index": 2,
        "prod": "172.16.48.0/20",
        "subnet": "10.140.0.0/14",
        "kavlan": "10.12.0.0/14",
        "global": 12,
        "name": "Lyon",
    },
}

DEFAULT_LAYOUT: dict[str, list[str]] = {
    "rennes": ["paravance", "parasilo", "roazhon4"],
    "nancy": ["grisou", "gros", "graffiti"],
    "lyon": ["nova", "pyxis"],
}
