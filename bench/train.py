"""Training-step benchmark: the PLIF paper's DVS128 Gesture network, snnmodels vs SpikingJelly 2.0, CPU.

Run ``python -m bench.train`` (``--quick``: batch 4, T 8, 2 steps). Both networks train on the
same store in the same run: synthetic-gestures converted with ``eventkit convert -T 16 --split-by
number`` at the full 128x128 resolution (built once under ``bench/_data``), the first
``warmup + steps`` batches of the train split in a fixed order, batch 16, T=16.

* ours: ``build_model("plif-gesture", backend="numba")`` (fused CPU PLIF kernels);
* SpikingJelly: ``spikingjelly.activation_based.model.parametric_lif_net.DVSGestureNet`` with
  ``ParametricLIFNode(init_tau=2, ATan(), detach_reset=True)``, ``step_mode='m'`` (2.0 has no
  ``backend`` argument; on the CPU it runs its torch path), ``reset_net`` after every step.

The two networks have the same layers and parameter count (1,698,933). One step is forward,
firing-rate MSE loss against one-hot, backward and an Adam update; data loading is not timed
(batches are read before the clock starts). Each library runs in its own subprocess with
``torch.set_num_threads(2)`` (numba 2 threads). A step of batch 16 runs as 4 micro-batches of 4
with gradient accumulation (``--micro``): the same arithmetic, but SpikingJelly's batch-16 T=16
step would need about 30 GB of RAM on its own, more than this 23 GB machine has (ours: about half;
BatchNorm then sees statistics of 4 samples, which does not change the cost). A parity check first copies SpikingJelly's
initial weights into our network and compares the outputs on one batch (dropout off).

The CuPy path needs a CUDA device; this benchmark is CPU-only (the PLIF paper's GPU anchor is
18.17 s/epoch with CuPy + AMP on an RTX 2080 Ti).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent / "_data" / "train_root"
THREADS = 2
GESTURE_TRAIN = 1176  # DVS128 Gesture train samples: an epoch is ceil(1176 / batch) steps


def store_path(T: int) -> Path:
    """Build (once) and return the synthetic-gestures T-frame, 128x128 store."""
    from eventkit.datasets.prepare import download_dataset
    from eventkit.pipeline.convert import convert

    download_dataset("synthetic-gestures", DATA, progress=False)
    report = convert("synthetic-gestures", frames=T, split_by="number", root=DATA, executor="serial",
                     progress=False)
    return Path(report.store)


def _batches(store: Path, batch: int, T: int, n: int):
    from snnmodels.training.data import FrameBatches

    fb = FrameBatches(store, "train", batch_size=batch, T=T, preload=False)
    out = []
    for x, y, _ in fb:
        if x.shape[1] < batch:
            break
        out.append((x, y))
        if len(out) == n:
            break
    while len(out) < n:  # a small store: reuse batches
        out.append(out[len(out) % max(len(out), 1)])
    return out


def _build(lib: str):
    import torch

    torch.manual_seed(0)
    if lib == "sj":
        from bench._peers import import_spikingjelly

        import_spikingjelly()
        from spikingjelly.activation_based import functional, neuron, surrogate
        from spikingjelly.activation_based.model.parametric_lif_net import DVSGestureNet

        net = DVSGestureNet(128, spiking_neuron=neuron.ParametricLIFNode, init_tau=2.0,
                            surrogate_function=surrogate.ATan(), detach_reset=True)
        functional.set_step_mode(net, "m")
        return net, lambda: functional.reset_net(net)
    from snnmodels.models import build_model

    net = build_model("plif-gesture", input_size=(2, 128, 128), num_classes=11, backend="numba")
    return net, lambda: None


def run_one(lib: str, store: Path, batch: int, T: int, steps: int, warmup: int, micro: int) -> dict:
    """Time ``steps`` training steps of one library after ``warmup`` untimed ones (this process)."""
    import numba
    import torch

    torch.set_num_threads(THREADS)
    numba.set_num_threads(THREADS)
    from snnmodels.training.losses import rate_mse_loss

    data = _batches(store, batch, T, warmup + steps)
    net, reset = _build(lib)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times, losses = [], []
    for i, (x, y) in enumerate(data):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for xs, ys in zip(x.split(micro, dim=1), y.split(micro)):  # gradient accumulation
            loss = rate_mse_loss(net(xs).mean(0), ys) * (ys.shape[0] / y.shape[0])
            loss.backward()
            reset()
            total += float(loss)
        opt.step()
        dt = time.perf_counter() - t0
        if i >= warmup:
            times.append(dt)
        losses.append(total)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"lib": lib, "times": times, "median": statistics.median(times), "min": min(times),
            "losses": losses, "rss_growth_mb": (peak - rss0) / 1024, "peak_rss_mb": peak / 1024}


def parity() -> dict:
    """Copy SpikingJelly's initial weights into ours; compare the outputs on one batch (no dropout)."""
    import torch

    sj, reset = _build("sj")
    ours, _ = _build("ours")
    with torch.no_grad():
        for a, b in zip(ours.parameters(), sj.parameters(), strict=True):
            a.copy_(b)
        for a, b in zip(ours.buffers(), sj.buffers(), strict=True):
            a.copy_(b)
    # Train mode (BatchNorm on batch statistics, so spikes reach the output) without dropout.
    for net in (sj, ours):
        net.train()
        for m in net.modules():
            if "Dropout" in type(m).__name__:
                m.eval()
    g = torch.Generator().manual_seed(1)
    x = torch.poisson(torch.full((8, 4, 2, 128, 128), 1.0), generator=g)
    from snnmodels.neurons.modules import _Neuron

    def spikes_of(net, kinds) -> list:
        seen: list = []
        hooks = [m.register_forward_hook(lambda m, i, o: seen.append(o.detach().clone()))
                 for m in net.modules() if isinstance(m, kinds)]
        with torch.no_grad():
            out = net(x)
        for h in hooks:
            h.remove()
        return seen + [out]

    from spikingjelly.activation_based import neuron

    a = spikes_of(ours, _Neuron)
    b = spikes_of(sj, neuron.ParametricLIFNode)
    reset()
    return {"layers_equal": [bool(torch.equal(u, v)) for u, v in zip(a, b, strict=True)],
            "rates": [round(float(u.mean()), 4) for u in a]}


