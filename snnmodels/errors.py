"""The snnmodels error hierarchy; the contract is eventkit's (:mod:`eventkit.errors`, ``docs/errors.md``).

* Every failure a user can cause (a bad option, a file that is not a checkpoint, a store that does
  not fit the model, a backend this machine cannot run) raises a :class:`SnnmodelsError` subclass
  that also subclasses the builtin that fits (``ValueError`` for bad values and files,
  ``RuntimeError`` for an unavailable backend), so ``except ValueError`` in user code keeps
  working. Data errors from eventkit (a damaged store) stay :class:`eventkit.errors.EventkitError`.
  A bare ``ValueError``/``RuntimeError`` is a bug of ours.
* A message says what is wrong, which file or option (``--batch-size (batch_size=)``), and what to do.
* ``snnmodels train|eval|demo`` print such an error as one ``Error: <message>`` line and exit 1; a
  bad option is a usage error (exit 2); Ctrl-C prints ``Aborted: <how to resume>`` (``train``: the
  finished epochs are kept, add ``--resume``) and exits 130. Anything else keeps its traceback.
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
