"""The whole data path in one test, as issue 4 asks: a small synthetic-gestures archive served on
127.0.0.1 -> download -> verify -> extract -> convert with the serial and the Dask executor ->
identical stores, equal to a conversion of the generated folder itself."""

from __future__ import annotations

from eventkit.datasets.manifest import load_manifest
from eventkit.datasets.mirror import mirror_manifest_text, pack_tree
from eventkit.datasets.prepare import download_dataset, verify_dataset
from eventkit.datasets.registry import get_manifest
from eventkit.pipeline import convert
from tests.eventkit.pipeline.conftest import FRAMES, assert_same_store
from tests.helpers.http_server import LocalServer, Route


def test_served_archive_downloads_verifies_and_converts_identically(gestures_data, reference_store, tmp_path):
    archive = pack_tree(gestures_data, tmp_path / "srv" / "synthetic-gestures.tar.gz")
    root = tmp_path / "root"
    with LocalServer() as server:
        url = server.add("/synthetic-gestures.tar.gz", Route(archive.read_bytes(), cut_after=200_000, cuts_left=1))
        mpath = tmp_path / "mirror.toml"
        mpath.write_text(mirror_manifest_text(get_manifest("synthetic-gestures"), archive, [url]))
        m = load_manifest(mpath)
        download_dataset(m, root, progress=False)  # the first transfer is cut: resumed with Range
    assert all(s.ok for s in verify_dataset(m, root))

    serial = convert(m, frames=FRAMES, root=root, out=tmp_path / "serial.zarr", executor="serial", progress=False)
    dask = convert(m, frames=FRAMES, root=root, out=tmp_path / "dask.zarr", executor="dask", workers=2,
                   progress=False)
    assert serial.complete and dask.complete and not serial.failures and not dask.failures
    assert serial.samples == {"train": 22, "test": 11}
    assert_same_store(tmp_path / "serial.zarr", tmp_path / "dask.zarr")
    # same frames, labels and ids as converting the generated folder directly (only the cache key,
    # which fingerprints the served archive, differs)
    from eventkit import open_store

    a, b = open_store(tmp_path / "serial.zarr"), open_store(reference_store)
    for split in ("train", "test"):
        assert (a[split].labels[:] == b[split].labels[:]).all()
        assert list(a[split].sample_ids[:]) == list(b[split].sample_ids[:])
        assert (a[split].read_frames(slice(0, len(a[split]))) == b[split].read_frames(slice(0, len(b[split])))).all()
