"""Random augmentations of event arrays (:data:`eventkit.EVENT_DTYPE`), before integration.

The event-level counterparts of :mod:`eventkit.torch.transforms`, for
:class:`~eventkit.torch.EventDataset`'s ``event_transform``: each is named after its frame
transform with an ``Events`` suffix (``RandomHorizontalFlip`` on frames,
``RandomHorizontalFlipEvents`` on events), so the two never share a name. Each takes a 1-D event array and
returns a new one (the input is never modified), keeps time order, and draws from a NumPy
generator (seeding as in :mod:`eventkit.torch._random`).

>>> from eventkit.torch import event_transforms as ET
>>> aug = ET.Compose([ET.RandomHorizontalFlipEvents((128, 128, 2)), ET.EventDropEvents((128, 128, 2))], seed=0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .._renamed import renamed_attribute, renamed_keyword
from ..events import SensorSize
from ._errors import DatasetArgumentError
from ._random import Seeded
from .transforms import Compose, _pair

__all__ = [
    "Compose",
    "EventDropEvents",
    "EventTransform",
    "RandomHorizontalFlipEvents",
    "RandomPolarityInversionEvents",
    "RandomTemporalDeleteEvents",
    "RandomTimeWarpEvents",
]


class EventTransform(Seeded):
    """Base class: checks the input and calls :meth:`apply` with a NumPy generator."""

    def __call__(self, events: np.ndarray, *, generator: np.random.Generator | None = None) -> np.ndarray:
        """Transform a 1-D structured event array; ``generator`` overrides the transform's own."""
        names = getattr(getattr(events, "dtype", None), "names", None) or ()
        if not isinstance(events, np.ndarray) or not {"t", "x", "y", "p"} <= set(names):
            raise DatasetArgumentError(f"{type(self).__name__} expects a structured event array with t, x, y, p fields")
        return self.apply(events, self.numpy_generator(generator))

    def apply(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._args()}{self._seed_repr()})"

    def _args(self) -> str:
        return ""


