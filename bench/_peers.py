"""Import helpers for the peer libraries (bench/test-golden use only, never product code).

SpikingJelly 2.0's ``datasets`` package imports torchvision and torchaudio at import time, only
for download helpers and audio datasets we never call. PyPI's torchvision does not load beside
the pinned CPU torch on our machines, so :func:`import_spikingjelly` installs inert stand-in
modules for those two names (any use of them raises) before importing SpikingJelly.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types

_STUBBED = ("torchvision", "torchaudio")


class _Inert:
    def __init__(self, *a, **k):  # pragma: no cover - only reached if a peer really uses it
        raise RuntimeError("torchvision/torchaudio stand-in used; install the real package")

    def __class_getitem__(cls, item):
        return cls


class _StubModule(types.ModuleType):
    __path__: list[str] = []

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Inert


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in _STUBBED:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return _StubModule(spec.name)

    def exec_module(self, module):
        return None


def import_spikingjelly():
    """Import ``spikingjelly`` with torchvision/torchaudio replaced by inert stand-ins if missing."""
    for name in _STUBBED:
        try:
            importlib.import_module(name)
        except Exception:
            for key in [k for k in sys.modules if k.split(".")[0] == name]:
                del sys.modules[key]
            if not any(isinstance(f, _StubFinder) for f in sys.meta_path):
                sys.meta_path.insert(0, _StubFinder())
    import spikingjelly.datasets  # noqa: F401

    return importlib.import_module("spikingjelly")
