"""A validation split carved from the training split, grouped so one recording never lands in both.

Model selection (``best.pt``) must not look at the test split. When the store has a ``val`` or
``validation`` split it is used as is; otherwise :func:`carve_validation` sets aside a seeded
fraction of the training split's *groups*.

Grouping rule (:func:`sample_group`), applied to each stored sample id:

1. an id starting with a ``user<digits>`` token (DVS128 Gesture, synthetic-gestures:
   ``user07_fluorescent_3``) belongs to that user (``user07``): all of a user's recordings stay on
   one side, as the dataset's own train/test split does;
2. otherwise an id ending in ``_<digits>`` belongs to the prefix before it (the recording:
   ``rec12_0`` and ``rec12_1`` share ``rec12``);
3. otherwise the sample is its own group.

When that gives fewer than two groups the split falls back to single samples.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snnmodels.errors import ConfigError

__all__ = ["ValidationSplit", "sample_group", "carve_validation", "VAL_SPLIT_NAMES"]

#: Store splits used for validation instead of carving, in this order of preference.
VAL_SPLIT_NAMES = ("val", "validation")

_USER = re.compile(r"^(user\d+)(?:_|$)")
_TRAILING_NUMBER = re.compile(r"^(.+)_\d+$")


def sample_group(sample_id: str) -> str:
    """The group of ``sample_id`` under the module's grouping rule."""
    m = _USER.match(sample_id)
    if m:
        return m.group(1)
    m = _TRAILING_NUMBER.match(sample_id)
    return m.group(1) if m else sample_id


@dataclass
class ValidationSplit:
    """Which training samples train and which validate (plain data: stored in checkpoints).

    Attributes
    ----------
    source : str
        ``"carved"`` (from the training split), ``"store"`` (the store's own ``val`` split) or
        ``"none"`` (``val_fraction=0``: no validation, ``best.pt`` is the last epoch).
    split : str
        The store split the validation samples come from.
    fraction, seed : float, int
        What was asked for.
    train_indices, val_indices : list of int
        Indices into the training split (``source="carved"``) / into ``split``.
    groups : list of str
        The validation groups (carved only).
    grouped_by : str
        ``"user"``, ``"recording"`` or ``"sample"``.
    """

    source: str
    split: str
    fraction: float
    seed: int
    train_indices: list[int] = field(default_factory=list)
    val_indices: list[int] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    grouped_by: str = "sample"

    def describe(self) -> str:
        """One line for the run's log."""
        if self.source == "none":
            return "validation: none (--val-fraction 0): best.pt is the last epoch; test is still evaluated once"
        if self.source == "store":
            return f"validation: the store's {self.split!r} split ({len(self.val_indices)} samples)"
        shown = ", ".join(self.groups[:6]) + (f", ... ({len(self.groups)} groups)" if len(self.groups) > 6 else "")
        return (f"validation: {len(self.val_indices)} of {len(self.val_indices) + len(self.train_indices)} training "
                f"samples carved out by {self.grouped_by} (--val-fraction {self.fraction:g}, seed {self.seed}): "
                f"{shown}; training on the other {len(self.train_indices)}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data for a checkpoint."""
        return {"source": self.source, "split": self.split, "fraction": float(self.fraction), "seed": int(self.seed),
                "train_indices": list(map(int, self.train_indices)), "val_indices": list(map(int, self.val_indices)),
                "groups": list(self.groups), "grouped_by": self.grouped_by}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ValidationSplit:
        """Inverse of :meth:`to_dict` (the dict is checked by the checkpoint validator)."""
        return cls(**{k: d[k] for k in ("source", "split", "fraction", "seed", "train_indices", "val_indices",
                                         "groups", "grouped_by")})


def _grouping(sample_ids: Sequence[str]) -> tuple[list[str], str]:
    groups = [sample_group(str(s)) for s in sample_ids]
    if len(set(groups)) < 2:
        return [str(s) for s in sample_ids], "sample"
    kind = "user" if all(_USER.match(str(s)) for s in sample_ids) else "recording"
    if all(g == str(s) for g, s in zip(groups, sample_ids)):
        kind = "sample"
    return groups, kind


def carve_validation(sample_ids: Sequence[str], fraction: float, seed: int) -> ValidationSplit:
    """Set aside whole groups holding about ``fraction`` of the samples, in a seeded order.

    Groups are taken in a random order (``numpy.random.default_rng(seed)``) until they hold at
    least ``ceil(fraction * N)`` samples; at least one group always stays for training.

    Raises
    ------
    ConfigError
        ``fraction`` outside ``[0, 0.9]``, or a training split of fewer than two samples.
    """
    if not 0.0 <= fraction <= 0.9 or math.isnan(fraction):
        raise ConfigError(f"--val-fraction must be between 0 and 0.9, got {fraction:g}")
    n = len(sample_ids)
    if fraction == 0.0:
        return ValidationSplit("none", "", 0.0, int(seed), list(range(n)), [], [], "sample")
    if n < 2:
        raise ConfigError(f"the training split has {n} sample(s): too few to carve a validation split; "
                          f"use --val-fraction 0")
    groups, kind = _grouping(sample_ids)
    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    names = sorted(members)
    rng = np.random.default_rng(int(seed))
    order = [names[i] for i in rng.permutation(len(names))]
    want = max(1, math.ceil(fraction * n))
    chosen: list[str] = []
    taken = 0
    for g in order[:-1]:  # the last group always trains
        if taken >= want:
            break
        chosen.append(g)
        taken += len(members[g])
    val = sorted(i for g in chosen for i in members[g])
    val_set = set(val)
    train = [i for i in range(n) if i not in val_set]
    return ValidationSplit("carved", "", float(fraction), int(seed), train, val, sorted(chosen), kind)
