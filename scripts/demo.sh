#!/usr/bin/env bash
# The main job, end to end on a fresh machine: set up a virtual environment (if missing), then run
# the whole product on the embedded synthetic-gestures dataset — generate, serve from a local
# 127.0.0.1 mirror, `eventkit download --manifest` (verify + extract), `eventkit convert` with Dask,
# train the small spiking network on the CPU and print its test accuracy and output files.
# Usage: bash scripts/demo.sh [OUT_DIR]      (default out/demo)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${1:-out/demo}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
# Install (or refresh) the project only when its console scripts or CLI package are missing; the
# constraint keeps torch the local CPU build (scripts/constraints-cpu.txt).
if ! { [ -x .venv/bin/snnmodels ] && [ -x .venv/bin/eventkit ] && .venv/bin/python -c "import eventkit_cli, torch" 2>/dev/null; }; then
  .venv/bin/python -m pip install -q -e '.[train]' -c scripts/constraints-cpu.txt
fi
exec .venv/bin/snnmodels demo --out "$OUT"
