"""Before the first step: how much memory a run will take and how long an epoch lasts.

Memory (:func:`estimate_run`):

* what the process holds now (its resident set: torch, the preloaded splits, the weights),
* plus gradients and optimizer state (Adam: 3x the parameters, SGD with momentum: 2x),
* plus, per sample of a batch, :data:`AUTOGRAD_FACTOR` (by backend) x the bytes of every layer's output over all
  ``T`` steps (measured with forward hooks on one real sample: what autograd keeps for the backward
  pass, plus the neurons' saved membrane potentials) and 3 copies of the input frames (the
  time-first float batch and its intermediates).

On CUDA the same per-sample and parameter terms are compared with the device's free memory.

Time: two real training steps on a copy of the network (the first warms up numba/cupy kernels),
the second on a batch of up to two samples, timed and scaled to the epoch's samples (validation
passes count a third of a training step per sample: forward only). The real network, optimizer
and random-number generators are left exactly as they were.
"""

from __future__ import annotations

import copy
import os
import resource
import sys
import time
from dataclasses import dataclass

import torch
from torch import nn

from snnmodels.training.checkpoint import rng_state, set_rng_state
from snnmodels.training.losses import LOSSES, firing_rate

__all__ = ["RunEstimate", "estimate_run", "available_memory", "peak_rss", "current_rss", "AUTOGRAD_FACTOR"]

#: Bytes autograd keeps per byte of layer output, by neuron backend: calibrated against ru_maxrss of
#: ``snnmodels train --model plif-gesture --batch-size 16 --max-batches 1`` (T=16, 2x64x64 and
#: 2x128x128 stores) on the CPU, rounded up: the fused numba/cupy neurons keep ~1.2-1.35x, the
#: torch reference neurons (autograd through every time step) ~2.3x.
AUTOGRAD_FACTOR = {"torch": 2.5, "numba": 1.4, "cupy": 1.4}


def current_rss() -> int:
    """This process's resident set size in bytes (psutil, else /proc/self/statm, else the peak)."""
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:
        pass
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak_rss()


def peak_rss() -> int:
    """The peak resident set size of this process so far, in bytes (``getrusage``)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # macOS reports bytes, Linux KiB


def available_memory(device: torch.device) -> int | None:
    """Free memory where the run's tensors live: CUDA free memory, else available RAM (None: unknown)."""
    if device.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except RuntimeError:
            return None
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


@dataclass
class RunEstimate:
    """What :func:`estimate_run` found.

    Attributes
    ----------
    peak_bytes : int
        Expected peak memory (RSS on the CPU; allocated device memory on CUDA).
    available_bytes : int or None
        Free RAM / device memory now.
    seconds_per_epoch : float
        Expected wall time of one epoch (training plus validation).
    steps : int
        Training steps per epoch.
    activation_bytes_per_sample : int
        Layer outputs of one sample over all time steps.
    held_bytes : int
        Of ``peak_bytes``, what the process already holds (not counted against the free memory).
    """

    peak_bytes: int
    available_bytes: int | None
    seconds_per_epoch: float
    steps: int
    activation_bytes_per_sample: int
    held_bytes: int = 0

    @property
    def too_big(self) -> bool:
        """Whether what the run still has to allocate exceeds the free memory."""
        return self.available_bytes is not None and self.peak_bytes - self.held_bytes > self.available_bytes

    def line(self, model: str, T: int, input_size: tuple[int, ...], batch_size: int, backend: str) -> str:
        """``plif-gesture on [T=16, 2x128x128], batch 16, numba: ~X.X GB peak memory, ~Y min/epoch (Z steps)``."""
        size = "x".join(str(v) for v in input_size)
        minutes = self.seconds_per_epoch / 60
        when = f"~{minutes:.1f} min/epoch" if minutes >= 1 else f"~{self.seconds_per_epoch:.0f} s/epoch"
        return (f"{model} on [T={T}, {size}], batch {batch_size}, {backend}: ~{self.peak_bytes / 1e9:.1f} GB peak "
                f"memory, {when} ({self.steps} steps)")

    def warning(self, device: torch.device) -> str | None:
        """A warning with what to change when the run will not fit, else None."""
        if not self.too_big:
            return None
        where = "GPU memory" if device.type == "cuda" else "RAM"
        return (f"warning: this run needs ~{self.peak_bytes / 1e9:.1f} GB ("
                f"{(self.peak_bytes - self.held_bytes) / 1e9:.1f} GB more than now) but only "
                f"{self.available_bytes / 1e9:.1f} GB of {where} is free; it may be killed or swap. Use a smaller "
                f"--batch-size, convert with a larger --downsample (smaller frames) or fewer frames (-T), or train "
                f"on a GPU (--device cuda --backend cupy)")


def _activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of every leaf module's output in one training-mode forward of ``x`` (with gradients)."""
    total = 0

    def hook(mod: nn.Module, inputs: tuple, out: object) -> None:
        nonlocal total
        outs = out if isinstance(out, (tuple, list)) else (out,)
        total += sum(o.numel() * o.element_size() for o in outs if isinstance(o, torch.Tensor))

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return total


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, loss: str, x: torch.Tensor, y: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    LOSSES[loss](firing_rate(model(x)).float(), y).backward()
    optimizer.step()


def estimate_run(
    model: nn.Module, sample: tuple[torch.Tensor, torch.Tensor], *, optimizer: str, loss: str, device: torch.device,
    batch_size: int, train_samples: int, val_samples: int, steps: int, backend: str = "torch",
) -> RunEstimate:
    """Estimate peak memory and epoch time of training ``model`` (see the module docstring).

    Parameters
    ----------
    model
        The network (not modified: a copy is measured).
    sample
        ``(x [T, N, ...], labels [N])``: a real batch (its first one or two samples are used).
    optimizer
        ``"adam"`` or ``"sgd"``.
    loss
        A :data:`~snnmodels.training.losses.LOSSES` name.
    batch_size, train_samples, val_samples, steps
        The run's batch size, samples per epoch and training steps per epoch.
    backend
        The neuron backend (what autograd keeps differs, :data:`AUTOGRAD_FACTOR`).
    """
    saved_rng = rng_state()
    try:
        probe = copy.deepcopy(model).to(device).train()
        x, y = sample[0].to(device), sample[1].to(device)
        act = _activation_bytes(probe, x[:, :1])
        params = sum(p.numel() * p.element_size() for p in model.parameters())
        per_sample_in = x[:, :1].numel() * x.element_size()
        opt = (torch.optim.SGD(probe.parameters(), lr=0.0, momentum=0.9) if optimizer == "sgd"
               else torch.optim.Adam(probe.parameters(), lr=0.0))
        _step(probe, opt, loss, x[:, :1], y[:1])  # warm-up: kernel compilation, optimizer state
        b = min(2, x.shape[1])
        t0 = time.perf_counter()
        _step(probe, opt, loss, x[:, :b], y[:b])
        per_sample_s = (time.perf_counter() - t0) / b
        del probe, opt
    finally:
        set_rng_state(saved_rng)
    factor = AUTOGRAD_FACTOR.get(backend, max(AUTOGRAD_FACTOR.values()))
    extra = (2 if optimizer == "sgd" else 3) * params + batch_size * (factor * act + 3 * per_sample_in)
    base = params if device.type == "cuda" else current_rss()
    seconds = per_sample_s * (train_samples + val_samples / 3)
    return RunEstimate(int(base + extra), available_memory(device), seconds, steps, int(act), int(base))
