"""``fit``: train a registered network on a frame store with logs, curves and resumable checkpoints.

Output folder (``out``)::

    last.pt        checkpoint after every epoch (model, optimizer, scheduler, AMP scaler, RNG
                   states, epoch, history, config, validation split); ``--resume`` continues from it
    best.pt        the checkpoint of the best VALIDATION accuracy so far
    log.csv        one row per epoch: train and validation losses, top-1/top-k accuracy, learning
                   rate, seconds
    curves.png     loss and accuracy curves (train and validation)

Model selection never sees the test split: a validation split (the store's ``val``/``validation``
split, else carved from the training split by :mod:`snnmodels.training.split`, grouped by user or
recording and seeded) picks ``best.pt``; the test split is evaluated once, at the end, with the
``best.pt`` weights, and that is the accuracy ``fit`` reports (:attr:`TrainResult.test`).

Before the first step ``fit`` prints an estimate of peak memory and time per epoch
(:mod:`snnmodels.training.estimate`) and warns when it exceeds the free memory.

Determinism: the model is initialised from ``seed``, every epoch's shuffling order comes from
``(seed, epoch)`` and the global RNG states (dropout) are saved in the checkpoint, so on the CPU a
resumed run ends with the same weights as an uninterrupted one.

Data-parallel runs (``distributed=True``, one process per device started by ``torchrun``; see
:mod:`snnmodels.training.distributed` and ``docs/training.md``): ``batch_size`` is the GLOBAL batch,
split over the processes, and batch norm uses the global batch's statistics (``sync_bn``), so N
processes train like one with the same options. Each epoch's dropout masks come from
``(seed, epoch, rank)``. Only rank 0 writes the run's files, prints and shows progress;
checkpoints hold the plain network's weights (no ``module.`` prefix), so any number of processes
(or one) can resume from them.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snnmodels.errors import CheckpointError, ConfigError
from snnmodels.models import MODELS, build_model
from snnmodels.training.checkpoint import (
    check_state_dict, load_checkpoint, model_from_checkpoint, rng_state, set_rng_state,
)
from snnmodels.training.data import FrameBatches
from snnmodels.training.distributed import (
    SINGLE, Dist, init_distributed, launch_env, rank_seed, require_launch_env, shard_indices,
)
from snnmodels.training.estimate import estimate_run, peak_rss
from snnmodels.training.loop import EpochStats, evaluate, train_one_epoch
from snnmodels.training.losses import LOSSES
from snnmodels.training.plots import plot_curves
from snnmodels.training.split import VAL_SPLIT_NAMES, ValidationSplit, carve_validation

__all__ = ["TrainConfig", "TrainResult", "fit", "load_checkpoint", "model_from_checkpoint", "resolve_device"]

LOG_FIELDS = ["epoch", "train_loss", "train_acc", "train_topk", "val_loss", "val_acc", "val_topk", "lr",
              "train_s", "val_s"]

#: The files a run writes in its ``--out`` folder (``--overwrite`` replaces these and nothing else).
RUN_FILES = ("last.pt", "best.pt", "log.csv", "curves.png")


@dataclass
class TrainConfig:
    """Everything ``fit`` needs; the CLI's ``snnmodels train`` options map one to one.

    Attributes
    ----------
    store : str
        Frame store path.
    model : str
        Registered network name (:data:`snnmodels.models.MODELS`).
    out : str
        Output folder.
    epochs, batch_size, lr : int, int, float
        Schedule length, samples per step (the global batch, shared by all processes of a
        distributed run), peak learning rate.
    T : int or None
        Time steps (None: the store's).
    backend : str
        Neuron backend: ``"torch"``, ``"numba"``, ``"cupy"``.
    device : str
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or ``"auto"`` (CUDA when available).
    optimizer : str
        ``"adam"`` or ``"sgd"`` (momentum 0.9).
    weight_decay : float
        L2 penalty.
    schedule : str
        ``"cosine"`` (annealed to 0 over ``epochs``) or ``"none"``.
    loss : str
        ``"mse"`` (firing rate vs one-hot, the PLIF paper) or ``"ce"``.
    amp : bool or None
        Mixed precision; None: on for CUDA.
    seed : int
        Seed of initialisation, shuffling and dropout.
    train_split, test_split : str
        Split names; ``test_split=""`` skips the final test.
    val_fraction : float
        Share of the training split carved out for validation when the store has no ``val`` split
        (0: no validation; ``best.pt`` is then the last epoch).
    val_seed : int or None
        Seed of the carving (None: ``seed``).
    max_batches : int or None
        Stop every pass after this many batches (smoke runs).
    progress : bool
        Per-batch progress bars on stderr.
    num_workers : int
        DataLoader workers when the store is streamed rather than preloaded.
    preload : bool or str
        See :class:`~snnmodels.training.data.FrameBatches`.
    topk : int
        ``k`` of the top-k accuracy.
    model_kwargs : dict
        Extra network/neuron arguments (``dropout``, ``tau``, ...).
    distributed : bool
        Join the data-parallel job the launcher describes (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
        ``MASTER_ADDR``, ``MASTER_PORT``); each process uses CUDA device ``LOCAL_RANK`` (NCCL) or the CPU
        (gloo). True requires those variables; False still joins when all of them are set (``torchrun``).
    sync_bn : bool
        Distributed: batch norm over the global batch (else each process normalises its own part).
    dist_timeout : float
        Distributed: seconds a collective waits for the other processes before the run fails.
    """

    store: str
    model: str = "small"
    out: str = "runs/snn"
    epochs: int = 10
    batch_size: int = 16
    lr: float = 1e-3
    T: int | None = None
    backend: str = "torch"
    device: str = "cpu"
    optimizer: str = "adam"
    weight_decay: float = 0.0
    schedule: str = "cosine"
    loss: str = "mse"
    amp: bool | None = None
    seed: int = 0
    train_split: str = "train"
    test_split: str = "test"
    val_fraction: float = 0.1
    val_seed: int | None = None
    max_batches: int | None = None
    progress: bool = False
    num_workers: int = 0
    preload: bool | str = "auto"
    topk: int = 3
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    distributed: bool = False
    sync_bn: bool = True
    dist_timeout: float = 600.0

    def validate(self) -> None:
        """Raise :class:`ConfigError` (a ``ValueError``) with one clear sentence for a bad option."""
        if self.model not in MODELS:
            raise ConfigError(f"unknown model {self.model!r}; choose one of {', '.join(MODELS)}")
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if self.optimizer not in ("adam", "sgd"):
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; choose adam or sgd")
        if self.schedule not in ("cosine", "none"):
            raise ConfigError(f"unknown schedule {self.schedule!r}; choose cosine or none")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError("epochs and batch size must be >= 1 and the learning rate > 0")
        if not 0.0 <= self.val_fraction <= 0.9:
            raise ConfigError(f"--val-fraction must be between 0 and 0.9, got {self.val_fraction:g}")
        if self.max_batches is not None and self.max_batches < 1:
            raise ConfigError(f"--max-batches must be >= 1, got {self.max_batches}")
        if not self.dist_timeout > 0:
            raise ConfigError(f"--dist-timeout must be > 0 seconds, got {self.dist_timeout:g}")


@dataclass
class TrainResult:
    """What ``fit`` returns.

    Attributes
    ----------
    history : list of dict
        One row per epoch (:data:`LOG_FIELDS`).
    best_acc, best_epoch : float, int
        The best validation accuracy and its epoch (``best.pt``).
    out : Path
        The run folder.
    model : torch.nn.Module
        The network after the last epoch.
    test : EpochStats or None
        The test split evaluated once with the ``best.pt`` weights (None: no test split).
    validation : ValidationSplit
        Where the validation samples came from.
    step_losses : list of list of float
        Per epoch of this call, the mean loss of every step's global batch.
    rank : int
        This process's rank (0 in a one-process run; only rank 0 wrote the run's files).
    """

    history: list[dict[str, float]]
    best_acc: float
    best_epoch: int
    out: Path
    model: torch.nn.Module = field(repr=False)
    test: EpochStats | None = None
    validation: ValidationSplit | None = None
    step_losses: list[list[float]] = field(default_factory=list, repr=False)
    rank: int = 0

    @property
    def test_acc(self) -> float:
        """Test accuracy of the validation-selected model (NaN without a test split)."""
        return self.test.acc if self.test is not None else float("nan")

    @property
    def final(self) -> dict[str, float]:
        """The last epoch's row."""
        return self.history[-1]


