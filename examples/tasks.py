"""An experiment driven in steps from the command line, one process per step.

    python examples/tasks.py up          # new experiment folder ./enos_<date>, ./current -> it
    python examples/tasks.py run         # reloads roles and networks from ./current/env.json
    python examples/tasks.py destroy     # releases what `up` reserved
    python examples/tasks.py run --env enos_20260101-120000   # an older experiment

Hosts come from the Local provider (network namespaces with sshd: run as root).
"""

from __future__ import annotations

import json

import enoslib as en
from enoslib.task import cli, enostask


@enostask(new=True)
def up(name: str = "enos-tasks", hosts: int = 2, env: en.task.Environment | None = None) -> None:
    """Reserve the hosts and save them in the experiment folder."""
    conf = (
        en.LocalConf.from_settings(name=name)
        .add_network(id="lan", roles=["lan"], cidr="10.88.0.0/24")
        .add_machine(roles=["server"], number=1)
        .add_machine(roles=["client"], number=hosts - 1)
    )
    provider = en.Local(conf)
    env["provider"] = provider  # saved first: a failing init can still be destroyed later
    roles, networks = provider.init()
    env["roles"], env["networks"] = roles, networks
    print(f"up: {len(roles.all())} hosts in {env['resultdir']}")


@enostask()
def run(count: int = 1, env: en.task.Environment | None = None) -> None:
    """Ping the server from every client and save the results."""
    roles, networks = env["roles"], env["networks"]
    server = roles["server"][0]
    address = server.filter_addresses(networks["lan"])[0].split("/")[0]
    results = en.run_command(f"ping -c {count} -q {address}", roles=roles["client"])
    out = env["resultdir"] / "ping.json"
    out.write_text(json.dumps(results.to_dict(), indent=2))
    env["runs"] = env.get("runs", 0) + 1
    for r in results:
        print(f"run: {r.host} -> {server.alias} ({address}) rc={r.rc}")
    print(f"run: results in {out}")


@enostask()
def destroy(env: en.task.Environment | None = None) -> None:
    """Release the hosts."""
    env["provider"].destroy()
    print(f"destroy: released {env['provider'].provider_conf.name}")


if __name__ == "__main__":
    cli(up, run, destroy)
