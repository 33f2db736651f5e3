"""What a node deployed with a kadeploy environment shows under ``/etc``.

:func:`etc_files` gives the files a deployed node carries: ``grid5000/release``
(``debian12-x64-min-2025011417``: what EnOSlib's reload logic reads to decide whether
the wanted environment is already there), ``os-release``, ``lsb-release`` and, on
Debian, ``debian_version`` -- the deployed image's, not the machine's.
"""

from __future__ import annotations

import os
import re

__all__ = ["DEFAULT_VERSION", "etc_files", "release_name", "standard_files"]

DEFAULT_VERSION = "2025011417"

# family -> (ID, NAME, {number: (VERSION_ID, codename)})
_FAMILIES: dict[str, tuple[str, str, dict[str, tuple[str, str]]]] = {
    "debian": (
        "debian",
        "Debian GNU/Linux",
        {"10": ("10", "buster"), "11": ("11", "bullseye"), "12": ("12", "bookworm"),
         "13": ("13", "trixie"), "testing": ("", "forky")},
    ),
    "ubuntu": (
        "ubuntu",
        "Ubuntu",
        {"2004": ("20.04", "focal"), "2204": ("22.04", "jammy"), "2404": ("24.04", "noble")},
    ),
    "rocky": ("rocky", "Rocky Linux", {"8": ("8.10", "Green Obsidian"), "9": ("9.5", "Blue Onyx")}),
    "almalinux": ("almalinux", "AlmaLinux", {"9": ("9.5", "Teal Serval")}),
    "centosstream": ("centos", "CentOS Stream", {"9": ("9", "")}),
}
_ARCH_TAG = {"x86_64": "x64", "aarch64": "arm64", "ppc64le": "ppc64"}


def _split(env: str) -> tuple[str, str, str]:
    """``debian12-min`` -> (``debian``, ``12``, ``min``)."""
    head, _, variant = env.partition("-")
    m = re.fullmatch(r"([a-z]+?)(\d+|testing)?", head)
    family, number = (m.group(1), m.group(2) or "") if m else (head, "")
    return family, number, variant or "min"


def release_name(env: str, version: str | int | None = None, arch: str = "x86_64") -> str:
    """The content of ``/etc/grid5000/release``, e.g. ``debian12-x64-min-2025011417``."""
    family, number, variant = _split(env)
    return f"{family}{number}-{_ARCH_TAG.get(arch, arch)}-{variant}-{version or DEFAULT_VERSION}"


SUDO_G5K = """#!/bin/sh
# sudo-g5k (emulated): root for the job's owner on a node not deployed
if [ "$(id -u)" = 0 ]; then
    if [ $# -gt 0 ]; then exec "$@"; fi
    exec "${SHELL:-/bin/sh}"
fi
if [ $# -eq 0 ]; then exec sudo -n -i; fi
exec sudo -n "$@"
"""


DHCLIENT = """#!/bin/sh
# dhclient: Debian's ISC dhclient (package isc-dhcp-client), talking DHCP to the emulated
# network's server. Only its pid file moves to this node's private /var/lib/dhcp (nodes
# share the machine's /run: `dhclient -r` must not stop another node's client).
real=/usr/sbin/dhclient; [ -x "$real" ] || real=/sbin/dhclient
[ -x "$real" ] || { echo "dhclient: not installed on this machine (apt-get install isc-dhcp-client)" >&2; exit 127; }
for arg in "$@"; do [ "$arg" = -pf ] && exec "$real" "$@"; done
exec "$real" -pf /var/lib/dhcp/dhclient.pid "$@"
"""

# dhclient-script writes the DNS servers it is given into /etc/resolv.conf, which every
# node of the emulator shares (and which must keep failing fast: nothing answers DNS there)
DHCLIENT_HOOK = """# enoslib Grid'5000 emulator: keep this node's /etc/resolv.conf as it is
make_resolv_conf() { :; }
"""


