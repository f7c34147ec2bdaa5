"""The cache key: a sha256 of everything that changes a store's content.

Tonic's ``DiskCachedDataset`` keys its cache by sample index only and SpikingJelly by a folder
name, so both silently serve stale data after a parameter change. Here the key covers the
dataset, its manifest version, the decoder versions, the frame parameters, the dtype, the sensor
and the store format version; a writer or reader that asks for another key gets an error.

Each decoder carries its own version (``eventkit.io.decoder_version``), so a decoder fix
invalidates exactly the stores built with that decoder, and the package version (which differs
between a source tree and an installed wheel of the same code) is no part of the key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["cache_key", "canonical_json", "key_inputs", "legacy_upgrade"]

# Stores written before decoders carried their own versions recorded eventkit's package version
# ("0.1.0", "0.0.0+unknown") for every decoder. Version 1 of each decoder is the code of that
# time, so such an entry reads as version 1.
LEGACY_DECODER_VERSION = "1"


def canonical_json(value: Any) -> str:
    """Serialise ``value`` to one canonical JSON string (sorted keys, no spaces, ASCII only).

    Tuples become lists and NumPy scalars become Python numbers, so equal parameters written
    in different ways give the same string.
    """
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", None) == 0:
        return value.item()  # NumPy scalar
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot put {type(value).__name__} {value!r} in a cache key; use JSON types")


def key_inputs(
    *,
    kind: str,
    dataset: str,
    manifest_version: str | int | None,
    decoder_versions: Mapping[str, str] | None,
    params: Mapping[str, Any],
    dtype: str,
    sensor: tuple[int, int, int],
    format_version: int,
    targets: str | None = None,
) -> dict[str, Any]:
    """Collect the inputs of :func:`cache_key` into the plain dict that is hashed (and stored).

    ``targets="mask"`` marks a segmentation store (per-sample masks); None leaves the key of a
    classification store as it always was.
    """
    extra = {} if targets is None else {"targets": str(targets)}
    return _plain(
        {
            **extra,
            "kind": kind,
            "dataset": dataset,
            "manifest_version": manifest_version,
            "decoder_versions": dict(decoder_versions or {}),
            "params": dict(params),
            "dtype": str(dtype),
            "sensor": list(sensor),
            "format_version": int(format_version),
        }
    )


def cache_key(inputs: Mapping[str, Any]) -> str:
    """Return the hex sha256 of the canonical JSON of ``inputs`` (see :func:`key_inputs`)."""
    return hashlib.sha256(canonical_json(inputs).encode("ascii")).hexdigest()


def _is_legacy_version(version: Any) -> bool:
    # decoder versions are whole numbers; a package version has dots or a local part
    return isinstance(version, str) and not version.isdigit()


def legacy_upgrade(attrs: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    """The root attrs that bring a store of the old key format up to ``key``, or None.

    A store written before decoders carried their own versions keyed every decoder on
    eventkit's package version. When its recorded ``key_inputs`` still hash to its
    ``cache_key`` (the record is intact) and, with those entries read as
    :data:`LEGACY_DECODER_VERSION`, hash to ``key``, the store holds what the current code
    would write: the returned ``{"key_inputs", "cache_key", "decoder_versions"}`` re-key it in
    place, so it resumes (and a later decoder bump invalidates it as usual) instead of being
    refused or rebuilt. Anything else (no legacy entry, a damaged record, another difference)
    gives None.
    """
    inputs = attrs.get("key_inputs")
    if not isinstance(inputs, Mapping) or not isinstance(inputs.get("decoder_versions"), Mapping):
        return None
    old = inputs["decoder_versions"]
    if not any(_is_legacy_version(v) for v in old.values()):
        return None
    try:
        if cache_key(inputs) != attrs.get("cache_key"):
            return None  # the record does not match its own key: never re-key it
    except (TypeError, ValueError):
        return None
    versions = {k: LEGACY_DECODER_VERSION if _is_legacy_version(v) else v for k, v in old.items()}
    upgraded = {**inputs, "decoder_versions": versions}
    if cache_key(upgraded) != key:
        return None
    return {"key_inputs": upgraded, "cache_key": key, "decoder_versions": versions}
