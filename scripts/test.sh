#!/usr/bin/env bash
# Set up a virtual environment from scratch (if missing) and run the test suite.
# Usage: bash scripts/test.sh [extra pytest args]     (slow tests: bash scripts/test.sh -m slow)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
# pytest exits 5 when it collects no test: set -e turns that into a failure, as it should be.
exec .venv/bin/python -m pytest "$@"
