"""Apply frame augmentations to a segmentation sample ``(frames, mask)`` consistently.

A segmentation store's samples are frames ``[T, P, H, W]`` and a target mask ``[H, W]`` (class
index per pixel, 255 = ignore). A geometric augmentation must move both alike, or the labels no
longer sit on their pixels. :func:`joint_apply` takes any transform a :class:`FrameDataset`
accepts and applies it to the pair:

* :class:`~eventkit.torch.transforms.RandomHorizontalFlip`, :class:`~.transforms.RandomTranslate`
  and :class:`~.transforms.RandomResizedCrop` are applied to the frames and then to the mask with a
  generator in the **same state**, so both get the same flip, shift or box (a crop resamples the
  mask with ``nearest``, whatever the frames' mode); pixels shifted in from outside the image are
  255 (ignore) in the mask;
* inside a :class:`~.transforms.Compose`, each transform is applied this way, in order;
* every other transform (event drop, polarity inversion, time warps, plain callables) changes
  the frames only;
* an object with ``joint = True`` is called as ``transform(frames, mask)`` and returns both.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch

from .transforms import Compose, FrameTransform, RandomHorizontalFlip, RandomResizedCrop, RandomTranslate

__all__ = ["IGNORE_INDEX", "joint_apply"]

IGNORE_INDEX = 255
_GEOMETRIC = (RandomHorizontalFlip, RandomTranslate, RandomResizedCrop)


def joint_apply(
    transform: Callable[..., Any], frames: torch.Tensor, mask: torch.Tensor, *, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply ``transform`` to ``frames [..., T, P, H, W]`` and, where it moves pixels, to ``mask [..., H, W]`` alike.

    A batch (``[N, T, P, H, W]`` with ``[N, H, W]``) gets independent draws per sample, the same
    for a sample's frames and mask. Returns ``(frames, mask)``; the mask keeps its dtype.
    """
    if getattr(transform, "joint", False):
        return transform(frames, mask)
    if isinstance(transform, Compose):
        for tr in transform.transforms:
            g = transform._generator_for(frames, generator) if isinstance(tr, (FrameTransform, Compose)) else None
            frames, mask = joint_apply(tr, frames, mask, generator=g)  # type: ignore[arg-type]
        return frames, mask
    if isinstance(transform, _GEOMETRIC):
        return _same_draw(transform, frames, mask, generator)
    if isinstance(transform, FrameTransform):
        return transform(frames, generator=generator), mask
    return transform(frames), mask


def _same_draw(
    tr: FrameTransform, frames: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    g = tr.torch_generator(frames.device, generator)
    if g is None:  # torch's global RNG: replay the same draws for the mask
        state = torch.random.get_rng_state()
        out = tr(frames)
        after = torch.random.get_rng_state()
        torch.random.set_rng_state(state)
        m = _move_mask(tr, mask, None)
        torch.random.set_rng_state(after)
        return out, m
    state = g.get_state()
    out = tr(frames, generator=g)
    twin = torch.Generator(device=g.device)
    twin.set_state(state)
    return out, _move_mask(tr, mask, twin)


def _move_mask(tr: FrameTransform, mask: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    """The mask through ``tr`` as ``[..., 1, 1, H, W]`` frames; pixels with no source become 255."""
    if isinstance(tr, RandomResizedCrop) and tr.mode != "nearest":
        tr = copy.copy(tr)
        tr.mode = "nearest"  # class indices are never blended
    enc = mask.to(torch.int16).add(1).unsqueeze(-3).unsqueeze(-3)  # [..., 1, 1, H, W]; 0 = "filled in"
    out = (tr(enc, generator=g) if g is not None else tr(enc))[..., 0, 0, :, :]
    out = torch.where(out == 0, torch.full_like(out, IGNORE_INDEX + 1), out) - 1
    return out.to(mask.dtype)
