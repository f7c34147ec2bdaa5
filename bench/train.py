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

The CuPy path needs a CUDA device; the comparison above is CPU-only (the PLIF paper's GPU anchor is
18.17 s/epoch with CuPy + AMP on an RTX 2080 Ti).

Two more sections (``--only data,ddp`` runs just them):

* ``data``: samples/s of the data path alone (the store streamed through
  :class:`~snnmodels.training.data.FrameBatches`, batches moved to the device by the training loop's
  :func:`~snnmodels.training.data.to_device`: integer frames, pinned and ``non_blocking`` on CUDA,
  float on the device) beside the float32-on-the-host path it replaced, and of loader + training
  step (:func:`~snnmodels.training.loop.train_one_epoch`). When the loader alone is not far faster
  than loader + step, data loading starves the device. ``--device cuda --backend cupy`` on a GPU
  (``--data-model``: ``small`` by default on the CPU, ``plif-gesture`` on CUDA).
* ``ddp``: samples/s of ``fit`` (the production path) with 1 and 2 gloo processes started by
  ``torchrun`` on this machine, one thread each, the same global batch; scaling efficiency =
  samples/s with 2 / (2 x samples/s with 1). The second epoch of ``--ddp-steps`` steps is timed
  (the first warms up). The store is the same dataset at 32x32 (``--ddp-downsample 4``), the
  ``small`` network's input size.
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


def store_path(T: int, downsample: int | None = None) -> Path:
    """Build (once) and return the synthetic-gestures T-frame store, 128x128 (or 128/downsample)."""
    from eventkit.datasets.prepare import download_dataset
    from eventkit.pipeline.convert import convert

    download_dataset("synthetic-gestures", DATA, progress=False)
    report = convert("synthetic-gestures", frames=T, split_by="number", root=DATA, executor="serial",
                     progress=False, downsample=downsample)
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


def data_path(store: Path, batch: int, T: int, steps: int, model: str, backend: str, device: str) -> dict:
    """Samples/s of the loader alone (integer and float32 transfers) and of loader + training step."""
    import torch

    torch.set_num_threads(THREADS)
    if backend == "numba":
        import numba

        numba.set_num_threads(THREADS)
    from snnmodels.models import build_model
    from snnmodels.training.data import FrameBatches, to_device
    from snnmodels.training.loop import train_one_epoch

    dev = torch.device(device)
    cuda = dev.type == "cuda"

    def batches(dtype):
        return FrameBatches(store, "train", batch_size=batch, T=T, preload=False, dtype=dtype, pin_memory=cuda)

    def loader_alone(dtype) -> float:
        fb = batches(dtype)
        n, t0 = 0, time.perf_counter()
        for i, (x, y, _) in enumerate(fb):
            if i == steps:
                break
            x = to_device(x, dev)
            n += y.shape[0]
        if cuda:
            torch.cuda.synchronize()
        return n / (time.perf_counter() - t0)

    out = {"loader_int": loader_alone(None), "loader_float_host": loader_alone(torch.float32)}
    info = batches(None).info
    torch.manual_seed(0)
    net = build_model(model, input_size=info.input_size, num_classes=len(info.classes), backend=backend).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cuda") if cuda else None
    fb = batches(None)
    train_one_epoch(net, fb, opt, device=dev, amp=cuda, scaler=scaler, max_batches=1)  # warm-up: kernels
    stats = train_one_epoch(net, fb, opt, device=dev, amp=cuda, scaler=scaler, max_batches=steps)
    if cuda:
        torch.cuda.synchronize()
    out["loader_step"] = stats.samples / stats.seconds
    return out


def ddp_child(store: Path, batch: int, T: int, steps: int, model: str, sync_bn: bool = True) -> None:
    """One process of the ``ddp`` section (started by torchrun): ``fit`` for 2 epochs; rank 0 prints JSON."""
    import tempfile

    import torch

    torch.set_num_threads(1)
    from snnmodels.training import TrainConfig, fit

    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(store=str(store), model=model, out=tmp, epochs=2, batch_size=batch, T=T, backend="numba",
                          device="cpu", val_fraction=0.0, test_split="", max_batches=steps, preload=False,
                          distributed=True, sync_bn=sync_bn)
        res = fit(cfg, log=None)
    if res.rank == 0:
        train_s = res.history[-1]["train_s"]
        print(json.dumps({"samples": steps * batch, "train_s": train_s, "sps": steps * batch / train_s}))


