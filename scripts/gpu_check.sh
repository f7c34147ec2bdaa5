#!/usr/bin/env bash
# One-call GPU check: run the CUDA path of snnmodels on a machine that has CUDA, torch and CuPy
# preinstalled (no internet needed) and write everything to OUT_DIR.
#
# Usage: bash scripts/gpu_check.sh OUT_DIR [WHEEL_DIR]
#   WHEEL_DIR (default $EVENTKIT_GPU_WHEELS or dist/gpu-wheels): wheels from scripts/gpu_wheels.sh.
#   PYTHON (default python3): the interpreter that has the machine's torch and CuPy.
#
# It never installs, upgrades or shadows torch, torchvision, torchaudio, triton, CuPy or NVIDIA's
# libraries. The checkout goes on PYTHONPATH; project dependencies that are missing (or older than
# pyproject.toml asks) are installed from WHEEL_DIR with --no-index --no-deps into a private
# folder that goes on PYTHONPATH after the checkout. Then, each step under a time limit so that the
# whole run ends within 8 minutes:
#   env.txt           python, torch, CUDA, CuPy, GPU (and nvidia-smi.txt)
#   gpu_tests.txt     pytest -m gpu (the cupy backend vs the torch reference, ...); gpu_tests.xml
#   neurons.txt       LIF/PLIF forward+backward on the GPU: snnmodels cupy and torch backends,
#                     SpikingJelly's CUDA path when it imports; spikes compared
#   train.txt         python -m bench.train --only data --device cuda --backend cupy
#   summary.txt       one line per step with its exit status and seconds
# Exit status: 0 when every step passed, 3 when there is no usable CUDA device (nothing run),
# 1 when a step failed.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "Error: usage: bash scripts/gpu_check.sh OUT_DIR [WHEEL_DIR]" >&2
  exit 2
fi
mkdir -p "$1" || { echo "Error: cannot create OUT_DIR $1" >&2; exit 2; }
OUT=$(cd "$1" && pwd)
WHEELS=${2:-${EVENTKIT_GPU_WHEELS:-$REPO/dist/gpu-wheels}}
PY=${PYTHON:-python3}
BUDGET=${GPU_CHECK_BUDGET_S:-465}  # 8 minutes less a margin for the summary
DEPS=$(mktemp -d "${TMPDIR:-/tmp}/eventkit-gpu-check.XXXXXX")
trap 'rm -rf "$DEPS"' EXIT
: > "$OUT/summary.txt"
FAILED=0

log() { echo "$*" | tee -a "$OUT/summary.txt"; }

# step NAME LIMIT_S CMD...: run CMD with output in OUT/NAME.txt, bounded by LIMIT_S and by what
# is left of the budget; show the tail; record the exit status.
step() {
  local name=$1 limit=$2 start=$SECONDS left rc
  shift 2
  left=$((BUDGET - SECONDS))
  if [ "$left" -lt 20 ]; then
    log "$name: not run (time budget spent)"; FAILED=1; return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  (cd "$REPO" && timeout --kill-after=10 "$limit" "$@") > "$OUT/$name.txt" 2>&1
  rc=$?
  [ "$rc" = 124 ] && echo "(stopped after ${limit} s)" >> "$OUT/$name.txt"
  log "$name: exit $rc, $((SECONDS - start)) s (limit $limit s)"
  tail -n 30 "$OUT/$name.txt"
  [ "$rc" = 0 ] || FAILED=1
}

# 1. Missing pure dependencies from the wheel folder, never the machine's torch/CuPy/NVIDIA stack.
ln -s "$REPO/cli" "$DEPS/eventkit_cli"  # what the installed package calls cli/
MISSING=$("$PY" - "$REPO/pyproject.toml" "$WHEELS" <<'EOF'
import importlib.metadata as md, re, sys, tomllib
from pathlib import Path
try:
    from packaging.requirements import Requirement
except ImportError:  # pip's copy
    from pip._vendor.packaging.requirements import Requirement
PROTECTED = re.compile(r"^(torch|torchvision|torchaudio|triton|cupy.*|nvidia-.*|fastrlock)$")
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
meta = tomllib.load(open(sys.argv[1], "rb"))["project"]
extras = meta["optional-dependencies"]
need = set()
for r in map(Requirement, meta["dependencies"] + extras["train"] + extras["dev"]):
    name = norm(r.name)
    if PROTECTED.match(name) or name == "eventkit":
        continue
    try:
        if not r.specifier.contains(md.version(r.name), prereleases=True):
            need.add(name)  # too old (or too new) for the project
    except md.PackageNotFoundError:
        need.add(name)
wheels = Path(sys.argv[2])
for w in (wheels.glob("*.whl") if wheels.is_dir() else []):
    name = norm(w.name.split("-")[0])
    if PROTECTED.match(name):
        continue
    try:
        md.version(name)
    except md.PackageNotFoundError:
        need.add(name)  # a dependency of a dependency, not installed here
print(" ".join(sorted(need)))
EOF
)
if [ -n "$MISSING" ]; then
  if [ -d "$WHEELS" ]; then
    log "installing into a private folder from $WHEELS: $MISSING"
    for dist in $MISSING; do  # one by one: a wheel missing for this Python must not stop the rest
      "$PY" -m pip install -q --no-index --find-links "$WHEELS" --no-deps --target "$DEPS" "$dist" \
        >> "$OUT/deps.txt" 2>&1 || log "  could not install $dist (see deps.txt)"
    done
  else
    log "missing here and no wheel folder $WHEELS (run scripts/gpu_wheels.sh): $MISSING"
  fi
fi
export PYTHONPATH="$REPO:$DEPS${PYTHONPATH:+:$PYTHONPATH}"

