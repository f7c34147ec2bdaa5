"""synthetic-gestures end to end through the real download path: serve, download, verify, extract, list."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from eventkit.datasets.layouts import iter_samples, load_sample_events
from eventkit.datasets.manifest import load_manifest
from eventkit.datasets.mirror import mirror_manifest_text, pack_tree
from eventkit.datasets.prepare import download_dataset, verify_dataset
from eventkit.datasets.registry import get_manifest
from eventkit.datasets.synthetic_gestures import CLASSES, SyntheticGesturesConfig, generate_synthetic_gestures
from eventkit.errors import ChecksumMismatchError, DownloadError
from eventkit.io import read_events
from tests.helpers.http_server import LocalServer, Route

TINY = SyntheticGesturesConfig(train_users=2, test_users=1, lightings_per_user=1, gesture_us=200_000,
                               gap_us=50_000, rate=20_000.0, seed=3)


@pytest.fixture(scope="module")
def tiny_tree(tmp_path_factory):
    return generate_synthetic_gestures(tmp_path_factory.mktemp("gen"), TINY)


def _digest(folder) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.name.startswith("."):  # skip eventkit's bookkeeping records
            h.update(p.relative_to(folder).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def test_generator_is_deterministic(tiny_tree, tmp_path) -> None:
    again = generate_synthetic_gestures(tmp_path / "again", TINY)
    assert _digest(again) == _digest(tiny_tree)
    other = generate_synthetic_gestures(tmp_path / "other", SyntheticGesturesConfig(**{**TINY.__dict__, "seed": 4}))
    assert _digest(other) != _digest(tiny_tree)


def test_samples_follow_the_labels_csv(tiny_tree) -> None:
    m = get_manifest("synthetic-gestures")
    samples = iter_samples(m, tiny_tree)
    assert [s.split for s in samples].count("train") == 2 * len(CLASSES)
    assert [s.split for s in samples].count("test") == len(CLASSES)
    # every recording holds each class once: labels 0..10 per recording
    first = [s for s in samples if s.source.name == "user01_fluorescent.aedat"]
    assert sorted(s.label for s in first) == list(range(len(CLASSES)))
    rec = read_events(first[0].source)
    for s in first:
        ev = load_sample_events(m, s, rec)
        assert ev.size > 100
        assert ev["t"].min() >= s.start_us and ev["t"].max() < s.end_us
        assert ev.size == np.count_nonzero((rec["t"] >= s.start_us) & (rec["t"] < s.end_us))


def test_download_from_a_local_mirror_then_verify(tiny_tree, tmp_path) -> None:
    archive = pack_tree(tiny_tree, tmp_path / "srv" / "synthetic-gestures.tar.gz")
    with LocalServer() as server:
        url = server.add("/synthetic-gestures.tar.gz", Route(archive.read_bytes()))
        dead = server.url("/moved-away.tar.gz")
        mpath = tmp_path / "mirror.toml"
        mpath.write_text(mirror_manifest_text(get_manifest("synthetic-gestures"), archive, [dead, url]))
        m = load_manifest(mpath)
        extract_dir = download_dataset(m, tmp_path / "root", progress=False)
    assert _digest(extract_dir) == _digest(tiny_tree)
    assert all(s.ok for s in verify_dataset(m, tmp_path / "root"))
    assert len(iter_samples(m, extract_dir)) == 3 * len(CLASSES)


def test_wrong_archive_is_kept_and_reported(tiny_tree, tmp_path) -> None:
    archive = pack_tree(tiny_tree, tmp_path / "srv" / "synthetic-gestures.tar.gz")
    with LocalServer() as server:
        url = server.add("/synthetic-gestures.tar.gz", Route(archive.read_bytes()[:-10] + b"0123456789"))
        mpath = tmp_path / "mirror.toml"
        mpath.write_text(mirror_manifest_text(get_manifest("synthetic-gestures"), archive, [url]))
        with pytest.raises(ChecksumMismatchError, match="sha256|md5"):
            download_dataset(load_manifest(mpath), tmp_path / "root", progress=False)
    kept = list((tmp_path / "root" / "synthetic-gestures" / "download").glob("*.mismatch"))
    assert len(kept) == 1


MANUAL = """
name = "hand-fetched"
version = 1
title = "A hand-fetched dataset"
homepage = "https://example.org/data"
license = "research only"
citation = "nobody"
decoder = "aedat31"
sensor = { width = 128, height = 128 }
classes = ["a", "b"]
splits = ["train", "test"]
manual = true
instructions = "Ask the lab for it."

