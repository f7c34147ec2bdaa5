"""The snnmodels error hierarchy.

Errors derive from :class:`SnnmodelsError` and from the builtin that fits, so ``except RuntimeError``
in user code keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["SnnmodelsError", "BackendUnavailableError", "CheckpointError", "ConfigError"]


class SnnmodelsError(Exception):
    """Base class for all errors raised on purpose by snnmodels."""


class BackendUnavailableError(SnnmodelsError, RuntimeError):
    """A neuron backend cannot run here (missing package, no CUDA device, tensor on wrong device).

    Parameters
    ----------
    name
        The backend that was asked for.
    reason
        Why it cannot run, in one sentence.
    available
        Names of the backends that can run on this machine.
    """

    def __init__(self, name: str, reason: str, available: Iterable[str] = ()) -> None:
        self.name = name
        self.reason = reason
        self.available = tuple(available)
        listed = ", ".join(self.available) or "none"
        super().__init__(
            f"neuron backend {name!r} is unavailable: {reason} (available backends: {listed})"
        )


class CheckpointError(SnnmodelsError, ValueError):
    """A checkpoint file cannot be used: not a checkpoint, damaged, or holding more than tensors and plain data.

    Checkpoints are loaded without running any code they might carry; the message names the file,
    says what it is and what was expected.
    """


class ConfigError(SnnmodelsError, ValueError):
    """A bad option value or an incompatible combination (model, device, store, checkpoint).

    Also a ``ValueError``, so callers that caught ``ValueError`` before keep working.
    """
