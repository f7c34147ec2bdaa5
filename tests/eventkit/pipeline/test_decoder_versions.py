"""Per-decoder versions in the cache key: a bump invalidates exactly that decoder's stores.

Also: the package version is no part of the key (a source tree and an installed wheel of the
same code share stores), and a store written with the old key format (eventkit's package
version for every decoder) is re-keyed in place instead of refused.
"""

from __future__ import annotations

import dataclasses
import shutil

import pytest
import zarr

from .conftest import FRAMES, store_content


@pytest.fixture
def bump(monkeypatch):
    """``bump(name)``: make decoder ``name`` report version 2 (as a fix that bumps DECODER_VERSION would)."""
    from eventkit.io import FORMATS

    def _bump(name: str) -> None:
        monkeypatch.setitem(FORMATS, name, dataclasses.replace(FORMATS[name], version=FORMATS[name].version + 1))

    return _bump


def _event_store_of(m, path):
    from eventkit.pipeline.convert import _decoder_versions, _manifest_id
    from eventkit.store import create_event_store

    w = create_event_store(path, splits={"train": 2}, sensor=m.sensor, classes=list(m.classes), dataset=m.name,
                           manifest_version=_manifest_id(m), decoder_versions=_decoder_versions(m))  # fmt: skip
    w.close()


def test_a_decoder_bump_invalidates_exactly_the_stores_of_that_decoder(tmp_path, bump) -> None:
    from eventkit.datasets.registry import get_manifest
    from eventkit.io import decoder_version
    from eventkit.store import StoreMismatchError

    names = {"synthetic-gestures": "aedat31", "nmnist": "atis_bin", "cifar10-dvs": "aedat2"}
    manifests = {n: get_manifest(n) for n in names}
    assert {n: m.decoder for n, m in manifests.items()} == names
    for n, m in manifests.items():
        _event_store_of(m, tmp_path / n)
        attrs = zarr.open_group(tmp_path / n, mode="r").attrs
        assert attrs["decoder_versions"] == {names[n]: decoder_version(names[n])}
    bump("atis_bin")
    old = decoder_version("aedat31")
    for n, m in manifests.items():
        if names[n] == "atis_bin":
            with pytest.raises(StoreMismatchError, match=r"decoder_versions\.atis_bin: '1' -> '2'"):
                _event_store_of(m, tmp_path / n)
        else:
            _event_store_of(m, tmp_path / n)  # resumes: same key
    assert decoder_version("aedat31") == old


def test_the_package_version_does_not_invalidate_a_store(reference_store, gestures_data, manifest, tmp_path,
                                                         monkeypatch) -> None:  # fmt: skip
    """A store from a source tree (0.0.0+unknown) resumes under an installed wheel (0.1.0) and back."""
    import eventkit
    from eventkit.pipeline import convert

    out = tmp_path / "s.zarr"
    shutil.copytree(reference_store, out)
    for version in ("0.1.0", "0.0.0+unknown", "7.3.1"):
        monkeypatch.setattr(eventkit, "__version__", version)
        r = convert(manifest, frames=FRAMES, from_dir=gestures_data, out=out, executor="serial", progress=False)
        assert r.complete and r.converted == 0 and r.skipped == 33


def test_a_bump_of_the_datasets_decoder_refuses_its_store_untouched(reference_store, gestures_data, manifest,
                                                                   bump) -> None:  # fmt: skip
    from eventkit.pipeline import convert
    from eventkit.store import StoreMismatchError

    before = store_content(reference_store)
    bump("aedat31")
    with pytest.raises(StoreMismatchError, match=r"decoder_versions\.aedat31: '1' -> '2'.*overwrite"):
        convert(manifest, frames=FRAMES, from_dir=gestures_data, out=reference_store, executor="serial",
                progress=False)  # fmt: skip
    assert store_content(reference_store) == before


def _make_legacy(path, package_version: str) -> dict:
    """Rewrite a store's key the way eventkit wrote it before per-decoder versions; return the new attrs."""
    from eventkit.store.cache_key import cache_key

    g = zarr.open_group(path, mode="r+")
    new = dict(g.attrs)
    legacy_versions = {k: package_version for k in new["decoder_versions"]}
    inputs = {**new["key_inputs"], "decoder_versions": legacy_versions}
    g.attrs.update({"key_inputs": inputs, "cache_key": cache_key(inputs), "decoder_versions": legacy_versions})
    return new


@pytest.mark.parametrize("package_version", ["0.1.0", "0.0.0+unknown"])
def test_a_store_of_the_old_key_format_is_rekeyed_not_rebuilt(reference_store, gestures_data, manifest, tmp_path,
                                                              bump, package_version) -> None:  # fmt: skip
    from eventkit.pipeline import convert
    from eventkit.store import StoreMismatchError

    out = tmp_path / "legacy.zarr"
    shutil.copytree(reference_store, out)
    current = _make_legacy(out, package_version)
    assert zarr.open_group(out, mode="r").attrs["cache_key"] != current["cache_key"]

    r = convert(manifest, frames=FRAMES, from_dir=gestures_data, out=out, executor="serial", progress=False)
    assert r.complete and r.converted == 0 and r.skipped == 33  # nothing rebuilt
    assert store_content(out) == store_content(reference_store)  # re-keyed to exactly the current key
    # ... and from now on a decoder fix invalidates it like any other store
    bump("aedat31")
    with pytest.raises(StoreMismatchError, match=r"decoder_versions\.aedat31: '1' -> '2'"):
        convert(manifest, frames=FRAMES, from_dir=gestures_data, out=out, executor="serial", progress=False)


def test_an_old_format_store_of_other_parameters_or_a_damaged_record_is_still_refused(
    reference_store, gestures_data, manifest, tmp_path
) -> None:
    from eventkit.pipeline import convert
    from eventkit.store import StoreMismatchError

    out = tmp_path / "legacy.zarr"
    shutil.copytree(reference_store, out)
    _make_legacy(out, "0.1.0")
    with pytest.raises(StoreMismatchError, match=r"params\.frames"):
        convert(manifest, frames=FRAMES + 1, from_dir=gestures_data, out=out, executor="serial", progress=False)
    g = zarr.open_group(out, mode="r+")
    g.attrs.update({"cache_key": "0" * 64})  # the record no longer matches its own key
    with pytest.raises(StoreMismatchError, match="other parameters"):
        convert(manifest, frames=FRAMES, from_dir=gestures_data, out=out, executor="serial", progress=False)


def test_legacy_upgrade_reads_only_package_versions_as_version_1() -> None:
    from eventkit.store.cache_key import cache_key, legacy_upgrade

    def attrs(versions: dict) -> dict:
        inputs = {"kind": "frames", "decoder_versions": versions, "params": {"frames": 4}}
        return {"key_inputs": inputs, "cache_key": cache_key(inputs)}

    current = attrs({"evt3": "1"})
    assert legacy_upgrade(current, current["cache_key"]) is None  # nothing to upgrade
    up = legacy_upgrade(attrs({"evt3": "0.1.0.dev4+g1234"}), current["cache_key"])
    assert up == {"key_inputs": current["key_inputs"], "cache_key": current["cache_key"],
                  "decoder_versions": {"evt3": "1"}}  # fmt: skip
    assert legacy_upgrade(attrs({"evt3": "0.1.0"}), attrs({"evt3": "2"})["cache_key"]) is None  # never to version 2
    assert legacy_upgrade({"cache_key": "x"}, current["cache_key"]) is None  # no record
