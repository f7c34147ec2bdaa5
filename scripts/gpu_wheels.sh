#!/usr/bin/env bash
# Download, on a machine with a package index, the wheels that scripts/gpu_check.sh may need on a
# GPU machine that has CUDA, torch and CuPy but no internet: the project's dependencies, the train
# extra's Dask, pytest (+ pytest-timeout, hypothesis) and SpikingJelly 2.0 for the peer rows.
# Never torch, torchvision, torchaudio, triton, CuPy or NVIDIA's libraries: gpu_check.sh uses the
# machine's own. Copy the folder to the GPU machine beside the checkout; gpu_check.sh installs only
# what is missing there (or too old), into a private folder on PYTHONPATH.
#
# Usage: bash scripts/gpu_wheels.sh [WHEEL_DIR] [--dry-run]   (default WHEEL_DIR: dist/gpu-wheels)
#   PY_VERSIONS="3.11 3.12 3.13"   target Python versions (default: all three)
#   PLATFORM=manylinux_2_28_x86_64 target platform tag (default; manylinux2014 wheels match too)
#   --dry-run: resolve and print the wheel list for each version, download nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=dist/gpu-wheels
DRY=0
for a in "$@"; do
  case "$a" in
    --dry-run) DRY=1 ;;
    -*) echo "Error: unknown option $a (usage: gpu_wheels.sh [WHEEL_DIR] [--dry-run])" >&2; exit 2 ;;
    *) OUT=$a ;;
  esac
done
PY=${PYTHON:-python3}
PY_VERSIONS=${PY_VERSIONS:-"3.11 3.12 3.13"}
PLATFORM=${PLATFORM:-manylinux_2_28_x86_64}
# manylinux_2_28 machines also run the older manylinux wheels: offer pip all of them.
PLATS=(--platform "$PLATFORM")
case "$PLATFORM" in
  manylinux_2_28_x86_64) PLATS+=(--platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64) ;;
esac

# What to fetch, from pyproject.toml: the base dependencies plus the non-torch part of the train
# and dev extras; SpikingJelly's own light dependencies (its torch family stays out).
mapfile -t REQS < <("$PY" - <<'EOF'
import re, tomllib
meta = tomllib.load(open("pyproject.toml", "rb"))["project"]
extras = meta["optional-dependencies"]
reqs = list(meta["dependencies"]) + extras["train"] + extras["dev"]
skip = re.compile(r"^(eventkit|torch|torchvision|torchaudio|triton|cupy)", re.I)
seen = set()
for r in reqs:
    if skip.match(r) or r in seen:
        continue
    seen.add(r)
    print(r)
for r in ("loguru>=0.7,<1", "matplotlib", "scienceplots"):  # SpikingJelly 2.0 imports
    print(r)
EOF
)
# SpikingJelly itself without its dependencies (it asks for torch, torchvision, torchaudio).
NODEPS=("$("$PY" - <<'EOF'
import tomllib
bench = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["bench"]
print(next(r for r in bench if r.startswith("spikingjelly")))
EOF
)")

mkdir -p "$OUT"
for v in $PY_VERSIONS; do
  tag=(--only-binary=:all: --python-version "$v" --implementation cp --abi "cp${v/./}" "${PLATS[@]}")
  if [ "$DRY" = 1 ]; then
    # pip install --dry-run resolves the same set as pip download, from metadata only
    "$PY" -m pip install -q --dry-run --ignore-installed --target "$OUT/.dry-run" \
      --report "$OUT/resolve-py$v.json" "${tag[@]}" "${REQS[@]}"
    "$PY" -m pip install -q --dry-run --ignore-installed --no-deps --target "$OUT/.dry-run" \
      --report "$OUT/resolve-nodeps-py$v.json" "${tag[@]}" "${NODEPS[@]}"
    "$PY" - "$OUT/resolve-py$v.json" "$OUT/resolve-nodeps-py$v.json" "$v" <<'EOF'
import json, re, sys
names = []
for path in sys.argv[1:3]:
    for item in json.load(open(path))["install"]:
        names.append(item["download_info"]["url"].rsplit("/", 1)[-1])
bad = [n for n in names if re.match(r"(torch|torchvision|torchaudio|triton|cupy|nvidia)[-_]", n, re.I)]
print(f"python {sys.argv[3]}: {len(names)} wheels")
for n in sorted(names):
    print("  " + n)
if bad:
    sys.exit(f"Error: the wheel list would replace the GPU machine's own packages: {bad}")
EOF
  else
    "$PY" -m pip download -q -d "$OUT" "${tag[@]}" "${REQS[@]}"
    "$PY" -m pip download -q -d "$OUT" --no-deps "${tag[@]}" "${NODEPS[@]}"
  fi
done
rm -rf "$OUT/.dry-run"
if [ "$DRY" = 0 ]; then
  if ls "$OUT" | grep -Eiq '^(torch|torchvision|torchaudio|triton|cupy|nvidia)[-_]'; then
    echo "Error: $OUT holds torch/CuPy/NVIDIA wheels; gpu_check.sh never installs them" >&2
    exit 1
  fi
  echo "$(ls "$OUT"/*.whl | wc -l) wheels in $OUT (copy it to the GPU machine; see scripts/gpu_check.sh)"
fi
