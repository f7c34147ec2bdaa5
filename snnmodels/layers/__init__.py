"""Layers for time-first ``[T, N, ...]`` tensors."""

from snnmodels.layers.containers import TimeFolded, Voting

__all__ = ["TimeFolded", "Voting"]
