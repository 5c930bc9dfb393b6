"""The training splits DiffUIR trains on: manifests, the universal-train suite, fetch and import.

Expected values come from DiffUIR's data/universal_dataset.py (phase 'train' folders) and the
published facts in shared/reference/DATASETS.md, not from the manifests under test. No test
downloads anything.
"""

from __future__ import annotations

import json
import unicodedata
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from harness.cli import app
from harness.data.benchmark import BenchmarkMissingError, PairingError, open_benchmark
from harness.data.catalog import benchmark_names, load_manifest, resolve_suite, suite_names
from harness.data.fetch import DownloadError
from harness.data.importer import import_benchmark
from harness.training import load_task_images

TRAIN_SETS = ["rain13k-train", "snow100k-train", "reside-ots-train", "gopro-train", "lol-train"]

# DiffUIR data/universal_dataset.py, phase 'train': (task, input dir, target dir) under dataroot.
DIFFUIR_TRAIN_DIRS = {
    "rain13k-train": ("derain", "syn_rain/train/input", "syn_rain/train/target"),
    "snow100k-train": ("desnow", "Snow100K/train/synthetic", "Snow100K/train/gt"),
    "reside-ots-train": (
        "dehaze",
        "RESIDE/OTS_ALPHA/haze/OTS",
        "RESIDE/OTS_ALPHA/clear/clear_images",
    ),
    "gopro-train": ("deblur", "Deblur/train/input", "Deblur/train/target"),
    "lol-train": ("lowlight", "LOL/train/low", "LOL/train/high"),
}


def _dirs(name: str) -> tuple[str, str]:
    m = load_manifest(name)
    root = PurePosixPath(m.layout.root)
    return (root / m.layout.input).as_posix(), (root / m.layout.target).as_posix()


def test_universal_train_lists_exactly_the_five_training_sets():
    assert "universal-train" in suite_names()
    assert resolve_suite("universal-train") == TRAIN_SETS
    for name in TRAIN_SETS:
        m = load_manifest(name)
        assert m.split == "train" and m.has_gt and not m.embedded
        assert (m.task, *_dirs(name)) == DIFFUIR_TRAIN_DIRS[name]
    tasks = {load_manifest(n).task for n in TRAIN_SETS}
    assert tasks == {"derain", "desnow", "dehaze", "deblur", "lowlight"}


def test_every_suite_holds_one_split_and_test_suites_no_training_data():
    for suite in suite_names():
        splits = {load_manifest(n).split for n in resolve_suite(suite)}
        assert splits == ({"train"} if suite.endswith("-train") else {"test"}), suite
    in_test_suites = {
        n for s in ("universal", "zero-shot", "all", "mini") for n in resolve_suite(s)
    }
    assert not in_test_suites & set(TRAIN_SETS)
    train_splits = {n for n in benchmark_names() if load_manifest(n).split == "train"}
    assert train_splits == set(TRAIN_SETS) | set(resolve_suite("mini-train"))


def _folded(root: str) -> tuple[str, ...]:
    return PurePosixPath(unicodedata.normalize("NFC", root).casefold()).parts


def test_no_training_root_overlaps_another_benchmark_root():
    others = [n for n in benchmark_names() if not load_manifest(n).embedded]
    for name in TRAIN_SETS:
        mine = _folded(load_manifest(name).layout.root)
        for other in others:
            if other == name:
                continue
            theirs = _folded(load_manifest(other).layout.root)
            shorter = min(len(mine), len(theirs))
            assert mine[:shorter] != theirs[:shorter], (name, other)


def test_published_counts_and_checksums_are_carried():
    rain = load_manifest("rain13k-train")
    assert (rain.counts.inputs, rain.counts.targets, rain.counts.confirmed) == (13711, 13711, True)
    assert rain.sources[0].url.endswith("14BidJeG4nSNuFNFDf99K-7eErCq4i47t")
    assert rain.sources[0].sha256 == (
        "b999f61e7d7df1c2333d8a63a80b89fea2f75197dd9350428a174bcb9e193a5d"
    )
    assert rain.sources[0].size == 1_163_440_376
    gopro = load_manifest("gopro-train")
    assert (gopro.counts.inputs, gopro.counts.confirmed) == (2103, True)
    assert gopro.sources[0].url.endswith("1zgALzrLCC_tcXKu_iHQTHukKUVT1aodI")
    assert gopro.sources[0].sha256 == (
        "c7f7286cb0d36d00f56964ef4bf13f7115be9814ab26f89c8328d36615e3701c"
    )
    assert gopro.sources[0].size == 4_114_478_505
    lol = load_manifest("lol-train")
    assert (lol.counts.inputs, lol.counts.confirmed) == (485, True)
    assert lol.preprocess_flags == frozenset({"lol-histeq"})
    assert {s.url for s in lol.sources} >= {s.url for s in load_manifest("lol").sources}
    snow = load_manifest("snow100k-train")
    assert snow.counts.inputs == 50000 and not snow.counts.confirmed
    assert snow.sources[0].kind == "url" and snow.sources[0].url == (
        "https://desnownet.s3.amazonaws.com/dataset_synthetic/train/Snow100K-training.tar.gz"
    )
    ots = load_manifest("reside-ots-train")
    assert ots.counts.inputs is None and not ots.counts.confirmed  # release unknown: not pinned
    assert (ots.sources[0].url, ots.sources[0].password) == (
        "https://pan.baidu.com/s/1c2rW4hi",
        "5vss",
    )
    assert ots.pairing.rule == "regex" and ots.pairing.many_to_one


