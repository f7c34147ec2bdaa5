"""ES-ImageNet samples: ``.npz`` files holding ``pos`` and ``neg`` event arrays.

Each sample file (``np.savez``) holds two float arrays of shape ``[n, 3]``: ``pos`` (ON events)
and ``neg`` (OFF events), with columns ``(y, x, step)`` as SpikingJelly 2.0 reads them. The
dataset was made with the ODG method over a fixed number of time steps (8), so its time axis
is a **step index, not microseconds**: eventkit stores the step index as ``t`` unchanged
(0..7). Integrate with ``frames=8, split_by="time"`` to get one frame per step, or with
``duration=1``.

Events are ordered by step, ON before OFF within a step (a stable sort of pos then neg),
which is SpikingJelly's order up to ties (its argsort is not stable).
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import DecodeError
from ..events import EventArray
from ._common import check_file, library_error
from ._format import EventFormat
from .numpy_files import columns_to_events, npz_check_members, npz_member

__all__ = ["read_es_imagenet", "FORMAT", "DECODER_VERSION"]

DECODER_VERSION = 1
"""Bump when a fix changes what :func:`read_es_imagenet` returns for some file (it keys cached stores)."""


def _array(path: str, z, key: str) -> np.ndarray:
    if key not in z.files:
        raise DecodeError(path, f"no {key!r} array (ES-ImageNet samples hold 'pos' and 'neg'); found {z.files}")
    a = npz_member(path, z, key)  # DecodeError with the member's offset, whatever zlib/zipfile raise
    if a.ndim != 2 or a.shape[1] != 3 or a.dtype.kind not in "fiu":
        raise DecodeError(path, f"array {key!r} must be numeric [n, 3] (y, x, step), got {a.dtype} {a.shape}")
    return a


def read_es_imagenet(path: str | os.PathLike[str]) -> EventArray:
    """Decode one ES-ImageNet sample (see the module docstring for the layout and the time axis).

    Raises
    ------
    DecodeError
        The file is not a readable npz with ``pos``/``neg`` [n, 3] arrays of integral values.
    """
    p = check_file(path)
    with open(p, "rb") as fh:  # our own handle: np.load leaks its handle when the zip is corrupt
        try:
            z = np.load(fh, allow_pickle=False)
        except Exception as err:  # zipfile / numpy raise many types on bad bytes
            raise library_error(p, err, "not a readable .npz", offset=0) from None
        if not hasattr(z, "files"):
            raise DecodeError(p, "not an .npz archive (ES-ImageNet samples are zips of pos.npy and neg.npy)", offset=0)
        with z:
            for key in ("pos", "neg"):
                if key not in z.files:
                    raise DecodeError(
                        p, f"no {key!r} array (ES-ImageNet samples hold 'pos' and 'neg'); found {z.files}"
                    )
            # declared shapes checked against the file size before anything is inflated
            npz_check_members(p, z, ["pos", "neg"], events_of=lambda shape: int(shape[0]) if shape else 1)
            pos, neg = _array(p, z, "pos"), _array(p, z, "neg")
    both = np.concatenate([pos, neg]) if pos.size or neg.size else np.zeros((0, 3))
    pol = np.concatenate([np.ones(len(pos), np.uint8), np.zeros(len(neg), np.uint8)])
    order = np.argsort(both[:, 2], kind="stable")
    both, pol = both[order], pol[order]
    return columns_to_events(
        p, {"t": both[:, 2], "x": both[:, 1], "y": both[:, 0], "p": pol},
        {"t": "step (col 2)", "x": "col 1", "y": "col 0", "p": "pos/neg"},
    )


def _sniff(head: bytes) -> bool:
    """An npz whose first member is ``pos.npy`` or ``neg.npy`` (what ES-ImageNet ships)."""
    if len(head) < 30 or not head.startswith(b"PK\x03\x04"):
        return False
    n = int.from_bytes(head[26:28], "little")
    return head[30 : 30 + n] in (b"pos.npy", b"neg.npy")


FORMAT = EventFormat(
    name="es_imagenet",
    title="ES-ImageNet .npz (pos/neg, time in ODG steps)",
    read=read_es_imagenet,
    version=DECODER_VERSION,
    suffixes=(),
    sniff=_sniff,
)
