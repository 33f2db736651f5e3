"""The main job: a real latency experiment on the local embedded testbed.

Four hosts in two "sites" (network namespaces with sshd, on a Linux bridge), a latency
matrix applied with tc/netem (5 ms inside a site, 25 ms between sites, one way), RTTs
measured with fping from every host, compared with what was asked, saved as JSON and PNG.
Everything is released at the end, errors and Ctrl-C included. Exit code 1 if a measured
RTT is off by more than the tolerance.

Run: ``bash scripts/demo.sh`` (or ``.venv/bin/python examples/latency_matrix.py --help``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rich.console import Console

import enoslib as en

TOPOLOGY = {
    "groups": ["paris", "berlin"],
    "default_delay": "5ms",
    "except": [{"src": "paris", "dst": "berlin", "delay": "25ms", "symmetric": True}],
}


def build_conf(name: str, per_site: int) -> "en.LocalConf":
    return (
        en.LocalConf.from_settings(name=name)
        .add_network(id="wan", roles=["wan"], cidr="10.87.0.0/24")
        .add_machine(roles=["paris"], number=per_site)
        .add_machine(roles=["berlin"], number=per_site)
    )


def plot(report: "en.LatencyReport", path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({s for s, _ in report.expected} | {d for _, d in report.expected})
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, (title, values) in zip(axes, (("expected RTT (ms)", report.expected), ("measured RTT (ms)", report.measured))):
        grid = [[(values.get((s, d)) or 0.0) if s != d else 0.0 for d in names] for s in names]
        image = ax.imshow(grid, cmap="viridis")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_yticks(range(len(names)), names)
        ax.set_title(title)
        for i, row in enumerate(grid):
            for j, v in enumerate(row):
                ax.text(j, i, f"{v:.1f}", ha="center", va="center", color="white", fontsize=8)
        fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="enos-demo", help="experiment name (re-runs reuse its hosts)")
    parser.add_argument("--per-site", type=int, default=2, help="hosts per site")
    parser.add_argument("--count", type=int, default=20, help="pings per pair")
    parser.add_argument("--tolerance", type=float, default=0.10, help="allowed relative RTT error")
    parser.add_argument("--out", type=Path, default=Path("results"), help="where to save JSON and PNG")
    parser.add_argument("--throughput", action="store_true", help="also measure a 100mbit-capped link with iperf3")
    args = parser.parse_args(argv)

    console = Console()
    conf = build_conf(args.name, args.per_site)
    started = time.monotonic()
    with en.Local(conf) as (roles, networks):
        console.print(roles)
        hostnames = en.run_command("hostname", roles=roles)
        console.print(f"[bold]{len(hostnames.ok)} hosts answer over SSH[/]: " + ", ".join(r.stdout.strip() for r in hostnames))

        netem = en.NetemHTB.from_topology(TOPOLOGY, roles, networks=networks["wan"])
        netem.deploy()
        report = netem.validate(count=args.count)
        report.tolerance = args.tolerance
        console.print(report.table())
        data = {"topology": TOPOLOGY, "hosts": [h.alias for h in roles.all()], "latency": report.to_dict()}

        if args.throughput:
            data["throughput"] = throughput(roles, console)
        netem.destroy()

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latency.json").write_text(json.dumps(data, indent=2))
    plot(report, args.out / "latency.png")
    console.print(f"saved {args.out / 'latency.json'} and {args.out / 'latency.png'}; "
                  f"{time.monotonic() - started:.1f} s; everything released")
    if not report.ok:
        console.print(f"[red]measured RTTs are off by more than {args.tolerance:.0%}[/]")
        return 1
    console.print("[green]measured RTTs match the requested latencies[/]")
    return 0


def throughput(roles: "en.Roles", console: Console) -> dict[str, float]:
    """iperf3 from a paris host to a berlin host over a link capped at 100 mbit."""
    server, client = roles["berlin"][0], roles["paris"][0]
    cap = en.NetemHTB().add_constraints([client], [server], rate="100mbit")
    cap.deploy()
    try:
        en.run_command("iperf3 -s -D -1", roles=[server])
        time.sleep(0.3)
        out = en.run_command(f"iperf3 -c {server.address} -t 3 -J", roles=[client])
        bits = json.loads(out[0].stdout)["end"]["sum_received"]["bits_per_second"]
    finally:
        cap.destroy()
    console.print(f"throughput {client.alias} -> {server.alias} (capped at 100 mbit): {bits / 1e6:.1f} Mbit/s")
    return {"cap_mbit": 100.0, "measured_mbit": bits / 1e6}


if __name__ == "__main__":
    sys.exit(main())
