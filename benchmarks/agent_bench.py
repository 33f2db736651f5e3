"""What one request costs a host's agent (enoslib.api._agent): CPU and page faults per module run.

The agent runs here, on this machine, as it runs on a host (the same packed source, the same
protocol on its stdin/stdout, no SSH in between: what the host pays, not the network), with the
payloads enoslib builds for ``stat``, ``file``, ``copy``, ``lineinfile``, ``command`` and
``ping``; then ``sh true`` (a shell command, the unit of the SSH fast path) and the
temporary-directory requests. Per request: median wall time, CPU of the agent process itself
(read the request, run the module or fork and wait, answer) and of its children
(``cutime + cstime``: a module's forked child, the commands a module runs), and the children's
minor page faults (copy-on-write of the warm agent's memory, most of a forked module's kernel
time). The allow-listed modules (``_agent.IN_PROCESS``) run in the agent's process: their
CPU is the agent's; ``--fork`` has every module forked (the request field ``fork``).

Run (no root; hold the test lock as every benchmark does, it loads the machine)::

    flock /tmp/enoslib-tests.lock .venv/bin/python benchmarks/agent_bench.py [--runs 100]
        [--python /usr/bin/python3] [--agent OTHER/_agent.py] [--fork]

``--agent`` runs another version of the agent's source (e.g. ``git show REV:enoslib/api/_agent.py``)
with this checkout's controller side: an A/B of the host side alone.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RUN_ALL_ARGS = ["--runs", "60"]

MODULES: dict[str, dict[str, Any]] = {
    "stat": {"path": "/etc/hostname", "get_mime": False, "get_attributes": False},
    "file": {"path": "{tmp}/f", "state": "touch", "mode": "0644"},
    "copy": {"src": "{tmp}/src", "dest": "{tmp}/dst", "remote_src": True},
    "lineinfile": {"path": "{tmp}/dst", "line": "a"},
    "command": {"_raw_params": "echo a"},
    "ping": {},
}


class Agent:
    def __init__(self, python: str) -> None:
        from enoslib.api import agents
        from enoslib.api._agent import _BOOT

        self.proc = subprocess.Popen([python, "-c", _BOOT, agents._packed()],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.pid = self.read()["hello"]["pid"]

    def read(self) -> dict[str, Any]:
        from enoslib.api.agents import read_frame

        assert self.proc.stdout is not None
        return read_frame(self.proc.stdout)

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        from enoslib.api.agents import frame

        assert self.proc.stdin is not None
        self.proc.stdin.write(frame(json.dumps(request).encode()))
        self.proc.stdin.flush()
        return self.read()

    def counters(self) -> tuple[float, float, int]:
        """(own CPU s, reaped children's CPU s, children's minor faults)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        return ((int(fields[11]) + int(fields[12])) / tick,
                (int(fields[13]) + int(fields[14])) / tick, int(fields[8]))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def module_request(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """The request our TaskExecutor path sends for ``name`` (zip included: the first one)."""
    from enoslib.api import agents
    from enoslib.api._executor import _module_path
    from enoslib.api.modules import _module_args, module_payload

    built = module_payload(name, _module_path(name, None), _module_args(name, args, False))
    return {**built.request(True), "lib": agents.lib_key(built), "env": {}}


def measure(agent: Agent, request: dict[str, Any], runs: int) -> tuple[float, float, float, float]:
    """Median wall ms, agent CPU ms, module CPU ms, module page faults per request."""
    reply = agent.ask(request)  # the library built or checked, the agent warm
    request.pop("zip_data", None)
    if "rc" not in reply:
        raise SystemExit(f"agent answered {reply}")
    walls = []
    before = agent.counters()
    for _ in range(runs):
        t = time.perf_counter()
        agent.ask(request)
        walls.append(time.perf_counter() - t)
    after = agent.counters()
    own, children, faults = ((b - a) / runs for a, b in zip(before, after))
    return statistics.median(walls) * 1000, own * 1000, children * 1000, faults


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100, help="requests of each kind")
    host_python = [p for p in ("/usr/bin/python3", shutil.which("python3")) if p and os.path.exists(p)]
    parser.add_argument("--python", default=(host_python or [sys.executable])[0],
                        help="the host's interpreter (the agent runs under it)")
    parser.add_argument("--agent", help="another _agent.py to run (default: this checkout's)")
    parser.add_argument("--fork", action="store_true",
                        help="every module in a forked child (none in the agent's process)")
    args = parser.parse_args(argv)
    if args.agent:
        import hashlib

        from enoslib.api import agents

        code = Path(args.agent).read_bytes()
        agents._agent_source = lambda: (code, hashlib.sha256(code).hexdigest())
    tmp = tempfile.mkdtemp(prefix="agent-bench-")
    Path(tmp, "src").write_text("a\n")
    agent = Agent(args.python)
    try:
        rows = []
        for name, module_args in MODULES.items():
            filled = {k: v.format(tmp=tmp) if isinstance(v, str) else v
                      for k, v in module_args.items()}
            request = module_request(name, filled)
            if args.fork:
                request["fork"] = True
            rows.append((f"module {name}", measure(agent, request, args.runs)))
        rows.append(("sh: true", measure(agent, {"sh": "true", "stdin": ""}, args.runs)))
        rows.append(("expanduser ~", measure(agent, {"expanduser": "~"}, args.runs)))
        data = base64.b64encode(b"x" * 4096).decode()
        rows.append(("put 4 KiB", measure(agent, {"put": f"{tmp}/p", "data": data}, args.runs)))
    finally:
        agent.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"agent {args.agent or 'of this checkout'} under {args.python}"
          f"{', every module forked' if args.fork else ''}, {args.runs} requests each "
          "(CPU from /proc: 10 ms ticks, averaged)")
    print(f"{'request':<18} {'wall ms':>8} {'agent CPU ms':>13} {'children CPU ms':>16} "
          f"{'children faults':>16}")
    for label, (wall, own, children, faults) in rows:
        print(f"{label:<18} {wall:>8.2f} {own:>13.2f} {children:>16.2f} {faults:>16.0f}")
    print(f"rerun: flock /tmp/enoslib-tests.lock {sys.executable} benchmarks/agent_bench.py "
          f"--runs {args.runs} --python {args.python}" + (f" --agent {args.agent}" if args.agent else "")
          + (" --fork" if args.fork else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
