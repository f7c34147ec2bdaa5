"""The registry of dataset generators: the only code a manifest can ask eventkit to run.

A manifest's ``generator`` field names an entry of :data:`GENERATORS` (``"synthetic-gestures"``),
never a Python module or function: a manifest is data a user may have been sent, and data must not
choose which code runs. Products that add a generator register it here, in code.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["GENERATORS", "generator_names", "resolve_generator"]


def _synthetic_gestures(out_dir: str | os.PathLike[str]) -> Path:
    # Imported when called: the generator pulls in the AEDAT writer and NumPy-heavy code.
    from .synthetic_gestures import generate_synthetic_gestures

    return generate_synthetic_gestures(out_dir)


#: Registered generators: name -> function(out_dir) writing the dataset's extracted files.
GENERATORS: dict[str, Callable[[str | os.PathLike[str]], Path]] = {
    "synthetic-gestures": _synthetic_gestures,
}


def generator_names() -> list[str]:
    """The registered generator names, sorted."""
    return sorted(GENERATORS)


def resolve_generator(name: str) -> Callable[[str | os.PathLike[str]], Path]:
    """The generator registered as ``name``.

    Raises
    ------
    KeyError
        ``name`` is not registered (callers turn this into a :class:`~eventkit.errors.ManifestError`
        naming the manifest).
    """
    return GENERATORS[name]
