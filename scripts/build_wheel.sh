#!/usr/bin/env bash
# Build the wheel users install, from a clean copy of the working tree (tracked files plus new
# untracked ones that git does not ignore): an in-tree build would also pack stale files left in
# build/lib by earlier builds.
# Usage: bash scripts/build_wheel.sh OUT_DIR      (prints the wheel's path; PYTHON picks the builder)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
PY=${PYTHON:-.venv/bin/python}
SRC=$(mktemp -d)
trap 'rm -rf "$SRC"' EXIT
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && printf '%s\0' "$f"   # a tracked file deleted in the work tree is not shipped
done | tar --null -T - -cf - | tar -xf - -C "$SRC"
rm -f "$OUT"/eventkit-*.whl
# --no-build-isolation: setuptools and wheel come from the builder's environment, not the network.
"$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$OUT" "$SRC" >&2
ls "$OUT"/eventkit-*.whl