def run_ddp(store: Path, batch: int, T: int, steps: int, model: str, procs: int, sync_bn: bool = True) -> dict:
    """``fit`` under ``torchrun --nproc-per-node procs`` (gloo, one thread each)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(procs),
           "-m", "bench.train", "--child", "ddp", "--store", str(store), "--batch", str(batch), "--T", str(T),
           "--ddp-steps", str(steps), "--data-model", model] + ([] if sync_bn else ["--ddp-no-sync-bn"])
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"torchrun with {procs} processes failed: {proc.stderr.strip()[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _child(args: argparse.Namespace) -> None:
    if args.child == "ddp":
        ddp_child(Path(args.store), args.batch, args.T, args.ddp_steps, args.data_model or "small",
                  sync_bn=not args.ddp_no_sync_bn)
    elif args.child == "data":
        print(json.dumps(data_path(Path(args.store), args.batch, args.T, args.data_steps, args.data_model,
                                   args.backend, args.device)))
    elif args.child == "parity":
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
    ap.add_argument("--only", default="peers,data,ddp",
                    help="comma-separated sections: peers (vs SpikingJelly), data (loader vs loader + step), "
                         "ddp (1 vs 2 gloo processes)")
    ap.add_argument("--device", default="cpu", help="data section: cpu or cuda")
    ap.add_argument("--backend", default=None, help="data section: neuron backend (numba on CPU, cupy on CUDA)")
    ap.add_argument("--data-model", default=None,
                    help="data/ddp sections: network (small on CPU, plif-gesture on CUDA)")
    ap.add_argument("--data-steps", type=int, default=8, help="data section: batches timed")
    ap.add_argument("--ddp-steps", type=int, default=6, help="ddp section: steps per timed epoch")
    ap.add_argument("--ddp-downsample", type=int, default=4, help="ddp section: spatial downsampling of the store")
    ap.add_argument("--ddp-no-sync-bn", action="store_true", help=argparse.SUPPRESS)  # a child's --no-sync-bn
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--store", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.batch, args.T, args.steps = 4, 8, 2
    cuda = args.device.startswith("cuda")
    args.backend = args.backend or ("cupy" if cuda else "numba")
    if args.child:
        args.data_model = args.data_model or ("plif-gesture" if cuda else "small")
        _child(args)
        return
    store = store_path(args.T)
    sections = {s.strip() for s in args.only.split(",") if s.strip()}
    if "data" in sections or "ddp" in sections:
        _extra_sections(args, store, sections, cuda)
    if "peers" not in sections:
        return
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


def _extra_sections(args: argparse.Namespace, store: Path, sections: set[str], cuda: bool) -> None:
    """The ``data`` and ``ddp`` sections (see the module docstring)."""
    model = args.data_model or ("plif-gesture" if cuda else "small")
    load = os.getloadavg()
    print(f"# store: {store}; batch {args.batch}, T={args.T}; load average at start {load[0]:.2f}; "
          f"cores: {os.cpu_count()}")
    if "data" in sections:
        cmd = [sys.executable, "-m", "bench.train", "--child", "data", "--store", str(store), "--batch",
               str(args.batch), "--T", str(args.T), "--data-steps", str(args.data_steps), "--data-model", model,
               "--backend", args.backend, "--device", args.device]
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        print()
        print(f"| data path ({args.device}, {THREADS} threads, store streamed) | samples/s |")
        print("|---|---|")
        print(f"| loader alone: integer frames, float on the device | {r['loader_int']:.1f} |")
        print(f"| loader alone: float32 on the host (the previous path) | {r['loader_float_host']:.1f} |")
        print(f"| loader + step ({model}, {args.backend}) | {r['loader_step']:.1f} |")
    if "ddp" in sections:
        small = store_path(args.T, args.ddp_downsample) if args.ddp_downsample > 1 else store
        print(f"# ddp store: {small}")
        one = run_ddp(small, args.batch, args.T, args.ddp_steps, model, 1)
        two = run_ddp(small, args.batch, args.T, args.ddp_steps, model, 2)
        # per-process batch norm (--no-sync-bn): what the global batch norm's collectives cost
        two_local = run_ddp(small, args.batch, args.T, args.ddp_steps, model, 2, sync_bn=False)
        eff = two["sps"] / (2 * one["sps"])
        print()
        size = 128 // max(args.ddp_downsample, 1)
        print(f"| fit, {model}, numba, {size}x{size}, T={args.T}, global batch {args.batch}, CPU, 1 thread per "
              f"process | samples/s | scaling efficiency |")
        print("|---|---|---|")
        print(f"| 1 process | {one['sps']:.2f} | - |")
        print(f"| 2 processes (gloo, torchrun) | {two['sps']:.2f} | {eff:.0%} |")
        print(f"| 2 processes, --no-sync-bn (batch norm per process) | {two_local['sps']:.2f} | "
              f"{two_local['sps'] / (2 * one['sps']):.0%} |")


if __name__ == "__main__":
    main()
