"""PyTorch side of eventkit: Datasets over the stores, padded batches with masks, augmentations.

This package is the only place eventkit imports torch.

>>> from eventkit.torch import FrameDataset, pad_collate, padded_mask
>>> from eventkit.torch import transforms as T, event_transforms as ET
"""

from __future__ import annotations

from . import event_transforms, transforms
from .collate import pad_collate, padded_mask
from .dataset import EventDataset, FrameDataset

__all__ = ["EventDataset", "FrameDataset", "event_transforms", "pad_collate", "padded_mask", "transforms"]
