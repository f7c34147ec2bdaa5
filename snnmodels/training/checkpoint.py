"""Checkpoints that cannot carry code: tensors and plain data only, checked before use.

A checkpoint is a dict of tensors, dicts, lists, tuples, str, int, float, bool and None, saved by
``torch.save`` and read back with ``torch.load(weights_only=True)``: pickle's restricted unpickler
refuses every other global, so a crafted file cannot call a function while it is being read. The
loaded dict is then checked key by key (:func:`validate_checkpoint`) and its weights against the
network it names (:func:`model_from_checkpoint`). Every failure is one
:class:`~snnmodels.errors.CheckpointError` that names the file, says what it is and what was expected.
"""

from __future__ import annotations

import os
import random
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snnmodels.errors import BackendUnavailableError, CheckpointError
from snnmodels.models import MODELS, build_model
from snnmodels.training.losses import LOSSES

__all__ = ["load_checkpoint", "validate_checkpoint", "model_from_checkpoint", "rng_state", "set_rng_state",
           "check_state_dict"]

EXPECTED = "expected a checkpoint written by `snnmodels train` (last.pt or best.pt in its --out folder)"

BACKENDS = ("torch", "numba", "cupy")

#: Top-level keys and the types their values must have.
KEYS: dict[str, tuple[type, ...]] = {
    "epoch": (int,), "config": (dict,), "classes": (list,), "input_size": (list, tuple), "T": (int, type(None)),
    "model_state": (dict,), "optimizer_state": (dict,), "scheduler_state": (dict,),
    "scaler_state": (dict, type(None)), "rng": (dict,), "history": (list,), "best_acc": (float, int),
    "best_epoch": (int,),
}
#: Optional ``validation`` entry (the run's validation split, :class:`~snnmodels.training.split.ValidationSplit`):
#: its keys and types. Checkpoints written before it existed lack it.
VALIDATION_KEYS: dict[str, tuple[type, ...]] = {
    "source": (str,), "split": (str,), "fraction": (float, int), "seed": (int,), "train_indices": (list,),
    "val_indices": (list,), "groups": (list,), "grouped_by": (str,),
}
#: Keys of ``config`` that loading relies on, and their types.
CONFIG_KEYS: dict[str, tuple[type, ...]] = {
    "model": (str,), "backend": (str,), "loss": (str,), "store": (str,), "model_kwargs": (dict,),
}


def _fail(path: Path, what: str) -> CheckpointError:
    return CheckpointError(f"{path}: {what}; {EXPECTED}")


