"""Segmentation network benchmark: ``vgg16-fpn`` forward+backward per training step on the CPU.

Run ``python -m bench.segment`` (``--quick``: 64x64 and one timed step). The step is the one
``snnmodels train`` takes on a segmentation store: frames ``[T=8, B=2, 2, 128, 128]`` (Bernoulli
0/1 events, p = 0.2, fixed seed), logits ``[2, 21, 128, 128]``, pixel-wise cross-entropy with the
ignore index against a fixed random mask, ``backward``. Variants, each in a fresh subprocess with
``torch.set_num_threads(2)`` (numba 2 threads):

* ``snn_numba`` / ``snn_torch``: :class:`snnmodels.models.segmentation.SpikingFPN` (``vgg16-fpn``,
  PLIF neurons, tau0 = 2, ATan surrogate, detach_reset) with the fused numba kernels or the torch
  reference;
* ``sj``: the **same network built from SpikingJelly 2.0 layers**: every snnmodels neuron replaced
  by ``neuron.ParametricLIFNode(init_tau=2, ATan(), detach_reset=True, step_mode='m')`` and every
  time-folded conv/BN/pool by ``layer.SeqToANNContainer`` around the same modules (same weights:
  the logits are compared), ``functional.reset_net`` after each step.

Reported: median and min seconds per step after one warm-up step, peak RSS growth over the
process's state after building the network (``ru_maxrss``), and the largest logit difference
from SpikingJelly's.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

VARIANTS = ["sj", "snn_numba", "snn_torch"]
THREADS = 2


def _build(variant: str, size: int):
    import torch

    from snnmodels.models import build_model

    torch.manual_seed(0)
    backend = "torch" if variant == "sj" else variant.split("_")[1]
    model = build_model("vgg16-fpn", input_size=(2, size, size), num_classes=21, backend=backend)
    if variant != "sj":
        return model, lambda: None
    from bench._peers import import_spikingjelly

    import_spikingjelly()
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    from snnmodels.layers import TimeFolded
    from snnmodels.neurons.modules import _Neuron

    def swap(mod: torch.nn.Module) -> None:
        for name, child in mod.named_children():
            if isinstance(child, _Neuron):
                setattr(mod, name, neuron.ParametricLIFNode(init_tau=2.0, surrogate_function=surrogate.ATan(),
                                                            detach_reset=True, step_mode="m"))  # fmt: skip
            elif isinstance(child, TimeFolded):
                setattr(mod, name, layer.SeqToANNContainer(*child.children()))
            else:
                swap(child)

    swap(model)
    return model, lambda: functional.reset_net(model)


def run_one(variant: str, size: int, reps: int) -> dict:
    """Time one variant in this process; returns a JSON-able dict."""
    import numba
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(THREADS)
    numba.set_num_threads(THREADS)
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(8, 2, 2, size, size, generator=g) < 0.2).float()
    y = torch.randint(0, 21, (2, size, size), generator=g)
    y[:, :4] = 255
    model, reset = _build(variant, size)
    model.train()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times, first = [], None
    for i in range(1 + reps):
        model.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        logits = model(x, out_size=(size, size))
        F.cross_entropy(logits, y, ignore_index=255).backward()
        dt = time.perf_counter() - t0
        reset()
        if i == 0:
            first = logits.detach()
        else:
            times.append(dt)
    torch.save(first, f"/tmp/bench_segment_{variant}_{size}.pt")  # for the cross-variant logit check
    return {"variant": variant, "size": size, "median_s": statistics.median(times), "min_s": min(times),
            "peak_rss_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024,
            "params_m": sum(p.numel() for p in model.parameters()) / 1e6}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="64x64 and one timed step")
    ap.add_argument("--one", nargs=3, metavar=("VARIANT", "SIZE", "REPS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]), int(args.one[2]))))
        return
    size, reps = (64, 1) if args.quick else (128, 3)
    rows = []
    for variant in VARIANTS:
        out = subprocess.run([sys.executable, "-m", "bench.segment", "--one", variant, str(size), str(reps)],
                             capture_output=True, text=True)  # fmt: skip
        if out.returncode:
            print(f"  {variant} failed: {out.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"  done {variant}", file=sys.stderr)
    import torch

    ref = torch.load(f"/tmp/bench_segment_sj_{size}.pt") if any(r["variant"] == "sj" for r in rows) else None
    sj = next((r for r in rows if r["variant"] == "sj"), None)
    print(f"vgg16-fpn, frames [T=8, B=2, 2, {size}, {size}], 21 classes, CE + backward; torch/numba threads {THREADS}; "
          f"1 warm-up + {reps} timed steps")  # fmt: skip
    print("| variant | step median (s) | min (s) | vs SJ (median) | peak RSS +MB | max abs logit diff vs SJ |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        diff = "ref"
        if r["variant"] != "sj" and ref is not None:
            mine = torch.load(f"/tmp/bench_segment_{r['variant']}_{size}.pt")
            diff = f"{float((mine - ref).abs().max()):.2e}"
        sp = f"{sj['median_s'] / r['median_s']:.2f}x" if sj else "n/a"
        print(f"| {r['variant']} | {r['median_s']:.2f} | {r['min_s']:.2f} | {sp} | {r['peak_rss_mb']:.0f} | {diff} |")


if __name__ == "__main__":
    main()
