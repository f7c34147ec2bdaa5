"""Run ``fit_segmentation`` in N spawned processes (gloo on the CPU), as ``torchrun`` would."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def _worker(rank: int, world: int, port: int, cfg: dict[str, Any], results: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from snnmodels.training.distributed import init_distributed, require_launch_env
    from snnmodels.training.seg_train import SegTrainConfig, fit_segmentation

    dist = init_distributed(require_launch_env(), "cpu")
    try:
        res = fit_segmentation(SegTrainConfig(**cfg), log=None, dist=dist)
        torch.save({"history": res.history, "test_miou": res.test.miou if res.test else None},
                   Path(results) / f"rank{rank}.pt")
    except Exception as err:  # the parent reads the class and message
        (Path(results) / f"rank{rank}.err").write_text(f"{type(err).__name__}: {err}")
    finally:
        dist.close()


def run_seg_ranks(world: int, cfg: dict[str, Any], results: Path, timeout: float = 120.0) -> list[int | None]:
    """Train with ``world`` spawned processes; their exit codes (None: still running, then killed)."""
    import torch.multiprocessing as mp

    from tests.snnmodels.training._ddp import free_port

    results.mkdir(parents=True, exist_ok=True)
    ctx = mp.start_processes(_worker, args=(world, free_port(), cfg, str(results)), nprocs=world, join=False,
                             start_method="spawn")  # fmt: skip
    codes: list[int | None] = []
    for p in ctx.processes:
        p.join(timeout)
        if p.is_alive():
            p.kill()
            p.join()
            codes.append(None)
        else:
            codes.append(p.exitcode)
    return codes
