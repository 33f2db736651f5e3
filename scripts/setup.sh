#!/usr/bin/env bash
# Shared set-up for the README's commands: system packages (when root), a virtualenv in .venv,
# and enoslib installed in it with the test extras. Quick when everything is already there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ENOSLIB_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

# binaries the local testbed and the tests use -> Debian package providing them
declare -A DEBS=([sshd]=openssh-server [ssh]=openssh-client [ip]=iproute2 [tc]=iproute2
                 [fping]=fping [ping]=iputils-ping [iperf3]=iperf3 [pgrep]=procps
                 [iptables-legacy]=iptables [python3]=python3)
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
