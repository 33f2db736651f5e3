"""Remote execution on the local testbed: commands, Ansible modules, files.

    python examples/remote_execution.py      (as root: hosts are network namespaces with sshd)

Every snippet of docs/tutorials/remote_execution.md comes from this file, which the test
suite runs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import enoslib as en


def main(name: str = "enos-remote") -> None:
    conf = (
        en.LocalConf.from_settings(name=name)
        .add_network(id="lan", roles=["lan"], cidr="10.89.0.0/24")
        .add_machine(roles=["server"], number=1)
        .add_machine(roles=["client"], number=2)
    )
    with en.Local(conf) as (roles, networks):
        # [commands]
        r = en.run_command("uname -r", roles=roles)  # every host, in parallel
        print({result.host: result.stdout for result in r})
        server = roles["server"][0]
        r = en.run_command(f"ping -c1 -W2 {server.address}", roles=roles["client"])
        assert all(result.rc == 0 for result in r)
        # per-host substitutions: {{{alias}}}, {{{address}}}, {{ var }} (values shell-quoted)
        r = en.run_command("echo I am {{{alias}}} at {{{address}}}", roles=roles)
        print([result.stdout for result in r])
        # a failure raises, unless on_error_continue=True: then look at the failed results
        r = en.run_command("test -e /etc/motd-not-here", roles=roles, on_error_continue=True)
        for result in r.failed:
            print("failed:", result.host, result.rc)
        # [/commands]

        # [actions]
        with en.actions(roles=roles["server"]) as a:
            a.copy(content="hello\n", dest="/tmp/site.conf", task_name="write the site file")
            a.shell("cat /tmp/site.conf", register="out")
            a.wait_for(path="/tmp/site.conf", timeout=10)
        print(a.results.filter(task="write the site file").ok)
        # [/actions]

        # [files]
        with tempfile.TemporaryDirectory() as tmp:
            payload = Path(tmp) / "payload.txt"
            payload.write_text("some data\n")
            en.put(roles, payload, "/tmp/")
            en.get(roles["server"], "/tmp/payload.txt", Path(tmp) / "back")
            print((Path(tmp) / "back" / server.alias / "payload.txt").read_text().strip())
            en.broadcast(roles, payload, "/tmp/copy.txt")  # hosts relay it in a chain
        # [/files]


if __name__ == "__main__":
    main()
