"""The committed mini suite: verified against its locks, paired by id, disjoint from its training split."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from harness.data.benchmark import embedded_dir, lock_path, open_benchmark
from harness.data.catalog import load_manifest, resolve_suite
from harness.data.lock import read_lock, verify_dir
from harness.images import read_image

MINI = resolve_suite("mini")
TRAIN = resolve_suite("mini-train")
TASKS = ("derain", "desnow", "dehaze", "deblur", "lowlight")


def test_suites_list_the_shared_names():
    assert MINI == [f"mini-{t}" for t in TASKS] + ["mini-zeroshot", "mini-real"]
    assert TRAIN == [f"mini-train-{t}" for t in TASKS]


@pytest.mark.parametrize("name", MINI + TRAIN)
def test_committed_files_match_their_lock(name):
    lock = read_lock(lock_path(name))
    report = verify_dir(lock, embedded_dir() / name, use_cache=False)
    assert report.ok, report.describe()
    assert report.checked == len(lock.entries) > 0


@pytest.mark.parametrize("name", MINI + TRAIN)
def test_open_gives_id_paired_rgb_images(name, tmp_path):
    bench = open_benchmark(name, tmp_path)  # embedded: data_root is ignored
    manifest = load_manifest(name)
    assert bench.verified and bench.pinned
    assert bench.digest == read_lock(lock_path(name)).root
    assert len(bench.pairs) == manifest.counts.inputs
    size = 128 if name.startswith("mini-train") else 256
    for pair in bench.pairs:
        assert pair.input.stem == pair.id
        image = read_image(pair.input)
        assert image.shape == (size, size, 3)
        if bench.has_gt:
            assert pair.target.stem == pair.id and pair.target.parent.name == "target"
            assert read_image(pair.target).shape == image.shape
            assert not np.array_equal(read_image(pair.target), image)
        else:
            assert pair.target is None


def test_mini_counts_and_flags():
    for task in TASKS:
        assert len(open_benchmark(f"mini-{task}", Path(".")).pairs) == 5
        assert len(open_benchmark(f"mini-train-{task}", Path(".")).pairs) >= 24
    assert open_benchmark("mini-lowlight", Path(".")).preprocess == frozenset({"lol-histeq"})
    real = open_benchmark("mini-real", Path("."))
    assert not real.has_gt and real.protocol == "nr-niqe" and len(real.pairs) == 4
    zs = open_benchmark("mini-zeroshot", Path("."))
    assert zs.has_gt and zs.manifest.setting == "zero-shot" and len(zs.pairs) == 4


def _meta(name: str) -> dict:
    return json.loads((embedded_dir() / name / "meta.json").read_text())["items"]


def _overlap(a: list[int], b: list[int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_training_crops_never_overlap_test_crops():
    test_boxes = [(m["source"], m["box_y0x0y1x1"]) for n in MINI for m in _meta(n).values()]
    for name in TRAIN:
        for item in _meta(name).values():
            for source, box in test_boxes:
                assert not (item["source"] == source and _overlap(item["box_y0x0y1x1"], box))


def test_training_targets_are_the_recorded_source_crops():
    import skimage.data

    sources = {"skimage.data.astronaut": skimage.data.astronaut()}
    for item_id, item in _meta("mini-train-derain").items():
        if item["source"] in sources:
            y0, x0, y1, x1 = item["box_y0x0y1x1"]
            target = read_image(embedded_dir() / "mini-train-derain" / "target" / f"{item_id}.png")
            assert np.array_equal(target, sources[item["source"]][y0:y1, x0:x1])


def test_motion_blur_inputs_are_the_target_convolved_with_the_recorded_kernel():
    for item_id, item in _meta("mini-deblur").items():
        kernel = np.array(item["params"]["kernel"])
        assert kernel.sum() == pytest.approx(1.0)
        clean = read_image(embedded_dir() / "mini-deblur" / "target" / f"{item_id}.png")
        blurred = read_image(embedded_dir() / "mini-deblur" / "input" / f"{item_id}.png")
        # cv2.filter2D correlates, so flip the kernel to convolve; BORDER_REFLECT = scipy "reflect"
        expected = cv2.filter2D(
            clean.astype(np.float64) / 255.0,
            -1,
            kernel[::-1, ::-1],
            borderType=cv2.BORDER_REFLECT,
        )
        expected = np.round(np.clip(expected, 0, 1) * 255.0)
        assert np.abs(expected - blurred.astype(np.float64)).max() <= 1


def test_degradations_move_the_statistics_the_right_way():
    def stats(name: str, side: str) -> list[np.ndarray]:
        root = embedded_dir() / name / side
        return [read_image(p).astype(np.float64) for p in sorted(root.glob("*.png"))]

    for low, high in zip(
        stats("mini-lowlight", "input"), stats("mini-lowlight", "target"), strict=True
    ):
        assert low.mean() < 0.4 * high.mean()
    for hazy, clean in zip(
        stats("mini-dehaze", "input"), stats("mini-dehaze", "target"), strict=True
    ):
        assert hazy.min(axis=2).mean() > clean.min(axis=2).mean() + 20  # dark channel lifts
        assert hazy.std() < clean.std()  # contrast drops
    for rainy, clean in zip(
        stats("mini-derain", "input"), stats("mini-derain", "target"), strict=True
    ):
        assert (rainy >= clean - 1).all()  # screen blend only brightens
        assert (rainy - clean).mean() > 2
