"""One training epoch and one evaluation pass: plain functions over a model and batches.

Neurons reset their state at the start of every forward, so there is no ``reset_net`` to call
between batches.

Both take a :class:`~snnmodels.training.distributed.Dist` (default: one process). In a data-parallel
run each process passes its shard of every global batch; the training loss of a rank is weighted by
its share of the step's samples (DDP then averages the gradients, which gives the gradient of the
global batch) and the totals of both passes are summed over the ranks, so the returned statistics
are those of the whole split on every rank.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from snnmodels.training.data import to_device
from snnmodels.training.distributed import SINGLE, Dist
from snnmodels.training.losses import LOSSES, firing_rate
from snnmodels.training.metrics import topk_correct

__all__ = ["EpochStats", "train_one_epoch", "evaluate"]

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass
class EpochStats:
    """Totals of one pass over a split.

    Attributes
    ----------
    loss : float
        Mean loss per sample.
    acc, topk_acc : float
        Top-1 and top-``k`` accuracy.
    samples : int
        Samples seen.
    seconds : float
        Wall time of the pass.
    rates, labels : torch.Tensor or None
        ``[N, K]`` firing rates and ``[N]`` labels of every sample (``evaluate(collect=True)``).
    step_losses : list of float
        Training passes: the mean loss of every step's (global) batch.
    """

    loss: float
    acc: float
    topk_acc: float
    samples: int
    seconds: float
    k: int = 3
    rates: torch.Tensor | None = field(default=None, repr=False)
    labels: torch.Tensor | None = field(default=None, repr=False)
    step_losses: list[float] = field(default_factory=list, repr=False)


def _totals(dist: Dist, loss_sum: float, n: int, hits: dict[int, int], k: int, seconds: float,
            extra: list[float] | None = None) -> tuple[EpochStats, list[float]]:
    """Sum a pass's totals over the ranks (one all-reduce) and make its :class:`EpochStats`."""
    local = [loss_sum, n, hits[1], hits[k], *(extra or [])]
    tot = dist.sum(local).tolist() if dist.enabled else local
    loss_sum, n, h1, hk = tot[0], int(tot[1]), tot[2], tot[3]
    m = max(n, 1)
    return EpochStats(loss_sum / m, h1 / m, hk / m, n, seconds, k), list(tot[4:])


