"""Run ``fit`` in N spawned processes (gloo on the CPU), as ``torchrun`` would, and collect what each rank saw.

Each rank sets the launcher variables itself, trains with ``distributed=True`` and saves
``rank<R>.pt`` (its step losses, final weights, history, test accuracy) or ``rank<R>.err`` (the class
and message of the error it ended with) in ``results``. ``kill`` makes one rank SIGKILL itself in
the middle of an epoch: a crash that leaves no chance to clean up.
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path
from typing import Any

import torch


def free_port() -> int:
    """A TCP port nobody listens on now (the rendezvous of one test)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_in(epoch: int) -> None:
    """Make this process SIGKILL itself after one batch of ``epoch`` (0-based)."""
    from snnmodels.training.data import FrameBatches

    original = FrameBatches.__iter__

    def iterate(self):  # type: ignore[no-untyped-def]
        for i, batch in enumerate(original(self)):
            if self.shuffle and self.epoch == epoch and i == 1:
                os.kill(os.getpid(), signal.SIGKILL)
            yield batch

    FrameBatches.__iter__ = iterate  # type: ignore[method-assign]


def _worker(rank: int, world: int, port: int, cfg: dict[str, Any], results: str, resume: bool,
            kill: tuple[int, int] | None) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    if kill is not None and kill[0] == rank:
        _die_in(kill[1])
    from snnmodels.training import TrainConfig, fit

    out = Path(results)
    try:
        res = fit(TrainConfig(**cfg, distributed=True), resume=resume, log=None)
    except Exception as err:  # the parent checks the class and message
        (out / f"rank{rank}.err").write_text(f"{type(err).__name__}: {err}")
        return
    torch.save({"steps": res.step_losses, "state": res.model.state_dict(), "history": res.history,
                "test_acc": res.test_acc, "test_n": res.test.samples if res.test else 0},
               out / f"rank{rank}.pt")


def run_ranks(world: int, cfg: dict[str, Any], results: Path, *, resume: bool = False,
              kill: tuple[int, int] | None = None, timeout: float = 120.0) -> list[int | None]:
    """Train with ``world`` spawned processes; return their exit codes (None: still running, then killed)."""
    import torch.multiprocessing as mp

    results.mkdir(parents=True, exist_ok=True)
    ctx = mp.start_processes(_worker, args=(world, free_port(), cfg, str(results), resume, kill), nprocs=world,
                             join=False, start_method="spawn")
    codes = []
    for p in ctx.processes:
        p.join(timeout)
        if p.is_alive():
            p.kill()
            p.join()
            codes.append(None)
        else:
            codes.append(p.exitcode)
    return codes