def rng_state() -> dict[str, Any]:
    """The global RNG states as tensors and plain data (no numpy objects, so ``weights_only`` can load it)."""
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"bit_generator": np_state["bit_generator"],
                  "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
                  "pos": int(np_state["state"]["pos"]), "has_gauss": int(np_state["has_gauss"]),
                  "gauss": float(np_state["gauss"])},
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` returned (structure checked by :func:`validate_checkpoint`)."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state({"bit_generator": n["bit_generator"], "has_gauss": n["has_gauss"], "gauss": n["gauss"],
                         "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]}})
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _describe_unreadable(path: Path, err: BaseException) -> str:
    """Say what a file that ``torch.load(weights_only=True)`` refused is."""
    text = str(err)
    refused = re.search(r"GLOBAL ([\w.]+)", text)  # the restricted unpickler met a function or class
    if refused:
        return (f"holds objects other than tensors and plain data ({refused.group(1)}); refused without "
                f"running them (only load checkpoints from people you trust, never with weights_only=False)")
    short = next((ln.strip() for ln in text.splitlines()[1:] if "Unsupported" in ln or "error" in ln.lower()), "")
    short = short or (text.strip().splitlines() or [type(err).__name__])[0][:200]
    with open(path, "rb") as f:
        head = f.read(4)
    if head == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            return "is truncated or damaged (its zip directory cannot be read)"
        if not any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
            return f"is a zip archive but not a PyTorch file (no data.pkl among {len(names)} members)"
        return f"is a damaged PyTorch file ({short})"
    if head[:1] == b"\x80":
        return f"is a pickle that is damaged or not tensors and plain data ({short})"
    return "is not a PyTorch checkpoint (neither a torch zip file nor a pickle)"


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load and check a checkpoint written by :func:`~snnmodels.training.fit` (on the CPU).

    Raises
    ------
    FileNotFoundError
        Nothing at ``path``.
    CheckpointError
        A folder, an empty, damaged or foreign file, a file holding anything but tensors and plain
        data (refused without running it), or a dict without the keys and types a checkpoint has.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no checkpoint there (`snnmodels train` writes last.pt and best.pt in its --out folder)")
    if p.is_dir():
        raise _fail(p, "is a folder, not a checkpoint file")
    if p.stat().st_size == 0:
        raise _fail(p, "is empty (0 bytes)")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except PermissionError:
        raise  # the user's to fix, not a damaged file (the CLI prints it as one line)
    except Exception as err:  # a hostile or cut file makes torch raise anything (even OSError EINVAL)
        raise _fail(p, _describe_unreadable(p, err)) from err
    validate_checkpoint(ckpt, p)
    return ckpt


def _type_names(types: tuple[type, ...]) -> str:
    return " or ".join("None" if t is type(None) else t.__name__ for t in types)


def validate_checkpoint(ckpt: Any, path: str | os.PathLike[str]) -> None:
    """Check the keys and types of a loaded checkpoint; raise :class:`CheckpointError` naming the first problem."""
    p = Path(path)
    if not isinstance(ckpt, dict):
        raise _fail(p, f"holds a {type(ckpt).__name__}, not a checkpoint dict")
    missing = [k for k in KEYS if k not in ckpt]
    if "model_state" in missing or "config" in missing:
        raise _fail(p, f"is not an snnmodels checkpoint (no {' or '.join(k for k in ('model_state', 'config') if k in missing)})")
    if missing:
        raise _fail(p, f"lacks {', '.join(missing)}")
    for key, types in KEYS.items():
        if not isinstance(ckpt[key], types) or (isinstance(ckpt[key], bool) and bool not in types):
            raise _fail(p, f"{key} is a {type(ckpt[key]).__name__}, not {_type_names(types)}")
    cfg = ckpt["config"]
    for key, types in CONFIG_KEYS.items():
        if not isinstance(cfg.get(key), types):
            raise _fail(p, f"config.{key} is {cfg.get(key)!r}, not a {_type_names(types)}")
    if cfg["model"] not in MODELS:
        raise _fail(p, f"names the unknown model {cfg['model']!r} (known: {', '.join(MODELS)})")
    if cfg["backend"] not in BACKENDS:
        raise _fail(p, f"names the unknown neuron backend {cfg['backend']!r} (known: {', '.join(BACKENDS)})")
    if cfg["loss"] not in LOSSES:
        raise _fail(p, f"names the unknown loss {cfg['loss']!r} (known: {', '.join(LOSSES)})")
    if not all(isinstance(k, str) for k in cfg["model_kwargs"]):
        raise _fail(p, "config.model_kwargs has non-string keys")
    if not ckpt["classes"] or not all(isinstance(c, str) for c in ckpt["classes"]):
        raise _fail(p, "classes is not a non-empty list of class names")
    size = ckpt["input_size"]
    if len(size) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v < 1 << 16 for v in size):
        raise _fail(p, f"input_size {list(size)!r} is not three positive frame sizes (C, H, W)")
    if ckpt["T"] is not None and ckpt["T"] < 1:
        raise _fail(p, f"T is {ckpt['T']}, not >= 1")
    if ckpt["epoch"] < 0 or ckpt["best_epoch"] < -1:
        raise _fail(p, "epoch or best_epoch is negative")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in ckpt["model_state"].items()):
        raise _fail(p, "model_state is not a mapping of parameter names to tensors")
    if not all(isinstance(row, dict) for row in ckpt["history"]):
        raise _fail(p, "history is not a list of per-epoch rows")
    _validate_rng(ckpt["rng"], p)
    if "validation" in ckpt:
        _validate_split(ckpt["validation"], p)


def _validate_split(v: Any, p: Path) -> None:
    """The stored validation split: plain data with the keys, types and index lists of one."""
    if not isinstance(v, dict) or set(v) != set(VALIDATION_KEYS):
        raise _fail(p, f"validation is not a validation-split record (keys {', '.join(VALIDATION_KEYS)})")
    for key, types in VALIDATION_KEYS.items():
        if not isinstance(v[key], types) or isinstance(v[key], bool):
            raise _fail(p, f"validation.{key} is a {type(v[key]).__name__}, not {_type_names(types)}")
    if v["source"] not in ("carved", "store", "none"):
        raise _fail(p, f"validation.source is {v['source']!r}, not carved, store or none")
    for key in ("train_indices", "val_indices"):
        if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in v[key]):
            raise _fail(p, f"validation.{key} is not a list of sample indices (ints >= 0)")
    if not all(isinstance(g, str) for g in v["groups"]):
        raise _fail(p, "validation.groups is not a list of group names")


def _validate_rng(rng: dict[str, Any], p: Path) -> None:
    n, py = rng.get("numpy"), rng.get("python")
    ok = (isinstance(rng.get("torch"), torch.Tensor) and rng["torch"].dtype == torch.uint8
          and isinstance(n, dict) and n.get("bit_generator") == "MT19937"
          and isinstance(n.get("key"), torch.Tensor) and n["key"].shape == (624,)
          and isinstance(n.get("pos"), int) and isinstance(n.get("has_gauss"), int)
          and isinstance(n.get("gauss"), float)
          and isinstance(py, (tuple, list)) and len(py) == 3 and isinstance(py[0], int)
          and isinstance(py[1], (tuple, list)) and all(isinstance(v, int) for v in py[1]))
    if not ok:
        raise _fail(p, "rng does not hold the torch, numpy and python generator states")


def check_state_dict(loaded: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], path: Path,
                     model: str) -> None:
    """Raise :class:`CheckpointError` unless ``loaded`` has exactly the names and shapes of ``expected``."""
    missing = [k for k in expected if k not in loaded]
    extra = [k for k in loaded if k not in expected]
    shapes = [f"{k} {tuple(loaded[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
              if k in loaded and loaded[k].shape != v.shape]
    if missing or extra or shapes:
        parts = ([f"missing {', '.join(missing[:3])}"] if missing else []) + \
                ([f"unexpected {', '.join(extra[:3])}"] if extra else []) + shapes[:3]
        raise _fail(path, f"holds weights of another network than the {model!r} it names ({'; '.join(parts)})")


def model_from_checkpoint(ckpt: dict[str, Any], backend: str | None = None,
                          path: str | os.PathLike[str] = "checkpoint") -> torch.nn.Module:
    """Rebuild the network of a checked checkpoint and load its weights (optionally on another backend).

    Raises
    ------
    CheckpointError
        The stored options do not build the named network, or the weights do not fit it.
    """
    p = Path(path)
    cfg = ckpt["config"]
    try:
        model = build_model(cfg["model"], input_size=tuple(ckpt["input_size"]), num_classes=len(ckpt["classes"]),
                            backend=backend or cfg["backend"], **cfg["model_kwargs"])
    except BackendUnavailableError:
        raise  # the backend cannot run on this machine: not the file's fault
    except (TypeError, ValueError) as err:  # model_kwargs are the file's data: unknown or mistyped arguments
        raise _fail(p, f"stores options that do not build {cfg['model']!r}: {err}") from err
    check_state_dict(ckpt["model_state"], model.state_dict(), p, cfg["model"])
    model.load_state_dict(ckpt["model_state"])
    return model
