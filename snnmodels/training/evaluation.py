"""Evaluate a checkpoint on a store split: accuracy, confusion matrix, per-sample top-k, activity."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from snnmodels.errors import ConfigError
from snnmodels.training.loop import evaluate
from snnmodels.training.losses import probabilities
from snnmodels.training.metrics import ActivityMonitor, confusion_matrix, predict, rank_classes
from snnmodels.training.plots import plot_confusion
from snnmodels.training.trainer import load_checkpoint, model_from_checkpoint, open_batches, resolve_device

__all__ = ["EvalResult", "evaluate_checkpoint", "format_report"]


@dataclass
class EvalResult:
    """Result of :func:`evaluate_checkpoint`.

    Attributes
    ----------
    accuracy, topk_accuracy : float
        Top-1 and top-``k`` accuracy on the split.
    confusion : torch.Tensor
        ``[K, K]`` counts, rows true class, columns prediction.
    samples : list of dict
        For each requested sample: ``index``, ``sample_id``, ``label``, ``top`` (a list of
        ``(class index, class name, probability)``).
    activity : dict
        Firing rate per neuron layer, SOPs, MACs and energy per inference
        (:class:`~snnmodels.training.metrics.ActivityMonitor`).
    confusion_png : Path or None
        Where the heat map was written.
    """

    split: str
    num_samples: int
    accuracy: float
    topk_accuracy: float
    k: int
    loss: float
    classes: list[str]
    confusion: torch.Tensor
    samples: list[dict[str, Any]] = field(default_factory=list)
    activity: dict[str, Any] = field(default_factory=dict)
    confusion_png: Path | None = None


def evaluate_checkpoint(
    checkpoint: str | os.PathLike[str], store: str | os.PathLike[str], *, split: str = "test",
    samples: list[int] | None = None, out: str | os.PathLike[str] | None = None, backend: str | None = None,
    device: str = "cpu", batch_size: int = 16, k: int = 3, progress: bool = False,
) -> EvalResult:
    """Evaluate a checkpoint written by :func:`~snnmodels.training.fit` on ``store[split]``.

    Parameters
    ----------
    checkpoint
        ``best.pt`` or ``last.pt``.
    store
        A frame store with the same frame size and classes as the training store.
    samples
        Indices into the split whose top-``k`` predictions to report.
    out
        Folder for ``confusion_<split>.png`` (None: not drawn).
    backend
        Neuron backend to run with (None: the training one; a ``cupy`` checkpoint runs on ``numba``
        on the CPU and a ``numba`` one on ``cupy`` on CUDA).
    progress
        A per-batch progress bar on stderr.

    Ties between equal scores go to the lower class index, in the confusion matrix and in the
    top-``k`` lines alike (:func:`~snnmodels.training.metrics.rank_classes`).
    """
    ckpt = load_checkpoint(checkpoint)
    cfg = ckpt["config"]
    if backend is None:  # the training backend, or its counterpart on the other kind of device
        backend = cfg["backend"]
        on_cuda = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                               ("cpu" if device == "auto" else device)).type == "cuda"
        if backend == "cupy" and not on_cuda:
            backend = "numba"
        elif backend == "numba" and on_cuda:
            backend = "cupy"
    dev = resolve_device(device, backend)
    batches = open_batches(store, split, batch_size=batch_size, T=ckpt.get("T"))
    info = batches.info
    if tuple(info.input_size) != tuple(ckpt["input_size"]) or list(info.classes) != list(ckpt["classes"]):
        raise ConfigError(
            f"{store} has frames {tuple(info.input_size)} and {len(info.classes)} classes but the checkpoint was "
            f"trained on {tuple(ckpt['input_size'])} and {len(ckpt['classes'])}; evaluate on a store converted "
            f"the same way"
        )
    n = batches.num_samples
    for i in samples or []:
        if not -n <= i < n:
            raise ConfigError(f"sample index {i} is out of range for split {split!r} of {n} samples")
    model = model_from_checkpoint(ckpt, backend, checkpoint).to(dev)
    with ActivityMonitor(model) as mon:
        stats = evaluate(model, batches, cfg["loss"], device=dev, k=k, collect=True, progress=progress, desc=split)
    preds = predict(stats.rates)  # the same tie rule as the top-k lines below
    K = len(info.classes)
    cm = confusion_matrix(preds, stats.labels, K)
    probs = probabilities(stats.rates, cfg["loss"])
    chosen = []
    for i in samples or []:
        i = i % n
        top = rank_classes(stats.rates[i], k)  # ranked on the scores (ties: lower class index first)
        chosen.append({
            "index": i, "sample_id": str(batches_sample_id(store, split, i)), "label": int(stats.labels[i]),
            "top": [(int(ci), info.classes[int(ci)], float(probs[i, ci])) for ci in top],
        })
    png = None
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        png = plot_confusion(cm.tolist(), info.classes, Path(out) / f"confusion_{split}.png")
    return EvalResult(split, n, stats.acc, stats.topk_acc, k, stats.loss, list(info.classes), cm, chosen,
                      mon.summary(n), png)


def batches_sample_id(store: str | os.PathLike[str], split: str, index: int) -> str:
    """The stored sample id of ``store[split][index]``."""
    import eventkit

    return str(eventkit.open_store(store)[split].sample_ids[index])


def format_report(r: EvalResult) -> str:
    """The text ``snnmodels eval`` prints."""
    lines = [f"{r.split}: {r.num_samples} samples  accuracy {r.accuracy:.2%}  top-{r.k} {r.topk_accuracy:.2%}  "
             f"loss {r.loss:.4f}"]
    K = len(r.classes)
    w = max(3, len(str(int(r.confusion.max()))) if r.confusion.numel() else 1)
    lines.append("confusion matrix (rows: true class, columns: predicted class index):")
    lines.append(" " * 32 + " ".join(f"{j:>{w}}" for j in range(K)))
    for i in range(K):
        row = " ".join(f"{int(v):>{w}}" for v in r.confusion[i])
        lines.append(f"{i:>2} {r.classes[i][:28]:<28} {row}")
    if r.confusion_png is not None:
        lines.append(f"confusion matrix image: {r.confusion_png}")
    a = r.activity
    if a:
        rates = ", ".join(f"{name} {v:.3f}" for name, v in a["firing_rates"].items())
        lines.append(f"firing rates per neuron layer: {rates}")
        lines.append(f"per inference: {a['sops'] / 1e6:.2f} M SOPs + {a['macs'] / 1e6:.2f} M MACs "
                     f"~ {a['energy_uj']:.3f} uJ (0.9 pJ/SOP, 4.6 pJ/MAC, 45 nm)")
    for s in r.samples:
        tops = ", ".join(f"{name} ({ci}) {p:.1%}" for ci, name, p in s["top"])
        lines.append(f"sample {s['index']} [{s['sample_id']}] true {r.classes[s['label']]} ({s['label']}): {tops}")
    return "\n".join(lines)