def dhcp_client_files() -> dict[str, str]:
    """The node's DHCP client: the wrapper, its hook, a private lease directory."""
    files = {"/usr/local/sbin/dhclient": DHCLIENT}
    if os.path.isdir("/etc/dhcp/dhclient-enter-hooks.d"):
        files["/etc/dhcp/dhclient-enter-hooks.d/zz-enoslib-emulator"] = DHCLIENT_HOOK
    if os.path.isdir("/var/lib/dhcp"):
        files["/var/lib/dhcp/.enoslib-node"] = ""  # the directory becomes the node's own
    return files


def _root_device(device: str) -> dict[str, str]:
    """``mount``/``findmnt`` showing ``/`` on ``device``, as the node's disk layout has it
    (standard environment on partition 2, deployed ones on partition 3: what reload
    logic checks); every other use goes to the real tools."""
    mount = f"""#!/bin/sh
if [ $# -eq 0 ]; then
    echo "{device} on / type ext4 (rw,relatime)"
    /usr/bin/mount | grep -v ' on / '
    exit 0
fi
exec /usr/bin/mount "$@"
"""
    findmnt = f"""#!/bin/sh
last=""; source=""
for arg in "$@"; do last="$arg"; case "$arg" in *SOURCE*) source=1 ;; esac; done
if [ "$last" = / ] && [ -n "$source" ]; then echo "{device}"; exit 0; fi
exec /usr/bin/findmnt "$@"
"""
    return {"/usr/local/bin/mount": mount, "/usr/local/bin/findmnt": findmnt}


def standard_files(node: dict) -> dict[str, str]:
    """Files of a node running the standard environment (no deployment): ``sudo-g5k``
    and its ``/etc/grid5000/release`` (``debian11-x64-std-...``)."""
    std = node.get("software", {}).get("standard-environment", "debian11-x64-std")
    stamp = node.get("software", {}).get("postinstall-version", DEFAULT_VERSION)
    return {
        "/usr/local/bin/sudo-g5k": SUDO_G5K,
        **dhcp_client_files(),
        "/etc/grid5000/release": f"{std}-{stamp}\n",
        **_root_device("/dev/sda2"),
    }


def etc_files(env: str, version: str | int | None = None, arch: str = "x86_64") -> dict[str, str]:
    """``{absolute path: content}`` of the /etc of a node deployed with ``env``."""
    family, number, _ = _split(env)
    ident, name, versions = _FAMILIES.get(family, (family, family.capitalize(), {}))
    version_id, codename = versions.get(number, (number, ""))
    pretty = f"{name} {version_id}".strip() + (f" ({codename})" if codename and ident in ("debian", "ubuntu") else "")
    if ident == "debian" and number == "testing":
        pretty = f"{name} {codename}/sid"
    lines = [
        f'PRETTY_NAME="{pretty}"',
        f'NAME="{name}"',
        *([f'VERSION_ID="{version_id}"'] if version_id else []),
        *([f'VERSION="{version_id} ({codename})"'] if version_id and codename else []),
        *([f"VERSION_CODENAME={codename}"] if codename and ident in ("debian", "ubuntu") else []),
        f"ID={ident}",
    ]
    files = {
        **dhcp_client_files(),
        **_root_device("/dev/sda3"),
        "/etc/os-release": "\n".join(lines) + "\n",
        "/etc/lsb-release": (
            f"DISTRIB_ID={name.split()[0]}\nDISTRIB_RELEASE={version_id or 'n/a'}\n"
            f"DISTRIB_CODENAME={codename.split()[0].lower() if codename else 'n/a'}\n"
            f'DISTRIB_DESCRIPTION="{pretty}"\n'
        ),
        "/etc/grid5000/release": release_name(env, version, arch) + "\n",
    }
    if ident == "debian":
        files["/etc/debian_version"] = (f"{version_id}.0" if version_id else f"{codename}/sid") + "\n"
    return files
