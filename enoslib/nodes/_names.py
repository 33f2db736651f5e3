"""How a lab names what it creates on the machine, so it can be found again by name.

* network namespaces: ``enos-<lab>.<node>`` (lab names have no dot);
* links (bridges, host ends of veths): ``enb<tag><i>`` / ``env<tag><i>``, where
  tag is 6 hex chars of the lab name's hash (the kernel allows 15 chars), with
  the alias ``enoslib:<lab>``;
* processes: ``ENOSLIB_NODES=<lab>/<node>`` in their command line (sshd) or
  environment (sessions, ``exec``);
* files: the lab's state dir, holding only :data:`LAB_DIR_ENTRIES`.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from ._types import LabError

# ``\Z``, not ``$``: ``$`` also matches before a trailing newline.
#: Lab names are like DNS labels (no dash at either end) and never a prefix of another.
LAB_NAME_RE = re.compile(r"\A[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?\Z")
#: Node names are hostnames (the node's UTS name): at most 63 characters.
NODE_NAME_RE = re.compile(r"\A[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?\Z")
NETWORK_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z")

LAB_ENV = "ENOSLIB_NODES"
MARKER = f"{LAB_ENV}=".encode()
STATE_FILE = "state.json"
MAX_IFNAME_INDEX = 999_999  # "env" + 6-char tag + 6 digits = 15 chars, the kernel limit

#: Everything a lab puts in its state dir.
LAB_DIR_ENTRIES = frozenset({
    STATE_FILE, "state.tmp", "nodes", "cm", "id_ed25519", "id_ed25519.pub",
    "ssh_host_ed25519_key", "ssh_host_ed25519_key.pub", "authorized_keys", "hosts",
    "resolv.conf",
})


def check_lab_name(name: str) -> None:
    if not isinstance(name, str) or not LAB_NAME_RE.match(name):
        raise LabError(
            f"invalid lab name {name!r}: expected 1 to 12 of [a-z0-9-], no dash at either end"
        )


def lab_tag(name: str) -> str:
    """6 hex chars naming the lab inside 15-char interface names."""
    return hashlib.sha256(name.encode()).hexdigest()[:6]


def netns_prefix(lab: str) -> str:
    return f"enos-{lab}."


def bridge_ifname(lab: str, index: int) -> str:
    return f"enb{lab_tag(lab)}{index}"


def veth_ifname(lab: str, index: int) -> str:
    return f"env{lab_tag(lab)}{index}"


def link_alias(lab: str) -> str:
    return f"enoslib:{lab}"


def is_lab_link(lab: str, ifname: str, alias: str) -> bool:
    """Does this link belong to ``lab``? (no alias: created, crashed before the alias)"""
    if alias:
        return alias == link_alias(lab)
    return re.fullmatch(f"en[bv]{lab_tag(lab)}[0-9]+", ifname) is not None


def node_marker(lab: str, node: str) -> bytes:
    """Value of the ``ENOSLIB_NODES`` marker carried by a node's processes."""
    return f"{lab}/{node}".encode()


def lab_marker_prefix(lab: str) -> bytes:
    return f"{lab}/".encode()


def mac_address(*parts: str) -> str:
    """Deterministic, locally administered, unicast MAC from ``parts``."""
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


def is_lab_dir(path: Path) -> bool:
    """True if ``path`` holds nothing but a lab's files (so it may be deleted whole)."""
    try:
        return set(os.listdir(path)) <= LAB_DIR_ENTRIES
    except FileNotFoundError:
        return True
    except NotADirectoryError:
        return False