def test_cli_lists_the_training_sets_and_their_suite(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["ls", "suites"])
    assert result.exit_code == 0 and "universal-train" in result.output
    result = runner.invoke(app, ["ls", "benchmarks"])
    assert result.exit_code == 0 and all(n in result.output for n in TRAIN_SETS)
    result = runner.invoke(app, ["--data-root", str(tmp_path), "data", "ls", "--json"])
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert all(rows[n]["status"] == "missing" for n in TRAIN_SETS)


@pytest.mark.parametrize(
    ("name", "needles"),
    [
        ("rain13k-train", ["14BidJeG4nSNuFNFDf99K-7eErCq4i47t", "b999f61e7d7df1c2"]),
        ("gopro-train", ["1zgALzrLCC_tcXKu_iHQTHukKUVT1aodI", "c7f7286cb0d36d00"]),
        ("lol-train", ["157bjO1_cFuSd0HWDUuAmcHRJDVyWpOxB", "c3c017b600cca4d8"]),
        ("reside-ots-train", ["https://pan.baidu.com/s/1c2rW4hi", "extraction code: 5vss"]),
    ],
)
def test_fetch_prints_manual_steps_for_drive_and_baidu(tmp_path, name, needles):
    data = tmp_path / "data"
    result = CliRunner().invoke(app, ["--data-root", str(data), "data", "fetch", name])
    assert result.exit_code == 0, result.output
    assert "cannot be downloaded by script" in result.output
    assert all(n in result.output for n in needles)
    assert f"harness data import {name}" in result.output
    assert not data.exists() or not any(data.rglob("*"))  # nothing downloaded or laid out


def test_fetch_would_download_snow100k_training_tarball(tmp_path, monkeypatch):
    calls = []

    def fake_download(url, dest, **kwargs):
        calls.append((url, Path(dest)))
        raise DownloadError("stopped by the test")

    monkeypatch.setattr("harness.data.fetch.download", fake_download)
    data = tmp_path / "data"
    result = CliRunner().invoke(app, ["--data-root", str(data), "data", "fetch", "snow100k-train"])
    assert result.exit_code == 1 and "stopped by the test" in str(result.exception)
    assert calls == [
        (
            "https://desnownet.s3.amazonaws.com/dataset_synthetic/train/Snow100K-training.tar.gz",
            data / "_downloads" / "Snow100K-training.tar.gz",
        )
    ]
    assert not (data / "Snow100K").exists()


def test_training_on_the_suite_without_data_says_how_to_get_it(tmp_path):
    with pytest.raises(BenchmarkMissingError) as err:
        load_task_images("universal-train", tmp_path)
    assert "harness data import rain13k-train" in str(err.value)


def _png(path: Path, value: int, size: tuple[int, int] = (8, 6)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path)


def _jpg(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((6, 8, 3), value, np.uint8)).save(path, quality=95)


def test_ots_pairs_many_hazy_images_with_one_clear_image(tmp_path):
    release = tmp_path / "download" / "OTS_ALPHA"
    hazy = {"0005": ["0.8_0.04", "0.8_0.2", "1_0.16"], "0012": ["0.9_0.08"]}
    for item, variants in hazy.items():
        _jpg(release / "clear" / "clear_images" / f"{item}.jpg", 200)
        for v in variants:
            _jpg(release / "haze" / "OTS" / f"{item}_{v}.jpg", 120)
    _jpg(release / "clear" / "clear_images" / "0099.jpg", 200)  # no hazy version: ignored
    data = tmp_path / "data"
    dest, count = import_benchmark(load_manifest("reside-ots-train"), tmp_path / "download", data)
    assert dest == data / "RESIDE" / "OTS_ALPHA" and count == 4
    pairs = open_benchmark("reside-ots-train", data).pairs
    assert {p.id: p.target.name for p in pairs} == {
        "0005_0.8_0.04": "0005.jpg",
        "0005_0.8_0.2": "0005.jpg",
        "0005_1_0.16": "0005.jpg",
        "0012_0.9_0.08": "0012.jpg",
    }
    (release / "clear" / "clear_images" / "0012.jpg").unlink()
    with pytest.raises(PairingError, match="0012_0.9_0.08"):
        import_benchmark(load_manifest("reside-ots-train"), tmp_path / "download", data)
    assert len(open_benchmark("reside-ots-train", data).pairs) == 4  # previous copy kept


def test_one_lol_archive_feeds_train_and_test_into_separate_folders(tmp_path):
    eval15 = [1, 22, 23, 55, 79, 111, 146, 179, 493, 547, 665, 669, 748, 778, 780]
    our485 = [i for i in range(2, 800) if i not in eval15][:485]
    archive = tmp_path / "LOLdataset.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for split, ids in (("our485", our485), ("eval15", eval15)):
            for i in ids:
                for side, value in (("low", 10), ("high", 180)):
                    file = tmp_path / "src" / split / side / f"{i}.png"
                    _png(file, value)
                    zf.write(file, f"LOLdataset/{split}/{side}/{i}.png")
    data = tmp_path / "data"
    dest, count = import_benchmark(load_manifest("lol-train"), archive, data)
    assert dest == data / "LOL" / "train" and count == 485
    dest, count = import_benchmark(load_manifest("lol"), archive, data)
    assert dest == data / "LOL" / "test" and count == 15
    train = open_benchmark("lol-train", data)
    test = open_benchmark("lol", data)
    assert sorted(int(p.id) for p in train.pairs) == sorted(our485)
    assert sorted(int(p.id) for p in test.pairs) == sorted(eval15)
    assert train.preprocess == frozenset({"lol-histeq"})
