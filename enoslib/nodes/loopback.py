"""Non-root fallback: every node is an sshd of the current user on 127.0.0.1, own port.

Networks are address-only: ``add_bridge`` records a cidr and nodes get
addresses from it (for inventories and configurations), but no packet uses
them; ssh goes to ``127.0.0.1:<port>``.

Isolation, best available:

* root: a private mount + UTS namespace (``unshare``): own /root, /tmp, hostname;
* other users: the same inside a user namespace mapping the user to itself
  (``unshare --map-current-user --keep-caps``; capabilities are dropped with
  ``setpriv`` before sshd starts), when the kernel allows it;
* otherwise none: sshd runs as is, with the user's own home and rc files.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import socket
import stat
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from . import sshd as sshd_mod
from ._lab import BaseLab
from ._names import lab_tag
from ._system import run
from ._types import LabError, NodeInfo

__all__ = ["LoopbackLab"]

PORT_BASE = 20000
PORT_SPAN = 30000


@cache
def _userns_works(probe_dir: str) -> bool:
    """Can this (non-root) user mount and set a hostname in a user namespace?"""
    if not (shutil.which("unshare") and shutil.which("setpriv")):
        return False
    q = shlex.quote(probe_dir)
    cp = run(
        [
            "unshare", "--map-current-user", "--mount", "--uts", "--keep-caps",
            "--propagation", "private", "--", "/bin/sh", "-c",
            (
                f"mount --bind {q} {q} && hostname enoslib-probe && "
                "exec setpriv --inh-caps=-all --ambient-caps=-all true"
            ),
        ],
        check=False,
        timeout=10,
    )
    return cp.returncode == 0


class LoopbackLab(BaseLab):
    """SSH hosts as sshd processes of the current user on 127.0.0.1 (no root needed).

    Same API as :class:`~enoslib.nodes.NamespaceLab`; ``move_interface``
    needs real networks and raises :class:`LabError`. ``isolation`` tells
    what the nodes get: ``"mount"`` (root), ``"userns"`` or ``"none"``.
    """

    kind = "loopback"

    @classmethod
    def default_state_dir(cls, name: str) -> Path:
        uid = os.geteuid()
        if uid == 0:
            return Path("/run/enoslib-nodes") / name
        # Not under $HOME nor /tmp: nodes get their own, mounted over those.
        return Path(f"/var/tmp/enoslib-nodes-{uid}") / name

    @property
    def isolation(self) -> str:
        return str(self._state["extra"]["isolation"])

    # ------------------------------------------------------------------ checks

    def _preflight(self) -> None:
        sshd_mod.sshd_binary()
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
            return
        parent = self.state_dir.parent
        if parent == self.default_state_dir(self.name).parent:
            # A shared, sticky directory (/var/tmp): make sure nobody planted it.
            parent.mkdir(mode=0o700, exist_ok=True)
            st = os.lstat(parent)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
                raise LabError(f"{parent} must be a directory owned by you with mode 0700")

    def _init_extra(self) -> None:
        if os.geteuid() == 0:
            mode = "mount" if shutil.which("unshare") else "none"
        elif Path(self._home()).is_dir() and _userns_works(str(self.state_dir)):
            mode = "userns"
        else:
            mode = "none"
        self._state["extra"]["isolation"] = mode

    def _covered_dirs(self) -> list[str]:
        return ["/tmp", self._home()]

    def _home(self) -> str:
        return "/root" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_dir

    def _user(self) -> str:
        return pwd.getpwuid(os.geteuid()).pw_name

    def _netns_name(self, node: str) -> None:
        return None

    # ------------------------------------------------------------------ nodes

    def _setup_nodes(self, records: Sequence[dict[str, Any]]) -> None:
        """Pick a port per node: deterministic start (from the lab name), skipping busy ones."""
        taken = {r["port"] for r in self._state["nodes"].values() if r.get("status") == "ready"}
        port = PORT_BASE + int(lab_tag(self.name), 16) % PORT_SPAN
        for rec in records:
            for itf in rec["interfaces"]:
                itf["host_ifname"] = None
            while port in taken or not _port_free(port):
                port = PORT_BASE + (port - PORT_BASE + 1) % PORT_SPAN
            rec["port"] = port
            taken.add(port)

    def _listen_address(self, rec: Mapping[str, Any]) -> str:
        return "127.0.0.1"

    def _launch_argv(self, rec: Mapping[str, Any]) -> list[str]:
        ndir = self._node_dir(rec["name"])
        q = shlex.quote
        sshd = self._sshd_argv(rec)
        mode = self.isolation
        if mode == "none":
            return sshd
        steps = [
            f"mount --bind {q(str(ndir / 'home'))} {q(self._home())}",
            f"mount --bind {q(str(ndir / 'tmp'))} /tmp",
        ]
        if os.path.exists("/etc/hosts"):
            steps.append(f"mount --bind {q(str(self._hosts_file))} /etc/hosts")
        steps.append(f"hostname {q(rec['name'])}")
        unshare = ["unshare", "--mount", "--uts", "--propagation", "private"]
        if mode == "userns":
            unshare[1:1] = ["--map-current-user", "--keep-caps"]
            # --keep-caps was needed for the mounts; sshd and sessions get none.
            sshd = ["setpriv", "--inh-caps=-all", "--ambient-caps=-all", *sshd]
        steps.append("exec " + shlex.join(sshd))
        # A copy of /run/netns would keep every named network namespace alive.
        script = "umount -R -l /run/netns 2>/dev/null; " + " && ".join(steps)
        return [*unshare, "--", "/bin/sh", "-c", script]

    def _ssh_target(self, rec: Mapping[str, Any]) -> tuple[str, int]:
        return "127.0.0.1", rec["port"]

    def _exec_prefix(self, rec: Mapping[str, Any]) -> tuple[list[str], str]:
        home = str(self._node_dir(rec["name"]) / "home")
        mode = self.isolation
        if mode == "none":
            # Nothing to enter: run on the machine, from the node's directory.
            return ["env", "-C", home], home
        enter = ["nsenter", f"--target={rec['pid']}", "--mount", "--uts"]
        if mode == "userns":
            enter[1:1] = ["--user", "--preserve-credentials"]
        return [*enter, f"--wdns={self._home()}", "--"], self._home()

    def move_interface(
        self, node: str, from_network: str, to_network: str, address: str | None = None
    ) -> NodeInfo:
        """Not possible without root: raises :class:`LabError`."""
        self._move_interface({}, {}, {}, False)
        raise AssertionError("unreachable")

    def _move_interface(
        self, rec: Mapping[str, Any], itf: Mapping[str, Any], old: Mapping[str, Any], first: bool
    ) -> None:
        raise LabError(
            "move_interface needs root: LoopbackLab networks are address-only "
            "(use NamespaceLab to move interfaces between bridges)"
        )


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
