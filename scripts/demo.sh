#!/usr/bin/env bash
# Set up a virtual environment from scratch (if missing) and run the main job on the embedded
# default data: write a seeded example recording with eventkit's own AEDAT 3.1 writer, then
# decode and describe it with `eventkit info`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${1:-out/demo}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
mkdir -p "$OUT"
.venv/bin/eventkit example-recording "$OUT/moving_bar.aedat"
.venv/bin/eventkit info "$OUT/moving_bar.aedat"
