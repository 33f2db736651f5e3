#!/usr/bin/env bash
# The README's main job: set up everything, then run the local latency experiment.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec "$VENV/bin/python" examples/latency_matrix.py "$@"