class RandomHorizontalFlipEvents(EventTransform):
    """``x -> width - 1 - x`` with probability ``p``."""

    sensor_size = renamed_attribute("sensor_size", "sensor")  # the Tonic-style name before one vocabulary

    @renamed_keyword("sensor_size", "sensor")
    def __init__(self, sensor: SensorSize | tuple[int, ...], p: float = 0.5, *, seed: int | None = None) -> None:
        super().__init__(seed)
        self.sensor = SensorSize.of(sensor)
        self.p = float(p)

    def apply(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = events.copy()
        if rng.random() < self.p:
            out["x"] = self.sensor.width - 1 - events["x"].astype(np.int64)
        return out

    def _args(self) -> str:
        return f"{tuple(self.sensor)}, p={self.p}"


class RandomPolarityInversionEvents(EventTransform):
    """``p -> 1 - p`` (OFF <-> ON) with probability ``p``."""

    def __init__(self, p: float = 0.5, *, seed: int | None = None) -> None:
        super().__init__(seed)
        self.p = float(p)

    def apply(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = events.copy()
        if rng.random() < self.p:
            out["p"] = 1 - events["p"]
        return out

    def _args(self) -> str:
        return f"p={self.p}"


class RandomTimeWarpEvents(EventTransform):
    """Scale time about the first event: ``t -> t0 + round((t - t0) / s)``, ``s`` log-uniform.

    ``s > 1`` plays the sample faster (shorter), as in :class:`eventkit.torch.transforms.RandomTimeWarp`.
    """

    def __init__(self, scale: tuple[float, float] = (0.8, 1.25), *, seed: int | None = None) -> None:
        super().__init__(seed)
        self.scale = _pair(scale, "scale")
        if self.scale[0] <= 0:
            raise DatasetArgumentError(f"scale must be positive, got {scale!r}")

    def apply(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        s = math.exp(rng.uniform(math.log(self.scale[0]), math.log(self.scale[1])))
        out = events.copy()
        if len(events):
            t0 = int(events["t"][0])
            out["t"] = t0 + np.round((events["t"] - t0) / s).astype(np.int64)
        return out

    def _args(self) -> str:
        return f"scale={self.scale}"


class RandomTemporalDeleteEvents(EventTransform):
    """Cut the time span into ``chunks`` equal slices and keep ``keep`` of them, in order.

    Later events move back by the length of the deleted slices, so the sample has no gap (the
    event-level analogue of SpikingJelly's ``RandomTemporalDelete`` on frames).
    """

    def __init__(self, chunks: int, keep: int, *, seed: int | None = None) -> None:
        super().__init__(seed)
        if not 1 <= int(keep) <= int(chunks):
            raise DatasetArgumentError(f"need 1 <= keep <= chunks, got keep={keep}, chunks={chunks}")
        self.chunks, self.keep = int(chunks), int(keep)

    def apply(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if len(events) == 0:
            return events.copy()
        t = events["t"]
        t0, span = int(t[0]), int(t[-1]) - int(t[0]) + 1
        edges = t0 + (np.arange(self.chunks + 1, dtype=np.int64) * span) // self.chunks
        chunk = np.searchsorted(edges, t, side="right") - 1
        kept = np.zeros(self.chunks, dtype=bool)
        kept[rng.choice(self.chunks, self.keep, replace=False)] = True
        removed_before = np.concatenate([[0], np.cumsum(np.where(kept, 0, np.diff(edges)))])  # per chunk
        sel = kept[chunk]
        out = events[sel].copy()
        out["t"] = t[sel] - removed_before[chunk[sel]]
        return out

    def _args(self) -> str:
        return f"chunks={self.chunks}, keep={self.keep}"


class EventDropEvents(EventTransform):
    """EventDrop (Gu et al., IJCAI 2021): per sample, one of identity, drop by time, by area, random.

    Drop by time removes the events of a random interval of ``ratio`` of the time span; drop by
    area those in a random box of ``ratio * W`` by ``ratio * H`` pixels; random drop each event
    with probability ``ratio``. ``ratio`` is uniform in ``ratio``.
    """

    OPS = ("identity", "time", "area", "random")
    sensor_size = renamed_attribute("sensor_size", "sensor")  # the Tonic-style name before one vocabulary

    @renamed_keyword("sensor_size", "sensor")
    def __init__(
        self,
        sensor: SensorSize | tuple[int, ...],
        ratio: tuple[float, float] = (0.1, 0.5),
        ops: Sequence[str] = OPS,
        *,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        self.sensor = SensorSize.of(sensor)
        self.ratio = _pair(ratio, "ratio")
        if not 0 <= self.ratio[0] <= self.ratio[1] <= 1:
            raise DatasetArgumentError(f"ratio must lie in [0, 1], got {ratio!r}")
        bad = set(ops) - set(self.OPS)
        if bad or not ops:
            raise DatasetArgumentError(f"unknown EventDropEvents ops {sorted(bad)}; choose from {self.OPS}")
        self.ops = tuple(ops)

    def apply(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        op = self.ops[int(rng.integers(len(self.ops)))]
        ratio = rng.uniform(*self.ratio)
        if op == "identity" or len(events) == 0:
            return events.copy()
        if op == "random":
            return events[rng.random(len(events)) >= ratio]
        if op == "time":
            t = events["t"]
            t0, span = int(t[0]), int(t[-1]) - int(t[0]) + 1
            length = round(ratio * span)
            start = t0 + int(rng.integers(0, span - length + 1))
            return events[(t < start) | (t >= start + length)]
        w, h = self.sensor.width, self.sensor.height
        bw, bh = round(ratio * w), round(ratio * h)
        x0, y0 = int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1))
        x, y = events["x"], events["y"]
        inside = (x >= x0) & (x < x0 + bw) & (y >= y0) & (y < y0 + bh)
        return events[~inside]

    def _args(self) -> str:
        return f"{tuple(self.sensor)}, ratio={self.ratio}, ops={self.ops}"
