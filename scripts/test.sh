#!/usr/bin/env bash
# Set up a virtual environment from scratch (if missing) and run the test suite, then test what
# users install: build the wheel, install it (non-editable) into a fresh .venv-wheel/ and smoke-test
# it from outside the checkout (scripts/smoke_installed.sh).
# Usage: bash scripts/test.sh [extra pytest args]     (slow tests: bash scripts/test.sh -m slow)
# EVENTKIT_SKIP_WHEEL_SMOKE=1 skips the wheel smoke test (local runs only: .ci/run unsets it).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# The local CPU torch pin (the project itself asks for torch>=2.3): see scripts/constraints-cpu.txt.
PIN=(-c scripts/constraints-cpu.txt)
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]' "${PIN[@]}"
# pytest exits 5 when it collects no test: set -e turns that into a failure, as it should be.
.venv/bin/python -m pytest "$@"

if [ "${EVENTKIT_SKIP_WHEEL_SMOKE:-0}" = 1 ]; then
  echo "wheel smoke test skipped (EVENTKIT_SKIP_WHEEL_SMOKE=1)"
  exit 0
fi
rm -rf .venv-wheel dist/wheel
WHEEL=$(bash scripts/build_wheel.sh dist/wheel)
"$PY" -m venv .venv-wheel
# pip's cache and the local torch wheel keep this quick; the constraint keeps torch the CPU build;
# --no-compile: byte-compiling all of torch up front doubles the install time (imports compile lazily).
.venv-wheel/bin/python -m pip install -q --no-compile "$WHEEL[train]" "${PIN[@]}"
bash scripts/smoke_installed.sh .venv-wheel
