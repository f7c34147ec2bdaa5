"""PyTorch side of eventkit: Datasets over the stores, padded batches with masks, augmentations.

This package is the only place eventkit imports torch.

>>> from eventkit.torch import FrameDataset, pad_collate, padded_mask
>>> from eventkit.torch import transforms as T, event_transforms as ET
>>> from eventkit.torch.datasets import DVS128Gesture      # SpikingJelly-style classes
"""

from __future__ import annotations

from .._extras import require

# Without torch, one line naming the extra, not a traceback from deep inside a submodule.
require("torch", "torch", "eventkit.torch (FrameDataset, EventDataset)")

from . import event_transforms, transforms  # noqa: E402  (after the torch check)
from ._errors import DatasetArgumentError  # noqa: E402
from .collate import pad_collate, padded_mask  # noqa: E402
from .dataset import EventDataset, FrameDataset  # noqa: E402
from . import datasets  # noqa: E402  (imports FrameDataset)

__all__ = [
    "DatasetArgumentError",
    "EventDataset",
    "FrameDataset",
    "datasets",
    "event_transforms",
    "pad_collate",
    "padded_mask",
    "transforms",
]
