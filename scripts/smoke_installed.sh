#!/usr/bin/env bash
# Smoke-test an installed (non-editable) eventkit the way a user meets it: from a folder outside
# the checkout, so only what the wheel installed can be imported.
# Usage: bash scripts/smoke_installed.sh VENV      (VENV has the wheel installed with the train extra)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=$(cd "$1" && pwd)
BIN="$VENV/bin"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
unset PYTHONPATH EVENTKIT_MANIFESTS
export EVENTKIT_ROOT="$WORK/root"
fail() { echo "smoke test FAILED: $*" >&2; exit 1; }
step() { echo "-- smoke: $*"; }

step "the packages come from the venv, not the checkout; there is no top-level 'cli'"
where=$("$BIN/python" -c "import eventkit, eventkit_cli, snnmodels; print(eventkit.__file__)")
case "$where" in "$VENV"/*) ;; *) fail "eventkit imported from $where, not from $VENV";; esac
if "$BIN/python" -c "import cli" 2>/dev/null; then fail "'import cli' works: the wheel installed a top-level cli package"; fi

step "eventkit list shows every bundled dataset"
"$BIN/eventkit" list > list.txt
for toml in "$REPO"/data_manifests/*.toml; do
  name=$(basename "$toml" .toml)
  grep -q "^$name " list.txt || fail "eventkit list does not show $name"$'\n'"$(cat list.txt)"
done
# + 1: synthetic-shapes, the embedded segmentation dataset (images + masks, made by eventkit synth)
grep -q "^synthetic-shapes " list.txt || fail "eventkit list does not show synthetic-shapes"$'\n'"$(cat list.txt)"
shown=$(grep -c . list.txt); bundled=$(( $(ls "$REPO"/data_manifests/*.toml | wc -l) + 1 ))
[ "$shown" -eq "$bundled" ] || fail "eventkit list shows $shown lines for $bundled bundled datasets"

step "eventkit info on a recording"
"$BIN/eventkit" example-recording bar.aedat --seconds 0.5
"$BIN/eventkit" info bar.aedat | tee info.txt
grep -qi "aedat" info.txt || fail "eventkit info does not name the format"

step "python -m eventkit and python -m snnmodels"
"$BIN/python" -m eventkit --help > /dev/null
"$BIN/python" -m snnmodels --help > /dev/null

step "snnmodels demo --quick"
"$BIN/snnmodels" demo --quick --out demo | tee demo.txt
grep -qi "accuracy" demo.txt || fail "the demo did not report an accuracy"

step "a tiny conversion (serial, of the demo's downloaded data) and its inspection"
"$BIN/eventkit" convert synthetic-gestures --manifest demo/synthetic-gestures-mirror.toml --root demo/data \
  -T 4 --split-by time --downsample 8 --executor serial --out frames.zarr --quiet
"$BIN/eventkit" inspect frames.zarr > inspect.txt || fail "eventkit inspect failed: $(cat inspect.txt)"
echo "-- smoke: installed wheel OK"
