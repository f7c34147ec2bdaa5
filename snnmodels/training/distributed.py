"""Data-parallel training across processes: one process per GPU (or CPU worker), launched by ``torchrun``.

A launcher (``torchrun``, ``srun`` with the variables exported, ``torch.multiprocessing``) starts one
process per device and sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``. :func:`launch_env` reads them, :func:`init_distributed` joins the process group
(NCCL for CUDA devices, gloo for CPUs) and returns a :class:`Dist`: the process's place in the job
and the few collectives the training loop needs. A single-process run uses :data:`SINGLE`, whose
collectives are identities, so the loop has one code path.

Semantics the trainer builds on:

* ``--batch-size`` is the GLOBAL batch: every optimizer step consumes one batch of the single-process
  run's order (:class:`~snnmodels.training.data.FrameBatches` with ``rank``/``world_size``), each rank
  the contiguous part ``rank`` of it. Each rank's loss is weighted by its share of the step's samples
  and DDP averages the gradients, so a step's gradient is that of the whole global batch.
* Batch norm sees the global batch too (:func:`sync_batch_norm`): torch's ``SyncBatchNorm`` on CUDA,
  :class:`GlobalBatchNorm` (the same statistics through differentiable all-reduces) on CPUs, where
  torch's only supports GPUs. Together: N ranks train like one process with the same ``--batch-size``,
  up to float rounding.
* Validation and test splits are cut into disjoint contiguous parts (:func:`shard_indices`); counts and
  sums are all-reduced, so metrics cover every sample exactly once.
* A failed collective (a rank died, the network dropped, the timeout passed) becomes one
  :class:`DistributedError` (:meth:`Dist.guard`).
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import nn

from snnmodels.errors import CheckpointError, ConfigError, SnnmodelsError

__all__ = ["LAUNCH_VARS", "LaunchEnv", "launch_env", "require_launch_env", "Dist", "SINGLE", "init_distributed",
           "DistributedError", "GlobalBatchNorm", "sync_batch_norm", "shard_indices", "rank_seed"]

#: The variables a launcher sets for every process (``torchrun`` sets all of them).
LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")

T = TypeVar("T")


class DistributedError(SnnmodelsError, RuntimeError):
    """The distributed job cannot go on: a launcher variable is missing, a rank died, a collective timed out."""


@dataclass(frozen=True)
class LaunchEnv:
    """What the launcher told this process.

    Attributes
    ----------
    rank, world_size : int
        This process's index among ``world_size`` processes.
    local_rank : int
        Its index on this node (the CUDA device it uses).
    master_addr, master_port : str
        Where rank 0 listens for the rendezvous.
    """

    rank: int
    world_size: int
    local_rank: int
    master_addr: str
    master_port: str


def launch_env(environ: Mapping[str, str] | None = None) -> LaunchEnv | None:
    """The launcher's variables, or None unless all of :data:`LAUNCH_VARS` are set (a plain run).

    Raises
    ------
    DistributedError
        A value is not a valid rank.
    """
    env = os.environ if environ is None else environ
    if not all(env.get(v) for v in LAUNCH_VARS):
        return None
    try:
        rank, world, local = (int(env[v]) for v in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    except ValueError:
        raise DistributedError(f"RANK, WORLD_SIZE and LOCAL_RANK must be integers, got {env['RANK']!r}, "
                               f"{env['WORLD_SIZE']!r}, {env['LOCAL_RANK']!r}") from None
    if world < 1 or not 0 <= rank < world or local < 0:
        raise DistributedError(f"RANK={rank} is not within WORLD_SIZE={world} (or LOCAL_RANK={local} < 0)")
    return LaunchEnv(rank, world, local, env["MASTER_ADDR"], env["MASTER_PORT"])


def require_launch_env(environ: Mapping[str, str] | None = None) -> LaunchEnv:
    """:func:`launch_env`, refusing a process that no launcher started (``--distributed`` without torchrun)."""
    env = launch_env(environ)
    if env is None:
        values = os.environ if environ is None else environ
        missing = [v for v in LAUNCH_VARS if not values.get(v)]
        raise DistributedError(
            f"--distributed needs a launcher that sets {', '.join(LAUNCH_VARS)} for every process; "
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set. Start it with `torchrun "
            f"--nproc-per-node N -m snnmodels train ...` or `srun` (see docs/training.md), or drop --distributed "
            f"for one process")
    return env


def rank_seed(seed: int, epoch: int, rank: int) -> int:
    """The seed of ``rank``'s random numbers (dropout) in ``epoch``: independent ranks, reproducible epochs."""
    return (int(seed) * 1_000_003 + int(epoch) * 10_007 + int(rank)) % 2**63


def shard_indices(n: int, rank: int, world_size: int) -> list[int]:
    """Rank ``rank``'s contiguous part of ``range(n)``: parts are disjoint, cover everything, sizes differ by <= 1."""
    lo, hi = n * rank // world_size, n * (rank + 1) // world_size
    return list(range(lo, hi))