# 2. The machine: python, torch, CUDA, CuPy, the GPU.
"$PY" - > "$OUT/env.txt" 2>&1 <<'EOF'
import platform, sys
print("python", sys.version.split()[0], platform.platform())
try:
    import torch
except Exception as exc:
    print(f"NO_CUDA torch cannot be imported ({type(exc).__name__}: {exc})"); sys.exit(3)
print("torch", torch.__version__, "built for CUDA", torch.version.cuda)
if not torch.cuda.is_available():
    print("NO_CUDA torch sees no CUDA device"); sys.exit(3)
p = torch.cuda.get_device_properties(0)
print("device", torch.cuda.get_device_name(0), f"{p.total_memory / 2**30:.0f} GiB",
      f"compute capability {p.major}.{p.minor}", "devices:", torch.cuda.device_count())
try:
    import cupy
    print("cupy", cupy.__version__, "CUDA runtime", cupy.cuda.runtime.runtimeGetVersion(),
          "driver", cupy.cuda.runtime.driverGetVersion())
except Exception as exc:
    print(f"NO_CUDA cupy cannot be used ({type(exc).__name__}: {exc})"); sys.exit(3)
for mod in ("numpy", "numba", "zarr", "spikingjelly"):
    try:
        m = __import__(mod)
        print(mod, getattr(m, "__version__", "?"))
    except Exception as exc:
        print(mod, "not importable:", type(exc).__name__, exc)
EOF
rc=$?
cat "$OUT/env.txt"
command -v nvidia-smi > /dev/null && nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
if [ "$rc" != 0 ]; then
  log "no CUDA: $(grep -m1 NO_CUDA "$OUT/env.txt" | cut -d' ' -f2- || echo "environment check failed (exit $rc)")"
  log "nothing was run on a GPU"
  exit 3
fi

# 3. The gpu-marked tests (the cupy backend against the torch reference, fp32 and fp16, ...).
step gpu_tests 200 "$PY" -m pytest -q -m gpu -p no:cacheprovider -rs -o timeout=120 \
  --junitxml "$OUT/gpu_tests.xml" tests/snnmodels/test_cupy.py tests/eventkit/torch

# 4. Neuron forward+backward on the GPU beside SpikingJelly's CUDA path.
step neurons 90 "$PY" - <<'EOF'
import hashlib, statistics, torch
import snnmodels
torch.manual_seed(0)
dev = "cuda"
shape = (16, 16, 128, 32, 32)  # bench.neurons' large shape: T=16, 2.1 M neurons
x = torch.rand(shape, device=dev) * 2

def timed(fn, reps=10):
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times), min(times)

def ours(kind, backend, dtype):
    cls = snnmodels.LIF if kind == "lif" else snnmodels.PLIF
    node = cls(tau=2.0, surrogate="atan", detach_reset=True, backend=backend).to(dev)
    xi = x.to(dtype).requires_grad_()
    out = {}
    def run():
        y = node(xi)
        y.sum().backward()
        out["y"] = y
    return run, out

def sj(kind):
    from bench._peers import import_spikingjelly
    import_spikingjelly()
    from spikingjelly.activation_based import functional, neuron, surrogate
    cls = neuron.LIFNode if kind == "lif" else neuron.ParametricLIFNode
    kw = {"tau": 2.0} if kind == "lif" else {"init_tau": 2.0}
    label = "SpikingJelly 2.0"
    try:
        node = cls(surrogate_function=surrogate.ATan(), detach_reset=True, step_mode="m",
                   backend="cupy", **kw)
        label += " backend=cupy"
    except TypeError:  # 2.0 picks its CUDA path itself
        node = cls(surrogate_function=surrogate.ATan(), detach_reset=True, step_mode="m", **kw)
    node = node.to(dev)
    xi = x.clone().requires_grad_()
    out = {}
    def run():
        y = node(xi)
        y.sum().backward()
        functional.reset_net(node)
        out["y"] = y
    return label, run, out

digest = lambda y: hashlib.sha256(y.detach().float().cpu().numpy().tobytes()).hexdigest()[:12]
print(f"# {torch.cuda.get_device_name(0)}; input rand{shape} * 2; forward+backward, median/min of 10 (ms)")
print("| neuron | implementation | dtype | median ms | min ms | spikes sha256 | same as torch backend |")
print("|---|---|---|---|---|---|---|")
for kind in ("lif", "plif"):
    ref = {}  # spikes of the torch backend per dtype (fp16 inputs round, so spikes may differ)
    for backend, dtype in (("torch", torch.float32), ("cupy", torch.float32),
                           ("torch", torch.float16), ("cupy", torch.float16)):
        run, out = ours(kind, backend, dtype)
        med, mn = timed(run)
        d = digest(out["y"])
        ref.setdefault(dtype, d)
        print(f"| {kind} | snnmodels {backend} | {str(dtype)[6:]} | {med:.2f} | {mn:.2f} | {d} | "
              f"{d == ref[dtype]} |")
        del run, out
    try:
        label, run, out = sj(kind)
        med, mn = timed(run)
        d = digest(out["y"])
        print(f"| {kind} | {label} | float32 | {med:.2f} | {mn:.2f} | {d} | {d == ref[torch.float32]} |")
    except Exception as exc:
        print(f"| {kind} | SpikingJelly not run: {type(exc).__name__}: {str(exc)[:120]} | | | | | |")
EOF

# 5. The training data path and step on the GPU (loader alone vs loader + step, cupy backend).
step train 150 "$PY" -m bench.train --quick --only data --device cuda --backend cupy

log "total $SECONDS s"
exit "$FAILED"
