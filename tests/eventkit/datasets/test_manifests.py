"""Every bundled dataset manifest loads and validates; the validator rejects broken ones; the
sample rules added for NAV Gesture (filename_token) and ES-ImageNet (per_split) list the right
samples on tiny fake extracted trees."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from eventkit.datasets.layouts import RULES, iter_samples
from eventkit.datasets.manifest import load_manifest
from eventkit.datasets.registry import get_manifest, list_datasets, manifest_dir
from eventkit.errors import DatasetNotFoundError, ManifestError

MANIFESTS = list_datasets()
IDS = [m.name for m in MANIFESTS]

# Published class counts.
CLASS_COUNTS = {
    "dvs128-gesture": 11,
    "cifar10-dvs": 10,
    "nmnist": 10,
    "ncaltech101": 101,
    "asl-dvs": 24,
    "shd": 20,
    "ssc": 35,
    "nav-gesture-walk": 6,
    "nav-gesture-sit": 6,
    "hardvs": 300,
    "es-imagenet": 1000,
    "dvs-lip": 100,
    "n-cars": 2,
    "synthetic-gestures": 11,
}


def test_every_expected_dataset_is_bundled():
    assert set(CLASS_COUNTS) <= set(IDS)


def test_names_unique_and_match_files():
    assert len(IDS) == len(set(IDS))
    files = sorted(manifest_dir().glob("*.toml"))
    assert len(files) == len(MANIFESTS)
    for m in MANIFESTS:
        assert m.path.stem == m.name, f"{m.path.name} should be named {m.name}.toml"


@pytest.mark.parametrize("m", MANIFESTS, ids=IDS)
def test_manifest_loads_and_validates(m):
    again = load_manifest(m.path)  # a fresh parse validates again
    assert again == m
    assert get_manifest(m.name) is m
    assert m.classes and len(set(m.classes)) == len(m.classes)
    for key in ("title", "homepage", "license", "citation"):
        assert getattr(m, key).strip(), key


@pytest.mark.parametrize("m", MANIFESTS, ids=IDS)
def test_class_count_as_published(m):
    if m.name in CLASS_COUNTS:
        assert len(m.classes) == CLASS_COUNTS[m.name]


@pytest.mark.parametrize("m", MANIFESTS, ids=IDS)
def test_files_have_url_and_hash_or_instructions(m):
    if m.generator and not m.files:
        return
    for f in m.files:
        r = f.remote
        if r.manual:
            assert r.instructions.strip(), f"{m.name}: {f.filename} is manual but has no instructions"
            assert f"<root>/{m.name}/download/" in r.instructions, "instructions must say where to put it"
        else:
            assert r.urls, f"{m.name}: {f.filename} has no URL"
            assert r.hashes, f"{m.name}: {f.filename} has no hash"
            assert all(u.startswith("https://") or u.startswith("http://") for u in r.urls)
    if m.manual:
        assert m.instructions.strip()


def test_class_orders_are_official_not_string_sorted():
    g = get_manifest("dvs128-gesture")
    assert g.classes[0] == "hand_clapping" and g.classes[10] == "other_gestures"
    shd = get_manifest("shd")
    assert shd.classes[:10] == ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    assert shd.classes[10] == "null"
    es = get_manifest("es-imagenet")
    assert es.classes[:3] == ("class0", "class1", "class2") and es.classes[999] == "class999"
    nmnist = get_manifest("nmnist")
    assert nmnist.classes == tuple(str(d) for d in range(10))
    hardvs = get_manifest("hardvs")
    assert hardvs.classes[0] == "action_001" and hardvs.classes[299] == "action_300"


def test_cifar10_dvs_orientation_matches_spikingjelly():
    m = get_manifest("cifar10-dvs")
    # aedat2 already inverts the jAER polarity bit; the transform adds SJ's axis swap + flips
    assert m.samples["transform"] == {"swap_xy": True, "flip_x": True, "flip_y": True}
    assert m.samples["split"] == {"by": "index_in_class", "test_first": 100}


def test_ssc_urls_are_not_shd():
    m = get_manifest("ssc")
    assert all("ssc_" in u for f in m.files for u in f.remote.urls)
    assert m.splits == ("train", "valid", "test")


# -- negative tests of the validator ---------------------------------------------------------

def _broken(tmp_path: Path, name: str, old: str, new: str) -> Path:
    text = get_manifest(name).path.read_text(encoding="utf-8")
    if isinstance(old, re.Pattern):
        assert old.search(text), old
        text = old.sub(new, text, count=1)
    else:
        assert old in text, old
        text = text.replace(old, new, 1)
    p = tmp_path / f"{name}.toml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize(
    ("name", "old", "new", "field"),
    [
        ("nmnist", re.compile(r'^decoder = .*$', re.M), "", "decoder"),
        ("shd", re.compile(r'^citation = .*$', re.M), "", "citation"),
        ("nmnist", 'md5 = "20959b8e626244a1b502305a9e6e2031"', 'md5 = "20959b8e626244a1b502305a9e6e20"', "files[0].md5"),
        ("nmnist", 'sha256 = "1a54', 'sha256 = "zz54', "files[0].sha256"),
        ("cifar10-dvs", 'decoder = "aedat2"', 'decoder = "aedat9"', "decoder"),
        ("cifar10-dvs", 'rule = "class_folders"', 'rule = "folders_please"', "samples.rule"),
        ("cifar10-dvs", '"airplane", "automobile"', '"airplane", "airplane"', "classes"),
        ("shd", '"zero", "one"', '"zero", "zero"', "classes"),
        ("nmnist", 'urls = ["https://data.mendeley.com/public-files/datasets/468j46mzdv/files/39c25547-014b-4137-a934-9d29fa53c7a0/file_downloaded"]\n', "", "files[0].urls"),
        ("dvs-lip", re.compile(r'^instructions = """.*?"""\n', re.M | re.S), "", "instructions"),
        ("nav-gesture-walk", 'class_tokens = ["do", "up", "le", "ri", "se", "ho"]',
         'class_tokens = ["do", "up", "le", "ri", "se"]', "samples.class_tokens"),
        ("nav-gesture-walk", 'splits = ["all"]', 'splits = ["train", "test"]', "splits"),
        ("es-imagenet", 'rule = "label_lists"', 'rule = "no_such_rule"', "samples.test.rule"),
        ("es-imagenet", 'lists = { test = "ES-imagenet-0.18/vallabel.txt" }',
         'lists = { val = "ES-imagenet-0.18/vallabel.txt" }', "samples.test.lists"),
        ("es-imagenet", "[samples.test]", "[samples.testing]", "samples.test"),
        ("shd", 'sensor = { width = 700, height = 1, polarities = 1 }', 'sensor = { height = 1 }', "sensor.width"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None,
)
def test_validator_names_the_broken_field(tmp_path, name, old, new, field):
    p = _broken(tmp_path, name, old, new)
    with pytest.raises(ManifestError) as err:
        load_manifest(p)
    assert f"'{field}'" in str(err.value), str(err.value)
    assert str(p) in str(err.value)


def test_validator_rejects_invalid_toml(tmp_path):
    p = _broken(tmp_path, "nmnist", 'name = "nmnist"', 'name = "nmnist')
    with pytest.raises(ManifestError, match="not valid TOML"):
        load_manifest(p)


def test_registry_file_must_be_named_after_its_dataset(tmp_path):
    from eventkit.datasets import registry

    src = get_manifest("nmnist").path.read_text(encoding="utf-8")
    (tmp_path / "nmnist.toml").write_text(src, encoding="utf-8")
    (tmp_path / "b.toml").write_text(src, encoding="utf-8")  # a second "nmnist": cannot be b.toml
    with pytest.raises(ManifestError, match="rename the file to nmnist.toml"):
        registry._load_all.__wrapped__(str(tmp_path))  # uncached: the bundled registry stays as loaded


# -- the rules added for these manifests -------------------------------------------------------

def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_filename_token_rule_on_fake_nav_tree(tmp_path):
    m = get_manifest("nav-gesture-sit")
    for rel in (
        "user10/user10_up_2_td.dat",
        "user02/user02_ho_1_td.dat",
        "user02/user02_do_10_td.dat",
        "user02/user02_do_2_td.dat",
        "user02/notes.txt",
    ):
        _touch(tmp_path / rel)
    samples = iter_samples(m, tmp_path)
    got = [(s.split, s.sample_id, s.label) for s in samples]
    codes = m.samples["class_tokens"]
    assert got == [
        ("all", "user02/user02_do_2_td.dat", codes.index("do")),
        ("all", "user02/user02_do_10_td.dat", codes.index("do")),
        ("all", "user02/user02_ho_1_td.dat", codes.index("ho")),
        ("all", "user10/user10_up_2_td.dat", codes.index("up")),
    ]
    assert m.classes[samples[0].label] == "swipe_down"
    assert m.classes[samples[2].label] == "home"
    assert samples[0].source == tmp_path / "user02/user02_do_2_td.dat"


def test_filename_token_rule_rejects_unknown_token(tmp_path):
    m = get_manifest("nav-gesture-walk")
    _touch(tmp_path / "user01" / "user01_xx_1_td.dat")
    with pytest.raises(ManifestError, match="'xx'"):
        iter_samples(m, tmp_path)


def test_filename_token_rule_missing_root(tmp_path):
    m = get_manifest("nav-gesture-walk")
    with pytest.raises(DatasetNotFoundError):
        iter_samples(m, tmp_path / "nothing-here")


def test_per_split_rule_on_fake_es_imagenet_tree(tmp_path):
    m = get_manifest("es-imagenet")
    base = tmp_path / "ES-imagenet-0.18"
    for k in range(1000):  # class_folders needs every class folder
        (base / "train" / f"class{k}").mkdir(parents=True)
    _touch(base / "train" / "class0" / "a_2.npz")
    _touch(base / "train" / "class0" / "a_10.npz")
    _touch(base / "train" / "class10" / "b.npz")
    _touch(base / "train" / "class999" / "c.npz")
    _touch(base / "val" / "v1.npz")
    _touch(base / "val" / "v2.npz")
    (base / "vallabel.txt").write_text("v1.npz 7\nv2 999\n\n")
    samples = iter_samples(m, tmp_path)
    train = [(s.sample_id, s.label) for s in samples if s.split == "train"]
    test = [(s.sample_id, s.label, s.source) for s in samples if s.split == "test"]
    assert train == [("train/class0/a_2.npz", 0), ("train/class0/a_10.npz", 0),
                     ("train/class10/b.npz", 10), ("train/class999/c.npz", 999)]
    assert test == [("v1.npz", 7, base / "val" / "v1.npz"), ("v2.npz", 999, base / "val" / "v2.npz")]
    assert [s.split for s in samples] == ["train"] * 4 + ["test"] * 2


def test_per_split_rule_validates_each_sub_rule(tmp_path):
    # a sub-rule's own validation still runs, and its error names the split's sub-table
    p = _broken(tmp_path, "es-imagenet", 'split_dirs = { train = "train" }', 'split_dirs = { test = "train" }')
    with pytest.raises(ManifestError, match=r"'samples\.train\.split_dirs'"):
        load_manifest(p)
    p = _broken(tmp_path, "es-imagenet", 'label_from = "column"', 'label_from = "column"\ntransform = { flip_x = true }')
    with pytest.raises(ManifestError, match=r"'samples\.test\.transform'"):
        load_manifest(p)


def test_new_rules_are_registered_and_documented():
    import eventkit.datasets.layouts as layouts

    for rule in RULES:
        assert f"``{rule}``" in layouts.__doc__, f"layouts docstring does not describe {rule}"