_COLLECTIVE_HINTS = ("gloo", "nccl", "connection", "peer", "timed out", "timeout", "socket", "broken pipe",
                     "process group", "processgroup", "collective", "watchdog")


def _is_collective_failure(err: BaseException) -> bool:
    dist_error = getattr(torch.distributed, "DistError", None)
    if dist_error is not None and isinstance(err, dist_error):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and any(h in text for h in _COLLECTIVE_HINTS)


class Dist:
    """This process's place in a data-parallel job, and the collectives training needs.

    The default instance (:data:`SINGLE`) is a one-process job: every collective returns its input.

    Parameters
    ----------
    rank, world_size, local_rank
        From the launcher (:class:`LaunchEnv`).
    device
        Where collective tensors live (CUDA for NCCL, the CPU for gloo).
    owns_group
        Whether :meth:`close` should destroy the process group (this object created it).
    """

    def __init__(self, rank: int = 0, world_size: int = 1, local_rank: int = 0, *,
                 device: torch.device | None = None, owns_group: bool = False) -> None:
        self.rank, self.world_size, self.local_rank = int(rank), int(world_size), int(local_rank)
        self.device = device or torch.device("cpu")
        self.owns_group = owns_group

    @property
    def enabled(self) -> bool:
        """Whether collectives go to other processes (a process group is up)."""
        return self.world_size > 1 or self.owns_group

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes logs, curves and checkpoints and shows progress."""
        return self.rank == 0

    def __repr__(self) -> str:
        return f"Dist(rank={self.rank}, world_size={self.world_size}, device={self.device})"

    # -- collectives -------------------------------------------------------------------------------
    def sum(self, values: Sequence[float] | torch.Tensor) -> torch.Tensor:
        """The element-wise sum of ``values`` over all ranks, as a float64 CPU tensor (one all-reduce)."""
        t = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
        if not self.enabled:
            return t.clone()
        t = t.to(self.device)
        torch.distributed.all_reduce(t)
        return t.cpu()

    def broadcast(self, obj: T) -> T:
        """Rank 0's ``obj`` on every rank (pickled between our own processes; tensors come back on the CPU)."""
        if not self.enabled:
            return obj
        box = [obj if self.is_main else None]
        torch.distributed.broadcast_object_list(box, src=0, device=self.device if self.device.type == "cuda" else None)
        return box[0]  # type: ignore[return-value]

    def on_main(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on rank 0 only and hand its result, or its user error, to every rank.

        An error on rank 0 (a bad option, a damaged checkpoint, a missing store) is raised on every
        rank, with the same class when it is one of ours or a missing file and as a
        :class:`DistributedError` otherwise, instead of leaving the others waiting in the next collective.
        """
        if not self.enabled:
            return fn()
        result: tuple[str, Any] = ("ok", None)
        if self.is_main:
            try:
                result = ("ok", fn())
            except Exception as err:
                self.broadcast((type(err).__name__, str(err)))
                raise
        kind, value = self.broadcast(result)
        if kind == "ok":
            return value
        error_type = {"ConfigError": ConfigError, "CheckpointError": CheckpointError,
                      "FileNotFoundError": FileNotFoundError, "PermissionError": PermissionError}.get(kind)
        if error_type is None:
            raise DistributedError(f"rank {self.rank}: rank 0 failed ({kind}: {value})")
        raise error_type(f"(from rank 0) {value}")

    def barrier(self) -> None:
        """Wait for every rank."""
        if self.enabled:
            torch.distributed.barrier()

    # -- model -------------------------------------------------------------------------------------
    def wrap(self, model: nn.Module, *, sync_bn: bool = True) -> nn.Module:
        """``model`` ready for data-parallel steps: global batch norm (``sync_bn``) and DDP.

        DDP averages every parameter's gradient over the ranks, the PLIF neurons' learnable time
        constants included (they are parameters), so all ranks keep identical weights. Without
        ``sync_bn`` each rank normalises with its own part of the batch and rank 0's running
        statistics are broadcast at every forward.
        """
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        if sync_bn:
            model = sync_batch_norm(model, self.device)
        import inspect

        ids = [self.device.index] if self.device.type == "cuda" else None
        # global batch norm keeps the running statistics equal on all ranks: no buffer broadcast per forward
        # (newer torch names the option forward_sync_buffers; both still sync once at construction)
        options = inspect.signature(DistributedDataParallel).parameters
        name = "forward_sync_buffers" if "forward_sync_buffers" in options else "broadcast_buffers"
        return DistributedDataParallel(model, device_ids=ids, **{name: not sync_bn})

    @contextlib.contextmanager
    def guard(self, resume_hint: str) -> Iterator[None]:
        """Turn a failed collective (a rank died, timeout) into one :class:`DistributedError` naming this rank."""
        try:
            yield
        except SnnmodelsError:
            raise
        except Exception as err:
            if not self.enabled or not _is_collective_failure(err):
                raise
            first = next((ln.strip() for ln in str(err).splitlines() if ln.strip()), type(err).__name__)
            raise DistributedError(
                f"rank {self.rank} of {self.world_size}: a collective with the other ranks failed ({first[:240]}); "
                f"another rank probably died or the network dropped: check its log. {resume_hint}") from err

    def close(self) -> None:
        """Leave the process group if this object joined it."""
        if self.owns_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        self.owns_group = False


#: The single-process job.
SINGLE = Dist()


def _device_for(env: LaunchEnv, device: str) -> torch.device:
    """Each rank's device: CUDA device ``LOCAL_RANK`` for cuda/auto (when CUDA exists), else the CPU."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return torch.device("cpu")
    if device != "cuda":
        raise ConfigError(f"with --distributed, --device must be cpu, cuda or auto (each rank uses CUDA device "
                          f"LOCAL_RANK), not {device!r}; restrict the GPUs with CUDA_VISIBLE_DEVICES instead")
    if not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but this torch has no CUDA device; use --device cpu")
    if env.local_rank >= torch.cuda.device_count():
        raise ConfigError(f"LOCAL_RANK={env.local_rank} but this node has {torch.cuda.device_count()} CUDA "
                          f"device(s); start at most that many processes per node (--nproc-per-node)")
    return torch.device("cuda", env.local_rank)


def init_distributed(env: LaunchEnv, device: str = "auto", *, timeout_s: float = 600.0) -> Dist:
    """Join the process group of ``env`` (NCCL on CUDA, gloo on CPU) and return this rank's :class:`Dist`.

    Parameters
    ----------
    env
        From :func:`require_launch_env`.
    device
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    timeout_s
        How long a collective (and the rendezvous) may wait for the other ranks before failing.

    Raises
    ------
    DistributedError
        The rendezvous failed or timed out.
    """
    dev = _device_for(env, device)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if torch.distributed.is_initialized():  # a caller (a test, a notebook) already joined: reuse its group
        return Dist(env.rank, env.world_size, env.local_rank, device=dev, owns_group=False)
    try:
        torch.distributed.init_process_group(backend, rank=env.rank, world_size=env.world_size,
                                             timeout=datetime.timedelta(seconds=float(timeout_s)))
    except Exception as err:  # rendezvous: refused connection, timeout, address in use
        raise DistributedError(f"rank {env.rank}: could not join the {backend} process group at "
                               f"{env.master_addr}:{env.master_port} ({str(err).splitlines()[0][:200]})") from err
    return Dist(env.rank, env.world_size, env.local_rank, device=dev, owns_group=True)


class _AllReduceSum(torch.autograd.Function):
    """All-reduce (sum) with its gradient: the backward of a sum over ranks is the sum of the ranks' gradients."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out = tensor.clone(memory_format=torch.contiguous_format)
        torch.distributed.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out = grad.clone(memory_format=torch.contiguous_format)
        torch.distributed.all_reduce(out)
        return out


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Differentiable sum of ``tensor`` over all ranks (a new tensor)."""
    return _AllReduceSum.apply(tensor)


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm over the batch of ALL ranks, on any device (torch's ``SyncBatchNorm`` needs a GPU).

    In training it all-reduces per-channel sums, then sums of squared deviations (differentiable
    all-reduces, so gradients flow through the global statistics as in one process); in eval, or
    without a process group, it is plain batch norm. Same parameters and buffers as
    ``nn.BatchNorm2d``, so checkpoints load into the plain network.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input (got {input.dim()}-D)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and torch.distributed.is_available() and torch.distributed.is_initialized()
                and torch.distributed.get_world_size() > 1):
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        local_n = x.numel() // max(x.shape[1], 1)
        sums = all_reduce_sum(torch.cat([x.float().sum(dims), x.new_full((1,), float(local_n), dtype=torch.float32)]))
        count = sums[-1]
        mean = sums[:-1] / count
        centred = x.float() - mean.view(shape)
        var = all_reduce_sum((centred * centred).sum(dims)) / count
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                n = float(count)
                self.running_mean.mul_(1 - m).add_(mean.detach().to(self.running_mean.dtype), alpha=m)
                unbiased = var.detach() * (n / max(n - 1.0, 1.0))
                self.running_var.mul_(1 - m).add_(unbiased.to(self.running_var.dtype), alpha=m)
        return y.to(x.dtype)


def sync_batch_norm(model: nn.Module, device: torch.device) -> nn.Module:
    """Replace every batch norm of ``model`` by one over the global batch (torch's on CUDA, ours elsewhere)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return _convert_cpu(model)


def _convert_cpu(module: nn.Module) -> nn.Module:
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, (GlobalBatchNorm,
                                                                                       nn.SyncBatchNorm)):
        new = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                              module.track_running_stats)
        if module.affine:  # the same Parameter objects: an optimizer made before the swap still updates them
            new.weight, new.bias = module.weight, module.bias
        if module.track_running_stats:
            new.running_mean, new.running_var = module.running_mean, module.running_var
            new.num_batches_tracked = module.num_batches_tracked
        new.train(module.training)
        return new
    for name, child in list(module.named_children()):
        converted = _convert_cpu(child)
        if converted is not child:
            setattr(module, name, converted)
    return module
