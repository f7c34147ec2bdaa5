"""Random augmentations of frame tensors ``[..., T, P, H, W]``, per sample or per batch.

Every transform takes a sample ``[T, P, H, W]`` or a batch ``[N, T, P, H, W]`` (any number of
leading dimensions) and draws independent parameters for each leading element, with pure torch
ops on the input's device: put them in a Dataset's ``transform`` (CPU, in the workers) or apply
them to the collated batch after ``.to("cuda")`` (one vectorised call per batch).

Dtypes are preserved (integer counts stay integers; ``torch.uint16``, which torch supports only
partly, is handled too). Seeding: see :mod:`eventkit.torch._random`: ``seed=`` on the transform or
``generator=`` on the call; same seed, same input and device -> same output.

>>> aug = Compose([RandomHorizontalFlip(), RandomTranslate(8), EventDrop()], seed=0)
>>> x = aug(frames)                        # [T, P, H, W] or [N, T, P, H, W]

Caution: a horizontal flip turns a left-hand gesture into a right-hand one (DVS128 Gesture
classes 2/3, 5/6 ...); leave it out where the class depends on the side.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from ._errors import DatasetArgumentError
from ._random import Seeded

__all__ = [
    "Compose",
    "EventDrop",
    "FrameTransform",
    "RandomHorizontalFlip",
    "RandomPolarityInversion",
    "RandomResizedCrop",
    "RandomTemporalDelete",
    "RandomTimeWarp",
    "RandomTranslate",
]

Tensor = torch.Tensor


# Unsigned dtypes torch can store but not flip/index_put/compare; moves work on a same-size signed view.
_SIGNED_VIEW = {torch.uint16: torch.int16, torch.uint32: torch.int32, torch.uint64: torch.int64}


class FrameTransform(Seeded):
    """Base class: flattens leading dims to a batch ``[B, T, P, H, W]`` and calls :meth:`apply`.

    Subclasses that only move values (``moves_only = True``) see ``uint16`` frames as a bitwise
    ``int16`` view, which torch supports fully; the result is viewed back, bit for bit.
    """

    moves_only = False

    def __call__(self, frames: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Transform ``frames [..., T, P, H, W]``; ``generator`` overrides the transform's own."""
        if not isinstance(frames, torch.Tensor) or frames.ndim < 4:
            got = tuple(frames.shape) if hasattr(frames, "shape") else type(frames).__name__
            raise DatasetArgumentError(f"{type(self).__name__} expects a tensor [..., T, P, H, W], got {got}")
        lead = frames.shape[:-4]
        x = frames.reshape(-1, *frames.shape[-4:])
        signed = _SIGNED_VIEW.get(x.dtype) if self.moves_only else None
        out = self.apply(x if signed is None else x.view(signed), self.torch_generator(x.device, generator))
        out = out if signed is None else out.view(frames.dtype)
        return out.reshape(*lead, *out.shape[1:])

    def apply(self, x: Tensor, g: torch.Generator | None) -> Tensor:
        """Transform a batch ``[B, T, P, H, W]`` with per-sample parameters drawn from ``g``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._args()}{self._seed_repr()})"

    def _args(self) -> str:
        return ""


def _rand(n: int | tuple[int, ...], g: torch.Generator | None, device: torch.device) -> Tensor:
    """Uniform [0, 1) float32 on ``device``, drawn from ``g`` (on its own device) or the global RNG."""
    shape = (n,) if isinstance(n, int) else n
    src = g.device if g is not None else device
    return torch.rand(shape, generator=g, device=src).to(device)


def _where(mask: Tensor, a: Tensor, b: Tensor | None = None) -> Tensor:
    """``torch.where`` that also works for uint16 (zeros when ``b`` is None)."""
    if b is None:
        b = torch.zeros((), dtype=a.dtype, device=a.device)
    return torch.where(mask, a, b)


def _bshape(v: Tensor, ndim: int = 5) -> Tensor:
    """``[B]`` -> ``[B, 1, 1, ...]`` for broadcasting against a ``ndim`` batch."""
    return v.reshape(-1, *([1] * (ndim - 1)))


def _pair(v: float | tuple[float, float], name: str) -> tuple[float, float]:
    lo, hi = (v, v) if isinstance(v, (int, float)) else (float(v[0]), float(v[1]))
    if lo > hi:
        raise DatasetArgumentError(f"{name} must be (low, high) with low <= high, got {v!r}")
    return float(lo), float(hi)


class RandomHorizontalFlip(FrameTransform):
    """Mirror the width axis (``x -> W - 1 - x``) with probability ``p`` per sample."""

    def __init__(self, p: float = 0.5, *, seed: int | None = None) -> None:
        super().__init__(seed)
        self.p = float(p)

    moves_only = True

    def apply(self, x: Tensor, g: torch.Generator | None) -> Tensor:
        flip = _rand(x.shape[0], g, x.device) < self.p
        return torch.where(_bshape(flip), x.flip(-1), x)

    def _args(self) -> str:
        return f"p={self.p}"


class RandomPolarityInversion(FrameTransform):
    """Swap the OFF and ON channels with probability ``p`` per sample (identity when ``P == 1``)."""

    def __init__(self, p: float = 0.5, *, seed: int | None = None) -> None:
        super().__init__(seed)
        self.p = float(p)

    moves_only = True

    def apply(self, x: Tensor, g: torch.Generator | None) -> Tensor:
        swap = _rand(x.shape[0], g, x.device) < self.p
        return x if x.shape[2] == 1 else torch.where(_bshape(swap), x.flip(2), x)

    def _args(self) -> str:
        return f"p={self.p}"


class RandomTranslate(FrameTransform):
    """Shift each sample by a random whole number of pixels, filling with zeros.

    Parameters
    ----------
    max_shift
        Largest shift: pixels (int) or a fraction of the size (float < 1), one value for both
        axes or ``(max_x, max_y)``. Shifts are uniform integers in ``[-max, max]``.
    """

    def __init__(
        self, max_shift: int | float | tuple[int | float, int | float] = 0.1, *, seed: int | None = None
    ) -> None:
        super().__init__(seed)
        self.max_shift = (max_shift, max_shift) if isinstance(max_shift, (int, float)) else tuple(max_shift)
        if len(self.max_shift) != 2 or any(m < 0 for m in self.max_shift):
            raise DatasetArgumentError(f"max_shift must be >= 0 (or a pair), got {max_shift!r}")

    moves_only = True

    def apply(self, x: Tensor, g: torch.Generator | None) -> Tensor:
        b, _, _, h, w = x.shape
        mx, my = (int(m * n) if isinstance(m, float) and m < 1 else int(m) for m, n in zip(self.max_shift, (w, h)))
        u = _rand((2, b), g, x.device)
        dx = (u[0] * (2 * mx + 1)).long() - mx
        dy = (u[1] * (2 * my + 1)).long() - my
        xs = torch.arange(w, device=x.device)[None] - dx[:, None]  # source column of each output column
        ys = torch.arange(h, device=x.device)[None] - dy[:, None]
        ok = ((ys >= 0) & (ys < h))[:, :, None] & ((xs >= 0) & (xs < w))[:, None, :]  # [B, H, W]
        n = torch.arange(b, device=x.device)[:, None, None]
        out = x[n, :, :, ys.clamp(0, h - 1)[:, :, None], xs.clamp(0, w - 1)[:, None, :]]  # [B, H, W, T, P]
        out = _where(ok[..., None, None], out)
        return out.permute(0, 3, 4, 1, 2).contiguous()

    def _args(self) -> str:
        return f"max_shift={self.max_shift}"


class RandomResizedCrop(FrameTransform):
    """Crop a random box of each sample and resize it to ``size`` (torchvision's rule).

    Parameters
    ----------
    size
        Output ``(H, W)`` (an int for square); the input size when None.
    scale
        Range of the box area as a fraction of the frame.
    ratio
        Range of the box aspect ratio relative to the frame's (1: the frame's shape), drawn
        log-uniformly; scale ``(1, 1)`` with ratio ``(1, 1)`` is the whole frame.
    mode
        ``"nearest"`` (default: integer counts stay exact values) or ``"bilinear"`` (rounded
        back for integer dtypes).
    """

    def __init__(
        self,
        size: int | tuple[int, int] | None = None,
        scale: tuple[float, float] = (0.6, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        *,
        mode: str = "nearest",
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        self.size = (size, size) if isinstance(size, int) else (None if size is None else tuple(size))
        self.scale = _pair(scale, "scale")
        self.ratio = _pair(ratio, "ratio")
        if mode not in ("nearest", "bilinear"):
            raise DatasetArgumentError(f"mode must be 'nearest' or 'bilinear', got {mode!r}")
        self.mode = mode

    def apply(self, x: Tensor, g: torch.Generator | None) -> Tensor:
        b, t, p, h, w = x.shape
        oh, ow = self.size or (h, w)
        u = _rand((4, b), g, x.device).double()
        area = self.scale[0] + u[0] * (self.scale[1] - self.scale[0])
        log_r = math.log(self.ratio[0]) + u[1] * (math.log(self.ratio[1]) - math.log(self.ratio[0]))
        r = torch.exp(log_r)
        bw = torch.sqrt(area * r).clamp(max=1.0)  # box size as a fraction of W, H
        bh = torch.sqrt(area / r).clamp(max=1.0)
        cx = (bw - 1) + u[2] * 2 * (1 - bw)  # box centre in [-1, 1] coordinates, box inside the frame
        cy = (bh - 1) + u[3] * 2 * (1 - bh)
        theta = torch.zeros(b, 2, 3, dtype=torch.float32, device=x.device)
        theta[:, 0, 0], theta[:, 0, 2] = bw.float(), cx.float()
        theta[:, 1, 1], theta[:, 1, 2] = bh.float(), cy.float()
        grid = F.affine_grid(theta, [b, t * p, oh, ow], align_corners=False)
        src = x.reshape(b, t * p, h, w)
        work = src if src.is_floating_point() else src.float()
        out = F.grid_sample(work, grid, mode=self.mode, padding_mode="zeros", align_corners=False)
        out = out if x.is_floating_point() else out.round_()
        return out.to(x.dtype).reshape(b, t, p, oh, ow)

    def _args(self) -> str:
        return f"size={self.size}, scale={self.scale}, ratio={self.ratio}, mode={self.mode!r}"


class RandomTimeWarp(FrameTransform):
    """Play each sample faster or slower: output frame ``t`` is input frame ``floor(t * s)``.

    ``s`` is drawn log-uniformly from ``scale``. ``s > 1`` speeds the sample up (frames are skipped
    and the tail is zero-filled); ``s < 1`` slows it down (frames repeat and the end is cut). The
    number of frames is unchanged, so batches stay rectangular.
    """

    def __init__(self, scale: tuple[float, float] = (0.8, 1.25), *, seed: int | None = None) -> None:
        super().__init__(seed)
        self.scale = _pair(scale, "scale")
        if self.scale[0] <= 0:
            raise DatasetArgumentError(f"scale must be positive, got {scale!r}")

    moves_only = True

    def apply(self, x: Tensor, g: torch.Generator | None) -> Tensor:
        b, t = x.shape[:2]
        lo, hi = math.log(self.scale[0]), math.log(self.scale[1])
        s = torch.exp(lo + _rand(b, g, x.device).double() * (hi - lo))
        src = torch.floor(torch.arange(t, device=x.device, dtype=torch.float64)[None] * s[:, None]).long()  # [B, T]
        ok = src < t
        out = x[torch.arange(b, device=x.device)[:, None], src.clamp(max=t - 1)]
        return _where(ok[:, :, None, None, None], out)

    def _args(self) -> str:
        return f"scale={self.scale}"


class RandomTemporalDelete(FrameTransform):
    """Keep ``keep`` of the ``T`` frames, chosen at random per sample, in their original order.

    SpikingJelly's ``RandomTemporalDelete(T_remain)``; the output has ``keep`` frames.
    """

    def __init__(self, keep: int, *, seed: int | None = None) -> None:
        super().__init__(seed)
        if int(keep) < 1:
            raise DatasetArgumentError(f"keep must be >= 1, got {keep!r}")
        self.keep = int(keep)

    moves_only = True

    def apply(self, x: Tensor, g: torch.Generator | None) -> Tensor:
        b, t = x.shape[:2]
        if self.keep > t:
            raise DatasetArgumentError(f"RandomTemporalDelete(keep={self.keep}) got only {t} frames")
        idx = _rand((b, t), g, x.device).topk(self.keep, dim=1).indices.sort(dim=1).values
        return x[torch.arange(b, device=x.device)[:, None], idx]

    def _args(self) -> str:
        return f"keep={self.keep}"


class EventDrop(FrameTransform):
    """EventDrop (Gu et al., IJCAI 2021) on count frames: one of four operations per sample.

    Each sample gets, with equal probability: nothing; *drop by time* (zero the frames of a random
    interval of ``ratio * T`` frames); *drop by area* (zero a random box of ``ratio * W`` by
    ``ratio * H`` pixels in every frame); *random drop* (drop each event with probability
    ``ratio``, i.e. binomial thinning of the counts). ``ratio`` is drawn from ``ratio`` per sample.
    Frames must hold counts (non-negative integers) for random drop, which draws one binomial per
    non-zero count: ~25 ms per DVS128-size sample on one CPU core, so prefer it on the GPU batch.

    Parameters
    ----------
    ratio
        ``(low, high)`` range of the drop fraction.
    ops
        Which of ``"identity", "time", "area", "random"`` to choose from.
    """

    OPS = ("identity", "time", "area", "random")

    def __init__(
        self, ratio: tuple[float, float] = (0.1, 0.5), ops: Sequence[str] = OPS, *, seed: int | None = None
    ) -> None:
        super().__init__(seed)
        self.ratio = _pair(ratio, "ratio")
        if not 0 <= self.ratio[0] <= self.ratio[1] <= 1:
            raise DatasetArgumentError(f"ratio must lie in [0, 1], got {ratio!r}")
        bad = set(ops) - set(self.OPS)
        if bad or not ops:
            raise DatasetArgumentError(f"unknown EventDrop ops {sorted(bad)}; choose from {self.OPS}")
        self.ops = tuple(ops)

    def apply(self, x: Tensor, g: torch.Generator | None) -> Tensor:
        b, t, _, h, w = x.shape
        dev = x.device
        u = _rand((5, b), g, dev)
        op = torch.tensor([self.OPS.index(o) for o in self.ops], device=dev)[(u[0] * len(self.ops)).long()]
        ratio = self.ratio[0] + u[1] * (self.ratio[1] - self.ratio[0])
        keep = torch.ones(b, t, 1, h, w, dtype=torch.bool, device=dev)
        # drop by time: frames [t0, t0 + n) with n = round(ratio * T)
        n_t = (ratio * t).round().long()
        t0 = (u[2] * (t - n_t + 1)).long()
        ar = torch.arange(t, device=dev)[None]
        in_t = (ar >= t0[:, None]) & (ar < (t0 + n_t)[:, None])  # [B, T]
        keep &= ~(in_t & (op == 1)[:, None])[:, :, None, None, None]
        # drop by area: a box of round(ratio*W) x round(ratio*H)
        bw, bh = (ratio * w).round().long(), (ratio * h).round().long()
        x0, y0 = (u[3] * (w - bw + 1)).long(), (u[4] * (h - bh + 1)).long()
        xr, yr = torch.arange(w, device=dev)[None], torch.arange(h, device=dev)[None]
        in_x = (xr >= x0[:, None]) & (xr < (x0 + bw)[:, None])
        in_y = (yr >= y0[:, None]) & (yr < (y0 + bh)[:, None])
        box = in_y[:, :, None] & in_x[:, None, :] & (op == 2)[:, None, None]  # [B, H, W]
        keep &= ~box[:, None, None]
        out = _where(keep, x)
        sel = op == 3
        if sel.any():  # binomial thinning of the non-zero counts of the selected samples
            sub = out[sel].float()
            nz = sub.nonzero(as_tuple=True)
            on = g.device if g is not None else dev
            keep_p = (1 - ratio[sel])[nz[0]]
            sub[nz] = torch.binomial(sub[nz].to(on), keep_p.to(on), generator=g).to(dev)
            signed = _SIGNED_VIEW.get(out.dtype)  # no index_put for uint16: write through a signed view
            dst = out if signed is None else out.view(signed)
            dst[sel] = sub.to(out.dtype) if signed is None else sub.to(out.dtype).view(signed)
        return out

    def _args(self) -> str:
        return f"ratio={self.ratio}, ops={self.ops}"


class Compose:
    """Apply transforms in order; a ``seed`` (or call-time ``generator``) drives all of them.

    With ``seed``, Compose owns one generator and hands it to every eventkit transform inside, so
    one number reproduces the whole pipeline; otherwise each transform uses its own seeding.
    Plain callables (``lambda x: x.float()``) are called with the frames only.
    """

    def __init__(self, transforms: Sequence[Callable[..., object]], *, seed: int | None = None) -> None:
        self.transforms = list(transforms)
        self._seeded = Seeded(seed)

    @property
    def seed(self) -> int | None:
        return self._seeded.seed

    def __call__(self, x: object, *, generator: object | None = None) -> object:
        for tr in self.transforms:
            if isinstance(tr, (Seeded, Compose)):
                x = tr(x, generator=self._generator_for(x, generator))  # type: ignore[operator]
            else:
                x = tr(x)
        return x

    def _generator_for(self, x: object, generator: object | None) -> object | None:
        """The call's generator, else Compose's own one of the kind ``x`` needs (torch or NumPy)."""
        is_tensor = isinstance(x, torch.Tensor)
        if generator is not None:
            return generator if isinstance(generator, torch.Generator) == is_tensor else None
        if self.seed is None:
            return None
        if is_tensor:
            return self._seeded.torch_generator(x.device)  # type: ignore[union-attr]
        return self._seeded.numpy_generator()

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        seed = "" if self.seed is None else f", seed={self.seed}"
        return f"Compose([{inner}\n]{seed})"
