"""Finding and removing a lab's traces by its name: teardown and crash recovery.

Whatever the state file says, :func:`sweep` removes what carries the lab's
name (see :mod:`._names`): processes, network namespaces, links, state dir.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from ._names import (
    LAB_NAME_RE,
    MARKER,
    STATE_FILE,
    is_lab_dir,
    is_lab_link,
    lab_marker_prefix,
    netns_prefix,
)
from ._system import (
    delete_links,
    existing_links,
    ip_batch,
    kill_processes,
    netns_names,
    ns_inode,
    scan_processes,
    select_processes,
)
from ._types import LabError


def _own_namespaces() -> set[int]:
    """Namespaces of this process and of init: never ones to kill a lab by."""
    found = set()
    for pid in ("self", "1"):
        for kind in ("net", "mnt"):
            ino = ns_inode(f"/proc/{pid}/ns/{kind}")
            if ino is not None:
                found.add(ino)
    return found


def lab_process_finder(
    *,
    markers: Iterable[bytes] = (),
    marker_prefixes: Iterable[bytes] = (),
    netns_paths: Iterable[str] = (),
    cmdline_substrings: Iterable[bytes] = (),
) -> Callable[[], set[int]]:
    """A function returning the pids belonging to some lab nodes.

    * seeds: processes carrying one of the ``ENOSLIB_NODES`` markers (the
      sshd we started and every session it opened) or, without anything
      else, whose command line contains one of ``cmdline_substrings``;
    * everything descending from a seed;
    * everything inside the given named network namespaces (the node's
      own: commands someone ran there with ``ip netns exec``);
    * everything in a network or mount namespace of a marked seed, but only
      if nothing else lives in that namespace: a node's private namespaces
      qualify, the machine's never do, whoever calls and from wherever.
    """
    exact = set(markers)
    prefixes = tuple(marker_prefixes)
    netns_paths = list(netns_paths)
    cmdline_substrings = tuple(cmdline_substrings)
    excluded = _own_namespaces()

    def find() -> set[int]:
        procs = list(scan_processes(MARKER))
        marked, seeds = set(), set()
        for p in procs:
            if exact.intersection(p.markers) or (
                prefixes and any(m.startswith(prefixes) for m in p.markers)
            ):
                marked.add(p.pid)
            elif cmdline_substrings and any(s in p.cmdline for s in cmdline_substrings):
                seeds.add(p.pid)
        owned = select_processes(procs, roots=marked | seeds)
        lab_nets = {i for i in (ns_inode(path) for path in netns_paths) if i is not None}
        candidates: dict[str, set[int | None]] = {"net": set(), "mnt": set()}
        for p in procs:
            if p.pid in marked:
                candidates["net"].add(p.net)
                candidates["mnt"].add(p.mnt)
        private: dict[str, set[int]] = {}
        for kind, found in candidates.items():
            inodes = {i for i in found if i is not None and i not in excluded}
            shared = {getattr(p, kind) for p in procs if p.pid not in owned}
            private[kind] = inodes - shared
        return owned | select_processes(
            procs, net_inodes=lab_nets | private["net"], mnt_inodes=private["mnt"]
        )

    return find


def lab_namespaces(name: str) -> list[str]:
    return [n for n in netns_names() if n.startswith(netns_prefix(name))]


def sweep(
    name: str,
    state_dir: Path,
    *,
    children: Mapping[int, subprocess.Popen[bytes]] | None = None,
    links: Sequence[str] = (),
) -> None:
    """Remove everything of lab ``name`` found on the machine, with or without state.

    ``links`` are deleted too (names from the state), ``children`` are our
    own Popen objects (reaped through Popen). Errors are collected, and
    raised together at the end once everything was tried.
    """
    namespaces = lab_namespaces(name)
    errors = []
    try:
        kill_processes(
            lab_process_finder(
                marker_prefixes=[lab_marker_prefix(name)],
                netns_paths=[f"/run/netns/{n}" for n in namespaces],
                # ssh ControlMaster clients of this lab (their sockets die with the dir)
                cmdline_substrings=[f"ControlPath={state_dir}/cm/".encode()],
            ),
            children=children,
        )
    except LabError as e:
        errors.append(str(e))
    if shutil.which("ip"):
        found = [n for n, alias in existing_links().items() if is_lab_link(name, n, alias)]
        delete_links([*links, *found])
        ip_batch([f"netns del {n}" for n in namespaces], force=True)
    if is_lab_dir(state_dir):
        shutil.rmtree(state_dir, ignore_errors=True)
    else:
        errors.append(f"{state_dir} holds files that are not a lab's: not deleted")
    if errors:
        raise LabError("; ".join(errors))


def leftovers(name: str, state_dir: Path) -> list[str]:
    """Human-readable list of what exists of lab ``name`` on the machine (empty: nothing)."""
    found = [f"netns {n}" for n in lab_namespaces(name)]
    if shutil.which("ip"):
        found += [
            f"link {n}" for n, alias in existing_links().items() if is_lab_link(name, n, alias)
        ]
    prefix = lab_marker_prefix(name)
    for p in scan_processes(MARKER):
        if any(m.startswith(prefix) for m in p.markers):
            command = p.cmdline.replace(b"\0", b" ").decode(errors="replace")[:60]
            found.append(f"process {p.pid} ({command})")
    if (state_dir / STATE_FILE).exists():
        found.append(f"state file {state_dir / STATE_FILE}")
    return found


def discover(state_root: Path) -> set[str]:
    """Names of the labs with a trace on the machine."""
    names: set[str] = set()
    if state_root.is_dir():
        names.update(p.name for p in state_root.iterdir() if (p / STATE_FILE).exists())
    for ns in netns_names():
        if ns.startswith("enos-") and "." in ns:
            names.add(ns[len("enos-"):].split(".", 1)[0])
    if shutil.which("ip"):
        names.update(
            alias.split(":", 1)[1]
            for alias in existing_links().values()
            if alias.startswith("enoslib:")
        )
    for p in scan_processes(MARKER):
        names.update(m.decode(errors="replace").split("/", 1)[0] for m in p.markers)
    return {n for n in names if LAB_NAME_RE.match(n)}