def resolve_device(device: str, backend: str) -> torch.device:
    """``"auto"`` -> CUDA when available; a CUDA device without CUDA is a clear error."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() and backend != "numba" else "cpu"
    try:
        dev = torch.device(device)
    except RuntimeError as err:  # torch's parse error for a string like "gpu"
        raise ConfigError(f"unknown device {device!r}; use cpu, cuda, cuda:N or auto") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for but this torch has no CUDA device; use --device cpu")
    if backend == "cupy" and dev.type != "cuda":
        raise ConfigError("the cupy backend runs on CUDA tensors; use --device cuda (or --backend numba on the CPU)")
    if backend == "numba" and dev.type != "cpu":
        raise ConfigError("the numba backend runs on CPU tensors; use --device cpu (or --backend cupy on CUDA)")
    return dev


def _save(obj: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)  # a killed run never leaves half a checkpoint


def open_batches(path: str | os.PathLike[str], split: str, **kwargs: Any) -> FrameBatches:
    """:class:`FrameBatches` over ``split`` of the store at ``path`` (bad options raise :class:`ConfigError`)."""
    return FrameBatches(path, split, **kwargs)


def _optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def fit(
    cfg: TrainConfig, *, resume: bool = False, overwrite: bool = False, log: Callable[[str], None] | None = print,
) -> TrainResult:
    """Train ``cfg.model`` on ``cfg.store``; checkpoint, log and plot every epoch; test once at the end.

    Parameters
    ----------
    cfg
        The run's configuration.
    resume
        Continue from ``<out>/last.pt`` (its configuration must name the same model and store); the
        validation split stored in it is reused.
    overwrite
        Replace an earlier run's files in ``out`` (:data:`RUN_FILES`; other files are left alone).
    log
        Called with the estimate, the validation split, one line per epoch and the test result
        (None: silent, and no estimate is made).

    Raises
    ------
    ConfigError
        A bad option, ``out`` holding a run without ``resume``/``overwrite``, or a checkpoint
        from another model/store when resuming.
    StoreNotFoundError, FileNotFoundError
        No store, or no checkpoint to resume from.
    DistributedError
        Distributed: no launcher variables with ``cfg.distributed``, no rendezvous, or another
        process died or timed out (``last.pt`` then holds the last finished epoch).
    """
    cfg.validate()
    dist = _join(cfg)
    try:
        return _fit(cfg, dist, resume, overwrite, log)
    finally:
        dist.close()


def _join(cfg: TrainConfig) -> Dist:
    """This process's :class:`Dist`: the launcher's job when ``cfg.distributed`` or when a launcher
    (``torchrun``) set all of its variables, else one process."""
    env = require_launch_env() if cfg.distributed else launch_env()
    if env is None:
        return SINGLE
    device = "cpu" if cfg.device == "auto" and cfg.backend == "numba" else cfg.device
    return init_distributed(env, device, timeout_s=cfg.dist_timeout)


def _fit(cfg: TrainConfig, dist: Dist, resume: bool, overwrite: bool, log: Callable[[str], None] | None,
         ) -> TrainResult:
    device = resolve_device(str(dist.device) if dist.enabled else cfg.device, cfg.backend)
    amp = device.type == "cuda" if cfg.amp is None else bool(cfg.amp and device.type == "cuda")
    out = Path(cfg.out)
    main = dist.is_main
    say = (log or (lambda s: None)) if main else (lambda s: None)

    def prepare() -> tuple[dict[str, Any] | None, ValidationSplit]:
        _check_out(out, resume, overwrite)
        resumed = _resume_checkpoint(cfg, out) if resume else None
        return resumed, _validation_split(cfg, resumed, out / "last.pt")

    # rank 0 reads the run folder (only it needs to see --out) and hands the result to the others
    resumed, val_split = dist.on_main(prepare)
    train_idx = val_split.train_indices if val_split.source == "carved" else None
    common = dict(T=cfg.T, preload=cfg.preload, num_workers=cfg.num_workers, dtype=None,
                  pin_memory=device.type == "cuda")
    train = open_batches(cfg.store, cfg.train_split, shuffle=True, seed=cfg.seed, indices=train_idx,
                         batch_size=cfg.batch_size, rank=dist.rank, world_size=dist.world_size, **common)
    eval_batch = train.local_batch_size
    val = (open_batches(cfg.store, val_split.split or cfg.train_split, batch_size=eval_batch,
                        indices=_shard(val_split.val_indices, dist), **common)
           if val_split.source != "none" else None)
    info = train.info

    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    random.seed(cfg.seed)
    model = build_model(cfg.model, input_size=info.input_size, num_classes=len(info.classes),
                        backend=cfg.backend, **cfg.model_kwargs).to(device)
    optimizer = _optimizer(cfg, model)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs)
                 if cfg.schedule == "cosine" else torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 1.0))
    scaler = torch.amp.GradScaler("cuda") if amp else None
    history: list[dict[str, float]] = []
    start, best_acc, best_epoch = 0, -1.0, -1

    if resumed is not None:
        ckpt = resumed
        _restore(ckpt, out / "last.pt", cfg.model, model, optimizer, scheduler, scaler)
        if isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR):
            scheduler.T_max = cfg.epochs  # a longer --epochs on resume stretches the schedule
        history = list(ckpt["history"])
        start, best_acc, best_epoch = ckpt["epoch"] + 1, ckpt["best_acc"], ckpt["best_epoch"]
        say(f"resumed from {out / 'last.pt'} after epoch {ckpt['epoch'] + 1}")
    elif overwrite and main:
        _remove_run_files(out)
    if main:
        out.mkdir(parents=True, exist_ok=True)
    if dist.enabled:
        say(f"distributed: {dist.world_size} processes ({'NCCL' if device.type == 'cuda' else 'gloo'}), global "
            f"batch {cfg.batch_size} (about {train.local_batch_size} per process), batch norm "
            f"{'over the global batch' if cfg.sync_bn else 'per process'}")
    say(("(kept from last.pt) " if resumed is not None and "validation" in resumed else "") + val_split.describe())
    estimate = None
    if log is not None and main and start < cfg.epochs:
        estimate = _estimate(cfg, model, train, val, device, say)  # before DDP: no collectives inside
    if cfg.max_batches is not None:
        say(f"smoke run: every pass stops after {cfg.max_batches} batch(es)")
    if start >= cfg.epochs:
        say(f"nothing to do: {out / 'last.pt'} already holds {start} epochs (ask for more with --epochs)")

    passes = dict(device=device, amp=amp, k=cfg.topk, progress=cfg.progress and main, max_batches=cfg.max_batches,
                  dist=dist)
    step_losses: list[list[float]] = []
    hint = (f"The checkpoint of the last finished epoch is {out / 'last.pt'}: run the same command with --resume "
            f"(on any number of processes)")
    with dist.guard(hint):
        net = dist.wrap(model, sync_bn=cfg.sync_bn)  # `model` stays the plain network: evaluation, checkpoints
        for epoch in range(start, cfg.epochs):
            train.set_epoch(epoch)
            if dist.enabled:  # independent dropout masks per rank, the same ones again on resume
                torch.manual_seed(rank_seed(cfg.seed, epoch, dist.rank))
            lr = optimizer.param_groups[0]["lr"]
            tr = train_one_epoch(net, train, optimizer, cfg.loss, scaler=scaler,
                                 desc=f"epoch {epoch + 1}/{cfg.epochs} train", **passes)
            step_losses.append(tr.step_losses)
            scheduler.step()
            va = (evaluate(model, val, cfg.loss, desc=f"epoch {epoch + 1}/{cfg.epochs} val", **passes)
                  if val is not None else EpochStats(float("nan"), float("nan"), float("nan"), 0, 0.0))
            row = {"epoch": epoch + 1, "train_loss": tr.loss, "train_acc": tr.acc, "train_topk": tr.topk_acc,
                   "val_loss": va.loss, "val_acc": va.acc, "val_topk": va.topk_acc, "lr": lr,
                   "train_s": tr.seconds, "val_s": va.seconds}
            history.append(row)
            improved = val is None or va.acc > best_acc  # without validation, best.pt is the last epoch
            if improved:
                best_acc, best_epoch = (va.acc if val is not None else float("nan")), epoch + 1
            if main:
                _save_epoch(cfg, out, epoch, info, train.T, model, optimizer, scheduler, scaler, history,
                            best_acc, best_epoch, val_split, improved)
            say(f"epoch {epoch + 1:3d}/{cfg.epochs}  train loss {tr.loss:.4f} acc {tr.acc:6.2%}  "
                f"val loss {va.loss:.4f} acc {va.acc:6.2%} top-{cfg.topk} {va.topk_acc:6.2%}  "
                f"lr {lr:.2e}  {tr.seconds + va.seconds:5.1f} s")

        test = _final_test(cfg, out, passes, say, dist)
    if estimate is not None and device.type == "cpu":
        say(f"memory: measured peak RSS {peak_rss() / 1e9:.2f} GB (estimated ~{estimate.peak_bytes / 1e9:.2f} GB)")
    return TrainResult(history, best_acc, best_epoch, out, model, test, val_split, step_losses, dist.rank)


def _shard(indices: list[int], dist: Dist) -> list[int]:
    """This process's disjoint part of an evaluation split (all of it in a one-process run)."""
    return [indices[i] for i in shard_indices(len(indices), dist.rank, dist.world_size)]


