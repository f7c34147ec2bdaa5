"""Hostile manifests: a manifest is data a user may have been sent; it must never choose code to run,
escape the dataset folder or be read loosely."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from eventkit.datasets.manifest import load_manifest
from eventkit.datasets.prepare import download_dataset
from eventkit.errors import ManifestError

GENERATED = """
name = "evil"
version = 1
title = "t"
homepage = "h"
license = "l"
citation = "c"
decoder = "aedat31"
classes = ["a", "b"]
splits = ["train", "test"]
generator = "{generator}"
[sensor]
width = 128
height = 128
[samples]
rule = "dvs128_gesture"
"""


def _manifest(tmp_path: Path, generator: str) -> Path:
    p = tmp_path / "evil.toml"
    p.write_text(GENERATED.format(generator=generator))
    return p


@pytest.mark.parametrize("generator", [
    "site:addsitedir",
    "os:system",
    "eventkit.datasets.synthetic_gestures:generate_synthetic_gestures",  # even our own code, by path
    "builtins:exec",
])
def test_generator_naming_python_code_is_refused_when_read(tmp_path, generator):
    p = _manifest(tmp_path, generator)
    modules_before = set(sys.modules)
    with pytest.raises(ManifestError) as err:
        load_manifest(p)
    msg = str(err.value)
    assert str(p) in msg and "'generator'" in msg and "synthetic-gestures" in msg
    # Nothing was imported on the manifest's say-so.
    assert "site" not in set(sys.modules) - modules_before


def test_registered_generator_is_accepted(tmp_path):
    p = _manifest(tmp_path, "synthetic-gestures")
    try:
        m = load_manifest(p)
    except ManifestError as err:  # the rule's own checks may object to the toy manifest; not the generator
        assert "'generator'" not in str(err)
    else:
        assert m.generator == "synthetic-gestures"


def test_manifest_built_in_code_with_unknown_generator_is_refused_before_running(tmp_path):
    from dataclasses import replace

    from eventkit.datasets.registry import get_manifest

    m = replace(get_manifest("synthetic-gestures"), generator="os:system")
    with pytest.raises(ManifestError, match="unknown generator"):
        download_dataset(m, root=tmp_path)
    assert not (tmp_path / "synthetic-gestures" / "extract" / ".eventkit-generated").exists()