def _autocast(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def _samples_in(batches: Iterable[Batch], max_batches: int | None) -> int | None:
    """Samples the pass will see (for the progress bar's ETA), None when unknown."""
    n = getattr(batches, "num_samples", None)
    if n is None:
        return None
    if max_batches is not None:
        n = min(n, max_batches * int(getattr(batches, "local_batch_size", getattr(batches, "batch_size", 1))))
    return int(n)


class _Progress:
    """A per-batch tqdm bar on stderr: samples/s, ETA, running loss and accuracy.

    A no-op when off, and when stderr is not a terminal (tqdm's ``disable=None``).
    """

    def __init__(self, enabled: bool, desc: str, total: int | None) -> None:
        from eventkit._progress import progress_bar

        # a terminal that reports a 0x0 size (an unsized pty) would hide the bar: 100x20 then
        size = shutil.get_terminal_size((100, 20))
        self.bar = progress_bar(total, enabled=enabled, desc=desc, terminal_only=True, file=sys.stderr,
                                ncols=size.columns or 100, nrows=size.lines or 20, mininterval=0.5)

    def update(self, n: int, loss: float, acc: float) -> None:
        self.bar.set_postfix(loss=f"{loss:.4f}", acc=f"{acc:.1%}", refresh=False)
        self.bar.update(n)

    def close(self) -> None:
        self.bar.close()


def _limited(batches: Iterable[Batch], max_batches: int | None) -> Iterator[Batch]:
    return iter(batches) if max_batches is None else itertools.islice(batches, max_batches)


def _use_lengths(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor | None:
    """The lengths when some sample is shorter than the batch's ``T`` (else None: plain mean)."""
    return lengths if bool((lengths < x.shape[0]).any()) else None


def train_one_epoch(
    model: nn.Module, batches: Iterable[Batch], optimizer: torch.optim.Optimizer, loss: str = "mse", *,
    device: torch.device | str = "cpu", scaler: torch.amp.GradScaler | None = None, amp: bool = False, k: int = 3,
    progress: bool = False, desc: str = "train", max_batches: int | None = None, dist: Dist = SINGLE,
) -> EpochStats:
    """Train ``model`` for one pass over ``batches``.

    Parameters
    ----------
    model
        Maps ``[T, N, ...]`` to votes ``[T, N, K]``.
    batches
        ``(x [T, N, ...], labels [N], lengths [N])`` triples.
    optimizer
        Any torch optimizer.
    loss
        ``"mse"`` or ``"ce"`` (see :mod:`snnmodels.training.losses`).
    device
        Where to run.
    scaler, amp
        Mixed precision on CUDA (``torch.autocast`` fp16 with a gradient scaler).
    k
        The ``k`` of the top-``k`` accuracy.
    progress, desc
        Show a per-batch progress bar on stderr (samples/s, ETA, running loss/accuracy) labelled ``desc``.
    max_batches
        Stop after this many batches (smoke runs; None: the whole split).
    dist
        This process's place in a data-parallel run (``model`` wrapped in DDP, ``batches`` sharded).

    ``x`` may be integer frames: they are copied to ``device`` at their stored width (pinned,
    ``non_blocking`` on CUDA) and converted to float there (:func:`~snnmodels.training.data.to_device`).
    """
    device = torch.device(device)
    loss_fn = LOSSES[loss]
    model.train()
    t0 = time.perf_counter()
    total_loss, n, hits = 0.0, 0, {1: 0, k: 0}
    step_sums: list[float] = []
    step_counts: list[int] = []
    bar = _Progress(progress, desc, _samples_in(batches, max_batches))
    for x, y, lengths in _limited(batches, max_batches):
        x = to_device(x, device)
        y = y.to(device, non_blocking=True)
        b = y.shape[0]
        # the step's global batch size: each rank's mean loss is weighted by its share of it, so the
        # gradients DDP averages add up to the gradient of the global batch's mean loss
        n_step = int(dist.sum([b])[0]) if dist.enabled else b
        optimizer.zero_grad(set_to_none=True)
        with _autocast(device, amp):
            rate = firing_rate(model(x), _use_lengths(x, lengths))
            value = loss_fn(rate.float(), y)
        weighted = value if n_step == b * dist.world_size else value * (b * dist.world_size / n_step)
        if scaler is not None:
            scaler.scale(weighted).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            weighted.backward()
            optimizer.step()
        step_sum = float(value.detach()) * b
        total_loss += step_sum
        n += b
        step_sums.append(step_sum)
        step_counts.append(n_step)
        for kk, c in topk_correct(rate.detach().float(), y, (1, k)).items():
            hits[kk] += c
        bar.update(b, total_loss / n, hits[1] / n)
    bar.close()
    stats, global_sums = _totals(dist, total_loss, n, hits, k, time.perf_counter() - t0, step_sums)
    stats.step_losses = [s / max(c, 1) for s, c in zip(global_sums, step_counts)]
    return stats


@torch.no_grad()
def evaluate(
    model: nn.Module, batches: Iterable[Batch], loss: str = "mse", *, device: torch.device | str = "cpu",
    amp: bool = False, k: int = 3, collect: bool = False, progress: bool = False, desc: str = "eval",
    max_batches: int | None = None, dist: Dist = SINGLE,
) -> EpochStats:
    """Evaluate ``model`` on ``batches`` (no gradients, eval mode).

    Parameters
    ----------
    collect
        Keep every sample's firing rates and label in the result (for confusion matrices and
        per-sample predictions; this process's samples only).
    dist
        In a data-parallel run each rank passes a disjoint part of the split and the plain (not
        DDP-wrapped) network; the totals are summed over the ranks.
    Others
        As for :func:`train_one_epoch`.
    """
    device = torch.device(device)
    loss_fn = LOSSES[loss]
    model.eval()
    t0 = time.perf_counter()
    total_loss, n, hits = 0.0, 0, {1: 0, k: 0}
    all_rates, all_labels = [], []
    bar = _Progress(progress, desc, _samples_in(batches, max_batches))
    for x, y, lengths in _limited(batches, max_batches):
        x, y = to_device(x, device), y.to(device, non_blocking=True)
        with _autocast(device, amp):
            rate = firing_rate(model(x), _use_lengths(x, lengths)).float()
        b = y.shape[0]
        total_loss += float(loss_fn(rate, y)) * b
        n += b
        for kk, c in topk_correct(rate, y, (1, k)).items():
            hits[kk] += c
        if collect:
            all_rates.append(rate.cpu())
            all_labels.append(y.cpu())
        bar.update(b, total_loss / n, hits[1] / n)
    bar.close()
    stats, _ = _totals(dist, total_loss, n, hits, k, time.perf_counter() - t0)
    if collect:
        stats.rates = torch.cat(all_rates) if all_rates else torch.zeros(0)
        stats.labels = torch.cat(all_labels) if all_labels else torch.zeros(0, dtype=torch.int64)
    return stats