[samples]
rule = "dvs128_gesture"
root = "DvsGesture"
train_list = "trials_to_train.txt"
test_list = "trials_to_test.txt"

[[files]]
name = "DvsGesture.tar.gz"
md5 = "8a5c71fb11e24e5ca5b11866ca6c00a1"
archive = "tar"
"""


def test_manual_dataset_says_what_to_fetch_and_where(tmp_path) -> None:
    mpath = tmp_path / "manual.toml"
    mpath.write_text(MANUAL)
    with pytest.raises(DownloadError) as exc:
        download_dataset(load_manifest(mpath), tmp_path / "root", progress=False)
    msg = str(exc.value)
    assert "Ask the lab" in msg and "DvsGesture.tar.gz" in msg and "https://example.org/data" in msg
    assert str(tmp_path / "root" / "hand-fetched" / "download") in msg
    assert "8a5c71fb11e24e5ca5b11866ca6c00a1" in msg


def test_nested_archives_and_plain_files_land_in_extract(tmp_path) -> None:
    import zipfile

    inner_dir = tmp_path / "inner"
    inner_dir.mkdir()
    for k in ("action_001", "action_002"):
        with zipfile.ZipFile(inner_dir / f"{k}.zip", "w") as z:
            z.writestr("s0.npz", b"not really npz: extraction only")
    outer = tmp_path / "srv" / "MINI.zip"
    outer.parent.mkdir()
    with zipfile.ZipFile(outer, "w") as z:
        for k in ("action_001", "action_002"):
            z.write(inner_dir / f"{k}.zip", f"MINI/{k}.zip")
    labels = tmp_path / "srv" / "train_label.txt"
    labels.write_text("action_001/s0 \naction_002/s0 \n")
    md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in (outer, labels)}
    text = f"""
name = "nested-demo"
version = 1
title = "t"
homepage = "h"
license = "l"
citation = "c"
decoder = "npz"
sensor = {{ width = 4, height = 4 }}
classes = ["action_001", "action_002"]
splits = ["train"]

[samples]
rule = "label_lists"
root = "MINI"
lists = {{ train = "train_label.txt" }}
suffix = ".npz"
label_from = "parent_dir"

[[files]]
name = "MINI.zip"
urls = ["URL/MINI.zip"]
md5 = "{md5['MINI.zip']}"
archive = "zip"
nested = {{ glob = "MINI/action_*.zip", into = "stem" }}

[[files]]
name = "train_label.txt"
urls = ["URL/train_label.txt"]
md5 = "{md5['train_label.txt']}"
"""
    with LocalServer() as server:
        server.add("/MINI.zip", Route(outer.read_bytes()))
        server.add("/train_label.txt", Route(labels.read_bytes()))
        mpath = tmp_path / "nested.toml"
        mpath.write_text(text.replace("URL", server.url("")))
        m = load_manifest(mpath)
        xdir = download_dataset(m, tmp_path / "root", progress=False)
    assert (xdir / "MINI" / "action_001" / "s0.npz").is_file()
    assert (xdir / "MINI" / "action_002" / "s0.npz").is_file()
    assert (xdir / "train_label.txt").read_text() == labels.read_text()
    samples = iter_samples(m, xdir)
    assert [(s.label, s.source.relative_to(xdir).as_posix()) for s in samples] == [
        (0, "MINI/action_001/s0.npz"), (1, "MINI/action_002/s0.npz")]


def test_window_cut_by_binary_search_equals_the_mask(tiny_tree) -> None:
    from eventkit.datasets.layouts import recording_times

    m = get_manifest("synthetic-gestures")
    samples = [s for s in iter_samples(m, tiny_tree) if s.source.name == "user01_fluorescent.aedat"]
    rec = read_events(samples[0].source)
    sorted_t = recording_times(rec)
    assert sorted_t is not None
    for s in samples:
        assert np.array_equal(load_sample_events(m, s, rec, sorted_t), load_sample_events(m, s, rec))
    shuffled = rec[::-1].copy()
    assert recording_times(shuffled) is None
