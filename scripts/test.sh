#!/usr/bin/env bash
# The README's test command: set up everything, then run the whole test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
ensure_reference_enoslib
ensure_vagrant
cd "$ROOT"
exec "$VENV/bin/python" -m pytest "$@"
