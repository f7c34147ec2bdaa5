"""The format registry: one line per format, a version per decoder, one name per concept."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil

import pytest

import eventkit.io as io
from eventkit.errors import UnknownFormatError
from eventkit.io import FORMATS, EventFormat, decoder_version

# modules of eventkit/io that are not decoders
_NOT_DECODERS = {"aedat2_writer", "aedat31_writer"}


def _decoder_modules() -> list[str]:
    return sorted(
        m.name for m in pkgutil.iter_modules(io.__path__) if not m.name.startswith("_") and m.name not in _NOT_DECODERS
    )


def test_every_decoder_module_is_registered_and_every_entry_is_a_module():
    registered = {entry.partition(":")[0] for entry in io._REGISTRY}
    assert registered == set(_decoder_modules())
    assert len(FORMATS) == len(io._REGISTRY)


@pytest.mark.parametrize("entry", io._REGISTRY)
def test_each_decoder_carries_its_version(entry):
    module_name, _, attr = entry.partition(":")
    module = importlib.import_module(f"eventkit.io.{module_name}")
    fmt = getattr(module, attr or "FORMAT")
    assert isinstance(module.DECODER_VERSION, int) and module.DECODER_VERSION >= 1
    assert fmt.version == module.DECODER_VERSION
    assert decoder_version(fmt.name) == str(module.DECODER_VERSION)


def test_decoder_version_of_an_unknown_format():
    with pytest.raises(UnknownFormatError, match="unknown format 'nope'.*evt2"):
        decoder_version("nope")


def test_a_version_bump_changes_only_that_decoder(monkeypatch):
    before = {name: decoder_version(name) for name in FORMATS}
    monkeypatch.setitem(FORMATS, "evt3", dataclasses.replace(FORMATS["evt3"], version=FORMATS["evt3"].version + 1))
    after = {name: decoder_version(name) for name in FORMATS}
    assert {n for n in FORMATS if before[n] != after[n]} == {"evt3"}


@pytest.mark.parametrize("bad", [0, -1, True, "1", 1.0])
def test_a_format_needs_a_positive_int_version(bad):
    with pytest.raises(TypeError, match="version"):
        EventFormat(name="toy", title="Toy", read=lambda p: None, version=bad, suffixes=())


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_sniffers_and_sensor_probes_follow_one_naming(name):
    """A format's sniffer and header probe are its module's private _sniff / _sensor (the .raw
    family shares evt2's), reached through FORMATS: no public per-module aliases."""
    fmt = FORMATS[name]
    if fmt.sniff is not None:
        assert fmt.sniff.__name__.startswith("_sniff")
    if fmt.sensor is not None:
        assert fmt.sensor.__name__ == "_sensor"


@pytest.mark.parametrize("module_name", _decoder_modules())
def test_one_name_for_the_chunk_size(module_name):
    module = importlib.import_module(f"eventkit.io.{module_name}")
    names = {n for n in vars(module) if "CHUNK" in n or "SLICE" in n or "BLOCK" in n}
    assert names <= {"CHUNK_BYTES", "CHUNK_EVENTS", "CHUNK_SAMPLES"}, names
