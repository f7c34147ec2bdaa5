"""Neuron forward+backward benchmark: snnmodels vs SpikingJelly 2.0 on CPU.

Run ``python -m bench.neurons`` (``--quick`` for the small shape only). Both libraries run with
``torch.set_num_threads(2)`` (and numba with 2 threads) on the same machine in the same run.

For each (variant, shape) a fresh subprocess builds the input ``rand(shape) * 2`` from a fixed
seed, runs warm-up passes (3 small, 1 large) then ``reps`` timed forward+backward passes (upstream gradient all ones,
``reset_net`` after each SpikingJelly call), and reports the median and min time, the peak RSS
growth over the process's state before the first call (``ru_maxrss``), the bytes saved for
backward (``saved_tensors_hooks``), and a SHA-256 of the spikes. The spikes column compares that
hash with SpikingJelly's for the same neuron.

Variants: SpikingJelly ``LIFNode(tau=2, ATan(), detach_reset=True, step_mode='m')`` and
``ParametricLIFNode(init_tau=2, ATan(), detach_reset=True, step_mode='m')`` (SpikingJelly 2.0 has
no ``backend`` argument; on CPU it runs its torch path), against snnmodels ``LIF``/``PLIF`` with the
same settings on the ``numba`` and ``torch`` backends.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import statistics
import subprocess
import sys
import time

SHAPES = {"small": (16, 4, 128, 16, 16), "large": (16, 16, 128, 32, 32)}
REPS = {"small": 9, "large": 3}
WARMUP = {"small": 3, "large": 1}
VARIANTS = ["sj_lif", "snn_lif_numba", "snn_lif_torch", "sj_plif", "snn_plif_numba"]
PEER = {"snn_lif_numba": "sj_lif", "snn_lif_torch": "sj_lif", "snn_plif_numba": "sj_plif"}
THREADS = 2


def _build(variant: str):
    if variant.startswith("sj_"):
        from bench._peers import import_spikingjelly

        import_spikingjelly()
        from spikingjelly.activation_based import functional, neuron, surrogate

        cls = neuron.LIFNode if variant == "sj_lif" else neuron.ParametricLIFNode
        kw = {"tau": 2.0} if variant == "sj_lif" else {"init_tau": 2.0}
        node = cls(surrogate_function=surrogate.ATan(), detach_reset=True, step_mode="m", **kw)
        return node, lambda: functional.reset_net(node)
    import snnmodels

    _, kind, backend = variant.split("_")
    cls = snnmodels.LIF if kind == "lif" else snnmodels.PLIF
    node = cls(tau=2.0, surrogate="atan", detach_reset=True, backend=backend)
    return node, lambda: None


def run_one(variant: str, shape_name: str) -> dict:
    """Measure one variant at one shape in this process; returns a JSON-able dict."""
    import numba
    import torch

    torch.set_num_threads(THREADS)
    numba.set_num_threads(THREADS)
    shape = SHAPES[shape_name]
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(shape, generator=g) * 2).requires_grad_()
    ones = torch.ones(shape)
    node, reset = _build(variant)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    saved = [0]

    def pack(t):
        saved[0] += t.numel() * t.element_size()
        return t

    times = []
    spikes_hash = None
    for i in range(WARMUP[shape_name] + REPS[shape_name]):
        x.grad = None
        saved[0] = 0
        t0 = time.perf_counter()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            y = node(x)
        y.backward(ones)
        dt = time.perf_counter() - t0
        reset()
        if i == 0:
            spikes_hash = hashlib.sha256(y.detach().numpy().tobytes()).hexdigest()
            rate = float(y.detach().mean())
        if i >= WARMUP[shape_name]:
            times.append(dt)
        del y
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0
    return {
        "variant": variant, "shape": shape_name, "median_s": statistics.median(times),
        "min_s": min(times), "peak_rss_mb": peak / 1024, "saved_mb": saved[0] / 2**20,
        "input_mb": x.numel() * 4 / 2**20, "spikes_sha256": spikes_hash, "rate": rate,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small shape only")
    ap.add_argument("--one", nargs=2, metavar=("VARIANT", "SHAPE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(*args.one)))
        return
    shapes = ["small"] if args.quick else ["small", "large"]
    rows = []
    for shape in shapes:
        for variant in VARIANTS:
            if shape == "large" and variant == "snn_lif_torch":
                continue  # the autograd reference is only informative at the small shape
            out = subprocess.run([sys.executable, "-m", "bench.neurons", "--one", variant, shape],
                                 capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"  done {variant} {shape}", file=sys.stderr)
    by = {(r["variant"], r["shape"]): r for r in rows}
    print(f"torch and numba threads: {THREADS}; median/min of timed reps after warm-up "
          f"(small: {WARMUP['small']}+{REPS['small']}, large: {WARMUP['large']}+{REPS['large']})")
    print("| shape | variant | fwd+bwd median (s) | min (s) | vs SJ (median) | vs SJ (min) | peak RSS +MB "
          "| saved for bwd / input | spikes = SJ |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        peer = by.get((PEER.get(r["variant"], r["variant"]), r["shape"]))
        sp = peer["median_s"] / r["median_s"] if peer else float("nan")
        spm = peer["min_s"] / r["min_s"] if peer else float("nan")
        same = "ref" if r["variant"].startswith("sj_") else (
            "yes" if peer and peer["spikes_sha256"] == r["spikes_sha256"] else "NO")
        shp = "x".join(map(str, SHAPES[r["shape"]]))
        print(f"| {shp} | {r['variant']} | {r['median_s']:.4f} | {r['min_s']:.4f} | "
              f"{sp:.2f}x | {spm:.2f}x | {r['peak_rss_mb']:.0f} | {r['saved_mb'] / r['input_mb']:.2f}x | "
              f"{same} |")


if __name__ == "__main__":
    main()
