"""Neuron kernels behind one registry (:mod:`snnmodels.kernels.registry`)."""

from snnmodels.kernels.registry import BACKENDS, KernelBackend, available_backends, get_backend

__all__ = ["BACKENDS", "KernelBackend", "available_backends", "get_backend"]
