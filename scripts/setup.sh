#!/usr/bin/env bash
# Shared set-up for the README's commands: system packages (when root), a virtualenv in .venv,
# and enoslib installed in it with the test extras. Quick when everything is already there.
#   PROJECT_VENV            our virtualenv (default .venv)
#   REFERENCE_ENOSLIB_VENV  a separate virtualenv with the upstream EnOSlib, made by
#                           ensure_reference_enoslib for the emulator's fidelity test
#                           (default .venv-enoslib)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PROJECT_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

# binaries the local testbed and the tests use -> Debian package providing them
declare -A DEBS=([sshd]=openssh-server [ssh]=openssh-client [ip]=iproute2 [tc]=iproute2
                 [fping]=fping [ping]=iputils-ping [iperf3]=iperf3 [pgrep]=procps
                 [iptables-legacy]=iptables [python3]=python3 [sudo]=sudo
                 [dhclient]=isc-dhcp-client)
missing=()
for bin in "${!DEBS[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || missing+=("${DEBS[$bin]}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing system packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null
  else
    echo "setup: missing system packages (${missing[*]}); install them as root for the local testbed" >&2
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV" >&2
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
# reinstall only when the dependencies changed
stamp="$VENV/.enoslib-installed"
want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing enoslib and its test dependencies into $VENV" >&2
  "$VENV/bin/python" -m pip install -q -e "$ROOT[test]"
  echo "$want" > "$stamp"
fi

# The upstream EnOSlib in its own virtualenv (it pins its own ansible): the emulator's
# fidelity test (tests/emulators/test_g5k_enoslib.py) runs EnOSlib's G5k provider against it.
# Exported so that test runs it (and fails, not skips, when the venv is unusable).
ensure_reference_enoslib() {
  local ref="${REFERENCE_ENOSLIB_VENV:-$ROOT/.venv-enoslib}"
  local spec="${REFERENCE_ENOSLIB_SPEC:-enoslib>=10,<11}"
  if [ ! -f "$ref/.enoslib-installed" ] || [ "$(cat "$ref/.enoslib-installed")" != "$spec" ]; then
    echo "setup: installing $spec into $ref (once)" >&2
    [ -x "$ref/bin/python" ] || "$PYTHON" -m venv "$ref"
    "$ref/bin/python" -m pip install -q --upgrade pip
    "$ref/bin/python" -m pip install -q "$spec"
    echo "$spec" > "$ref/.enoslib-installed"
  fi
  export REFERENCE_ENOSLIB_VENV="$ref"
}

# Real virtual machines for the Vagrant provider (tests/vagrant): vagrant + vagrant-libvirt,
# Start a daemon without the files this shell has open: a lock the caller holds (e.g.
# `flock LOCK bash scripts/test.sh`) must not be inherited by a daemon that outlives the run.
_daemon() {
  (
    for fd in $(ls /proc/$BASHPID/fd); do
      [ "$fd" -gt 2 ] && eval "exec $fd>&-"
    done
    exec "$@"
  )
}

# libvirt and qemu/KVM from Debian, libvirtd started here (PID 1 is not systemd), and a small
# Debian box built once from Debian packages (scripts/build_vagrant_box.sh, cached in
# ~/.cache/enoslib/boxes, about a minute). Exports ENOSLIB_VAGRANT_BOX, which makes the VM
# tests run (and fail, not skip, when the set-up is broken). Root only; quick once done.
ensure_vagrant() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "setup: ensure_vagrant needs root and apt-get; the Vagrant VM tests will be skipped" >&2
    return 0
  fi
  local pkgs=(vagrant vagrant-libvirt libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients
              qemu-system-x86 qemu-utils debootstrap dnsmasq-base e2fsprogs)
  local need=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
  done
  if [ "${#need[@]}" -gt 0 ]; then
    echo "setup: installing ${need[*]} (vagrant provider)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  if [ -e /dev/kvm ]; then  # libvirt runs qemu as libvirt-qemu, in group kvm
    chgrp kvm /dev/kvm && chmod 660 /dev/kvm
  fi
  pgrep -x virtlogd >/dev/null || _daemon virtlogd -d
  if ! pgrep -x libvirtd >/dev/null; then
    _daemon libvirtd -d
    for _ in $(seq 50); do [ -S /run/libvirt/libvirt-sock ] && break; sleep 0.1; done
  fi
  bash "$ROOT/scripts/build_vagrant_box.sh" enoslib/debian12
  export ENOSLIB_VAGRANT_BOX=enoslib/debian12
  # On our CI machines (themselves VMs) KVM starts a guest but its kernel stops right after
  # decompression (KVM internal error, emulation failure), and libvirt finds no usable 64-bit
  # named CPU model: run the guests under qemu's emulation (TCG). Export
  # ENOSLIB_VAGRANT_LIBVIRT_DRIVER=kvm before calling this where KVM works.
  export ENOSLIB_VAGRANT_LIBVIRT_DRIVER="${ENOSLIB_VAGRANT_LIBVIRT_DRIVER:-qemu}"
}