def _child(args: argparse.Namespace) -> None:
    if args.child == "parity":
        print(json.dumps(parity()))
    else:
        print(json.dumps(run_one(args.child, Path(args.store), args.batch, args.T, args.steps, args.warmup,
                                 args.micro)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--T", type=int, default=16)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per library")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--micro", type=int, default=4,
                    help="micro-batch: a step accumulates gradients over batch/micro forwards (memory)")
    ap.add_argument("--quick", action="store_true", help="batch 4, T 8, 2 steps")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--store", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.batch, args.T, args.steps = 4, 8, 2
    if args.child:
        _child(args)
        return
    store = store_path(args.T)
    load = os.getloadavg()
    print(f"# bench.train: PLIF DVS128 Gesture network, batch {args.batch}, T={args.T}, 2x128x128 input, CPU, "
          f"{THREADS} threads; {args.warmup} warm-up + {args.steps} timed steps each; a step accumulates "
          f"gradients over micro-batches of {args.micro}")
    print(f"# store: {store}")
    print(f"# load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; cores: {os.cpu_count()}")
    base = [sys.executable, "-m", "bench.train", "--batch", str(args.batch), "--T", str(args.T),
            "--steps", str(args.steps), "--warmup", str(args.warmup), "--micro", str(args.micro), "--store", str(store)]
    p = json.loads(subprocess.run(base + ["--child", "parity"], check=True, capture_output=True, text=True)
                   .stdout.strip().splitlines()[-1])
    print(f"# parity (same initial weights, T=8 x 4 samples, no dropout): spikes of the 7 PLIF layers and "
          f"the votes bit-equal to SpikingJelly: {p['layers_equal']}; firing rates {p['rates']}")
    results = {}
    for lib in ("sj", "ours"):
        proc = subprocess.run(base + ["--child", lib], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"# {lib} failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr else proc.returncode}")
            continue
        results[lib] = json.loads(proc.stdout.strip().splitlines()[-1])
    steps_per_epoch = math.ceil(GESTURE_TRAIN / args.batch)
    print()
    print("| network (CPU) | s/step median | min | ms/sample | est. DVS128 epoch (train, "
          f"{steps_per_epoch} steps) | peak RSS | vs SpikingJelly |")
    print("|---|---|---|---|---|---|---|")
    names = {"sj": "SpikingJelly 2.0 DVSGestureNet (torch path)", "ours": "snnmodels plif-gesture (numba)"}
    for lib in ("sj", "ours"):
        r = results.get(lib)
        if r is None:
            continue
        ratio = results["sj"]["median"] / r["median"] if "sj" in results else float("nan")
        print(f"| {names[lib]} | {r['median']:.2f} | {r['min']:.2f} | {1000 * r['median'] / args.batch:.0f} | "
              f"{r['median'] * steps_per_epoch / 60:.1f} min | {r['peak_rss_mb'] / 1024:.1f} GB | {ratio:.2f}x |")
    for lib, r in results.items():
        print(f"# {lib} losses: {', '.join(f'{v:.4f}' for v in r['losses'])}")


if __name__ == "__main__":
    main()
