"""Seeding shared by the frame and event transforms.

Every random transform takes ``seed=None | int`` and its ``__call__`` takes an optional
``generator``; randomness comes from, in this order:

1. the ``generator`` passed to the call (a ``torch.Generator`` for frame transforms, a
   ``numpy.random.Generator`` for event transforms), so one generator can drive a whole pipeline;
2. the transform's own generator, seeded with ``seed``. Inside a DataLoader worker the seed is
   mixed with the worker's seed (``get_worker_info().seed``, which the DataLoader derives from
   the main process' RNG, per worker and per epoch), so workers never repeat each other's draws,
   epochs differ, and the run is still reproducible under ``torch.manual_seed``;
3. with ``seed=None``, torch's global RNG (the DataLoader seeds it per worker).

Same seed, same input, same device -> same output (CPU and CUDA draw different streams).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

__all__ = ["Seeded", "mix_seed"]


def mix_seed(seed: int, *extra: int) -> int:
    """A 63-bit seed from ``seed`` and any extra integers (order matters)."""
    state = np.random.SeedSequence([int(seed) & (2**64 - 1), *(int(e) & (2**64 - 1) for e in extra)])
    return int(state.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def _context() -> tuple[int, int | None]:
    info = torch.utils.data.get_worker_info()
    return os.getpid(), (None if info is None else int(info.seed))


class Seeded:
    """Mixin holding ``seed`` and the per-process, per-device generators derived from it."""

    seed: int | None

    def __init__(self, seed: int | None = None) -> None:
        self.seed = None if seed is None else int(seed)
        self._gens: dict[Any, Any] = {}
        self._ctx: tuple[int, int | None] | None = None

    def _own_seed(self) -> int | None:
        """The seed for this process (mixed with the worker seed in a DataLoader worker)."""
        if self.seed is None:
            return None
        ctx = _context()
        if ctx != self._ctx:  # a new worker (or a fork): start fresh streams
            self._gens, self._ctx = {}, ctx
        return self.seed if ctx[1] is None else mix_seed(self.seed, ctx[1])

    def torch_generator(self, device: torch.device, generator: torch.Generator | None = None) -> torch.Generator | None:
        """The torch generator to draw with on ``device`` (None: torch's global RNG)."""
        if generator is not None:
            return generator
        seed = self._own_seed()
        if seed is None:
            return None
        key = ("torch", str(device))
        if key not in self._gens:
            g = torch.Generator(device=device)
            g.manual_seed(seed)
            self._gens[key] = g
        return self._gens[key]

    def numpy_generator(self, generator: np.random.Generator | None = None) -> np.random.Generator:
        """The NumPy generator for an event transform (from torch's global RNG when unseeded)."""
        if generator is not None:
            return generator
        seed = self._own_seed()
        if seed is None:
            return np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))
        if "numpy" not in self._gens:
            self._gens["numpy"] = np.random.default_rng(seed)
        return self._gens["numpy"]  # type: ignore[no-any-return]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_gens"], state["_ctx"] = {}, None  # generators restart from the seed in each worker
        return state

    def _seed_repr(self) -> str:
        return "" if self.seed is None else f", seed={self.seed}"
