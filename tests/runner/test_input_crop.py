"""A protocol that declares an input crop: the runner centre-crops input and ground truth the same
way before restoring, the restorer sees only the crop, and the numbers are the upstream ones.

The fixture benchmarks hold 16x16, 16x24 and 24x16 images; the 16-multiple centre crop keeps
columns 4..20 of a 16x24 image and rows 4..20 of a 24x16 one (r = 8: 4 on each side).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from harness.restorer import ImageBatch, Restorer
from harness.runner import RunConfig, default_collaborators, run
from harness.store import Store
from tests.runner import fakes

BOX = {(16, 16): (slice(0, 16), slice(0, 16)), (16, 24): (slice(0, 16), slice(4, 20))}
BOX[(24, 16)] = (slice(4, 20), slice(0, 16))


class SeenShapes(Restorer):
    """Identity that records the size of every batch it is given."""

    name = "seen-shapes"
    seen: ClassVar[list[tuple[int, int]]] = []

    def restore(self, batch: ImageBatch) -> torch.Tensor:
        SeenShapes.seen.append(tuple(batch.images.shape[-2:]))
        return batch.images.clone()


def _methods(name: str, **kwargs: Any) -> Restorer:
    return SeenShapes(**kwargs) if name == "seen-shapes" else fakes.create_method(name, **kwargs)


def _read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.mark.parametrize("protocol", ["official-crop16-skimage", "skimage-rgb"])
def test_the_restorer_sees_the_crop_and_the_gt_is_cropped_alike(
    tmp_path, fixture_benchmarks, protocol
) -> None:
    SeenShapes.seen = []
    real = default_collaborators()
    layers = replace(
        fakes.collaborators(fixture_benchmarks), metrics=real.metrics, methods=_methods
    )
    cfg = RunConfig(
        method="seen-shapes",
        suite=fakes.SUITE,
        protocol=protocol,
        device="cpu",
        workers=0,
        batch_size=2,
        flops=False,
        store_path=tmp_path / "s.sqlite",
    )
    summary = run(cfg, collaborators=layers)
    with Store(tmp_path / "s.sqlite") as store:
        rows = {(r["benchmark"], r["image_id"]): r for r in store.results([summary.run_id])}
        signatures = {b["protocol_signature"] for b in store.benchmarks([summary.run_id])}
    cropping = protocol == "official-crop16-skimage"
    assert set(SeenShapes.seen) == ({(16, 16)} if cropping else {(16, 16), (16, 24), (24, 16)})
    assert all(("in+gt:centre-crop-x16" in s) == cropping for s in signatures)
    checked = 0
    for name, bench in fixture_benchmarks.items():
        for i, pair in enumerate(bench.pairs):
            row = rows[(name, pair.id)]
            if i == fakes.BENCHMARKS[name][2]:  # the corrupt input
                assert row["status"] == "failed"
                continue
            gt, inp = _read(pair.target), _read(pair.input)
            rows_, cols = BOX[gt.shape[:2]] if cropping else (slice(None), slice(None))
            # the restorer's output is float32 (input / 255 in float32), scored as it is
            out = (inp[rows_, cols] / np.float32(255)).astype(np.float64)
            gt = gt[rows_, cols] / 255.0
            assert row["metrics"]["psnr"] == pytest.approx(
                peak_signal_noise_ratio(gt, out, data_range=1), abs=1e-9
            )
            assert row["metrics"]["ssim"] == pytest.approx(
                structural_similarity(gt, out, data_range=1, channel_axis=2), abs=1e-9
            )
            assert (row["height"], row["width"]) == _read(pair.input).shape[:2]  # as stored
            checked += 1
    assert checked == 12


def test_an_image_smaller_than_the_crop_fails_by_name(tmp_path, fixture_benchmarks) -> None:
    tiny = fakes.FakeBenchmark("fx-tiny", "derain", [], protocol="official-crop16-skimage")
    d = tmp_path / "tiny"
    d.mkdir()
    rng = np.random.default_rng(0)
    for f in ("in", "gt"):
        Image.fromarray(rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)).save(d / f"{f}.png")
    tiny.pairs = [fakes.Pair("000", d / "in.png", d / "gt.png")]
    tiny.pinned, tiny.lock_digest = False, None
    real = default_collaborators()
    layers = replace(
        fakes.collaborators({"fx-tiny": tiny}, suites={"t": ["fx-tiny"]}),
        metrics=real.metrics,
        methods=_methods,
    )
    cfg = RunConfig(
        method="seen-shapes", suite="t", device="cpu", workers=0, store_path=tmp_path / "s.sqlite"
    )
    summary = run(cfg, collaborators=layers)
    with Store(tmp_path / "s.sqlite") as store:
        (row,) = store.results([summary.run_id])
    assert row["status"] == "failed"
    assert "12x20 image is smaller than the multiple of 16" in row["reason"]