def _save_epoch(cfg: TrainConfig, out: Path, epoch: int, info: Any, T: int, model: torch.nn.Module,
                optimizer: torch.optim.Optimizer, scheduler: Any, scaler: Any, history: list[dict[str, float]],
                best_acc: float, best_epoch: int, val_split: ValidationSplit, improved: bool) -> None:
    """Write last.pt (and best.pt when ``improved``), log.csv and curves.png after ``epoch``."""
    ckpt = {
        "epoch": epoch, "config": dataclasses.asdict(cfg), "classes": info.classes,
        "input_size": list(info.input_size), "T": T, "model_state": model.state_dict(),
        "optimizer_state": optimizer.state_dict(), "scheduler_state": scheduler.state_dict(),
        "scaler_state": scaler.state_dict() if scaler is not None else None, "rng": rng_state(),
        "history": history, "best_acc": best_acc, "best_epoch": best_epoch, "validation": val_split.to_dict(),
    }
    _save(ckpt, out / "last.pt")
    if improved:
        _save(ckpt, out / "best.pt")
    _write_log(history, out / "log.csv")
    plot_curves(history, out / "curves.png",
                title=f"{cfg.model} on {Path(cfg.store).name}, backend {cfg.backend}, run {out.name}")


def _check_out(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to write a new run over an earlier one unless asked to continue or replace it."""
    if resume and overwrite:
        raise ConfigError("--resume continues the run in --out and --overwrite replaces it; pass only one")
    found = [name for name in RUN_FILES[:3] if (out / name).exists()]
    if found and not resume and not overwrite:
        raise ConfigError(f"{out} already holds a training run ({', '.join(found)}); continue it with --resume, "
                          f"replace its files with --overwrite, or choose another --out")


def _remove_run_files(out: Path) -> None:
    """Remove an earlier run's own files (``--overwrite``); every other file in ``out`` stays."""
    for name in RUN_FILES:
        for p in (out / name, out / (name + ".tmp")):
            if p.is_file() or p.is_symlink():
                p.unlink()  # a link is removed, never what it points to


def _validation_split(cfg: TrainConfig, resumed: dict[str, Any] | None, path: Path) -> ValidationSplit:
    """The resumed run's split, else the store's ``val`` split, else one carved from the training split."""
    import eventkit

    store = eventkit.open_store(Path(cfg.store).expanduser())
    if cfg.train_split not in store:
        raise ConfigError(f"unknown split {cfg.train_split!r} for {cfg.store}; valid splits are {', '.join(store)}")
    n_train = len(store[cfg.train_split])
    if resumed is not None and "validation" in resumed:
        split = ValidationSplit.from_dict(resumed["validation"])
        size = len(store[split.split]) if split.source == "store" and split.split in store else n_train
        if split.source == "store" and (split.split not in VAL_SPLIT_NAMES or split.split == cfg.test_split):
            raise CheckpointError(f"{path}: its validation split names the store split {split.split!r}, not "
                                  f"{' or '.join(VAL_SPLIT_NAMES)}; selecting on it would not be honest; use another --out")
        if split.source == "store" and split.split not in store or any(
                i >= size for i in split.val_indices) or any(i >= n_train for i in split.train_indices):
            raise CheckpointError(f"{path}: its validation split does not fit the training split of {cfg.store} "
                                  f"({n_train} samples); use another --out")
        if split.source == "carved" and set(split.val_indices) & set(split.train_indices):
            raise CheckpointError(f"{path}: its validation samples are also training samples; use another --out")
        return split
    for name in VAL_SPLIT_NAMES:
        if name in store and name != cfg.train_split:
            return ValidationSplit("store", name, 0.0, cfg.seed, list(range(n_train)), list(range(len(store[name]))))
    seed = cfg.seed if cfg.val_seed is None else cfg.val_seed
    return carve_validation([str(s) for s in store[cfg.train_split].sample_ids], cfg.val_fraction, seed)


def _estimate(cfg: TrainConfig, model: torch.nn.Module, train: FrameBatches, val: FrameBatches | None,
              device: torch.device, say: Callable[[str], None]):
    """Print the memory/time estimate (and a warning when it does not fit) before the first step."""
    train.set_epoch(0)
    x, y, _ = next(iter(train))
    x = x.float()  # the batches keep the store's integer type; the loop converts on the device
    batch = train.local_batch_size  # per process: what one process holds and computes
    steps = len(train) if cfg.max_batches is None else min(len(train), cfg.max_batches)
    val_n = val.num_samples if val is not None else 0
    if cfg.max_batches is not None:
        val_n = min(val_n, cfg.max_batches * batch)
    est = estimate_run(model, (x, y), optimizer=cfg.optimizer, loss=cfg.loss, device=device,
                       batch_size=batch, train_samples=min(train.num_samples, steps * batch),
                       val_samples=val_n, steps=steps, backend=cfg.backend)
    say(est.line(cfg.model, train.T, train.info.input_size, batch, cfg.backend))
    warning = est.warning(device)
    if warning:
        say(warning)
    return est


def _final_test(cfg: TrainConfig, out: Path, passes: dict[str, Any], say: Callable[[str], None],
                dist: Dist = SINGLE) -> EpochStats | None:
    """Evaluate the test split once, with the weights of ``best.pt`` (the validation-selected model).

    Distributed: rank 0 reads ``best.pt`` and hands it to the others; each evaluates a disjoint part.
    """
    if not cfg.test_split:
        return None
    best = dist.on_main(lambda: load_checkpoint(out / "best.pt") if (out / "best.pt").is_file() else None)
    if best is None:
        return None
    selected = model_from_checkpoint(best, cfg.backend, out / "best.pt").to(passes["device"])
    n_test = len(_split_view(cfg.store, cfg.test_split))
    test = open_batches(cfg.store, cfg.test_split, batch_size=max(1, -(-cfg.batch_size // dist.world_size)),
                        T=cfg.T, preload=cfg.preload, num_workers=cfg.num_workers, dtype=None,
                        pin_memory=passes["device"].type == "cuda",
                        indices=_shard(list(range(n_test)), dist))
    stats = evaluate(selected, test, cfg.loss, desc="test", **passes)
    source = best.get("validation", {}).get("source", "none")
    chosen = "validation accuracy" if source != "none" else "the last epoch (no validation)"
    say(f"test accuracy {stats.acc:.2%} (top-{cfg.topk} {stats.topk_acc:.2%}, {stats.samples} samples) of best.pt, "
        f"epoch {best['best_epoch']}, selected by {chosen}; the test split was not used for selection")
    return stats


def _split_view(store: str, split: str) -> Any:
    """``store[split]`` of an eventkit store (raises ConfigError for an unknown split)."""
    import eventkit

    opened = eventkit.open_store(Path(store).expanduser())
    if split not in opened:
        raise ConfigError(f"unknown split {split!r} for {store}; valid splits are {', '.join(opened)}")
    return opened[split]


def _same_shape(loaded: Any, expected: Any) -> bool:
    """Whether ``loaded`` has the keys and value types of a freshly made ``state_dict`` (recursively)."""
    if isinstance(expected, dict):
        return isinstance(loaded, dict) and loaded.keys() == expected.keys() and all(
            _same_shape(loaded[k], v) for k, v in expected.items())
    if isinstance(expected, (list, tuple)):
        return isinstance(loaded, (list, tuple)) and len(loaded) == len(expected) and all(
            _same_shape(a, b) for a, b in zip(loaded, expected))
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        return isinstance(loaded, (int, float)) and not isinstance(loaded, bool)
    return expected is None or loaded is None or isinstance(loaded, type(expected))


def _check_optimizer_state(opt: dict[str, Any], optimizer: torch.optim.Optimizer, path: Path) -> None:
    """Per-parameter optimizer tensors must have their parameter's shape (else the first step fails)."""
    params = [p for g in optimizer.param_groups for p in g["params"]]
    state = opt.get("state")
    if not isinstance(state, dict) or not isinstance(opt.get("param_groups"), list):
        raise CheckpointError(f"{path}: its optimizer state has no state/param_groups; use another --out")
    for idx, entry in state.items():
        if not isinstance(idx, int) or not 0 <= idx < len(params) or not isinstance(entry, dict):
            raise CheckpointError(f"{path}: its optimizer state names parameter {idx!r} of {len(params)}; "
                                  f"it comes from another network or --optimizer")
        for name, v in entry.items():
            if isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape != params[idx].shape:
                raise CheckpointError(f"{path}: optimizer {name} of parameter {idx} has shape {tuple(v.shape)}, "
                                      f"not {tuple(params[idx].shape)}; it comes from another network")


def _restore(ckpt: dict[str, Any], path: Path, name: str, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
             scheduler: Any, scaler: Any) -> None:
    """Load a checked checkpoint's states into freshly made objects, refusing states that do not fit them.

    ``scheduler.load_state_dict`` copies whatever keys it is given into the scheduler, so the stored
    scheduler state must have exactly the keys and types of a fresh one.
    """
    check_state_dict(ckpt["model_state"], model.state_dict(), path, name)
    if not _same_shape(ckpt["scheduler_state"], scheduler.state_dict()):
        raise CheckpointError(f"{path}: its learning-rate schedule state does not fit the {scheduler.__class__.__name__} "
                              f"of this run; resume with the same --schedule, or use another --out")
    _check_optimizer_state(ckpt["optimizer_state"], optimizer, path)
    try:
        model.load_state_dict(ckpt["model_state"])
        optimizer.load_state_dict(ckpt["optimizer_state"])
        scheduler.load_state_dict(ckpt["scheduler_state"])
        if scaler is not None and ckpt.get("scaler_state"):
            scaler.load_state_dict(ckpt["scaler_state"])
        set_rng_state(ckpt["rng"])
    except (ValueError, TypeError, KeyError, RuntimeError) as err:  # the file's data does not fit this run
        raise CheckpointError(f"{path}: its optimizer or RNG state does not fit this run ({err}); resume with "
                              f"the same --optimizer, or use another --out") from err


def _resume_checkpoint(cfg: TrainConfig, out: Path) -> dict[str, Any]:
    """``out/last.pt``, checked to come from the same model, store, loss and model options."""
    ckpt = load_checkpoint(out / "last.pt")
    old, new = ckpt["config"], dataclasses.asdict(cfg)
    for key in ("model", "store", "loss", "model_kwargs"):
        if old.get(key) != new.get(key):
            raise ConfigError(f"{out / 'last.pt'} was trained with {key}={old.get(key)!r}, not {new.get(key)!r}; "
                             f"use another --out or the same options")
    return ckpt


def _write_log(history: list[dict[str, float]], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=LOG_FIELDS)
        w.writeheader()
        for row in history:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    os.replace(tmp, path)
