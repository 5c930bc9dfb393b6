"""The official-test-script protocol (PromptIR/AdaIR test.py): centre crop of input and ground
truth to a multiple of 16, then scikit-image PSNR/SSIM defaults on clipped float RGB.

Expected values come from scikit-image itself on arrays sliced here with indices computed by hand
(per axis of size n, r = n mod 16: rows/columns r // 2 up to n - r + r // 2).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from harness.errors import HarnessError
from harness.metrics import get_protocol
from harness.metrics.compute import score_batch, score_image
from harness.metrics.protocols import protocol_summaries
from harness.padding import centre_crop_box

NAME = "official-crop16-skimage"


@pytest.mark.parametrize(
    ("size", "box"),
    [
        ((37, 50), ((2, 34), (1, 49))),  # r = 5 and 2: 2 top / 3 bottom, 1 left / 1 right
        ((32, 48), ((0, 32), (0, 48))),  # already multiples: untouched
        ((17, 31), ((0, 16), (7, 23))),  # r = 1 (the extra pixel goes at the bottom), r = 15
        ((481, 321), ((0, 480), (0, 320))),  # Rain100L-like size
        ((16, 16), ((0, 16), (0, 16))),
    ],
)
def test_the_crop_box_by_hand(size, box) -> None:
    rows, cols = centre_crop_box(*size, 16)
    assert ((rows.start, rows.stop), (cols.start, cols.stop)) == box


def test_an_image_smaller_than_the_multiple_is_an_error() -> None:
    with pytest.raises(HarnessError, match="15x20 image is smaller than the multiple of 16"):
        centre_crop_box(15, 20, 16)


def _pair(seed: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    restored = (target / 255.0 + rng.normal(0, 0.05, target.shape)).astype(np.float32)
    return target, np.clip(restored, -0.003, 1.003).astype(np.float32)  # a little out of [0, 1]


def _skimage(target: np.ndarray, restored: np.ndarray) -> dict[str, float]:
    """The upstream computation: clip both to [0, 1], PSNR and SSIM with data_range 1 and
    scikit-image's defaults (7x7 box window, sample covariance), channels last."""
    gt = np.clip(target.astype(np.float64) / 255.0, 0, 1)
    out = np.clip(restored.astype(np.float64), 0, 1)
    return {
        "psnr": peak_signal_noise_ratio(gt, out, data_range=1),
        "ssim": structural_similarity(gt, out, data_range=1, channel_axis=2),
    }


@pytest.mark.parametrize(("seed", "h", "w"), [(0, 37, 50), (1, 48, 33), (2, 64, 64)])
def test_scores_equal_scikit_image_on_the_hand_cropped_pair(seed, h, w) -> None:
    target, restored = _pair(seed, h, w)
    (r0, r1), (c0, c1) = {
        (37, 50): ((2, 34), (1, 49)),
        (48, 33): ((0, 48), (0, 32)),
        (64, 64): ((0, 64), (0, 64)),
    }[(h, w)]
    expected = _skimage(target[r0:r1, c0:c1], restored[r0:r1, c0:c1])
    protocol = get_protocol(NAME)
    # full-size restored image and GT (as `harness score` gets them) ...
    full = score_image(protocol, restored, target)
    # ... and a restored image of the cropped input (as the runner makes it) vs the full GT
    cropped = score_image(protocol, restored[r0:r1, c0:c1], target)
    for got in (full, cropped):
        assert got["psnr"] == pytest.approx(expected["psnr"], abs=1e-9)
        assert got["ssim"] == pytest.approx(expected["ssim"], abs=1e-9)


def test_upstream_float32_computation_is_within_reporting_precision() -> None:
    # upstream scores float32 tensors (ToTensor, network output); the harness computes in float64
    target, restored = _pair(3, 48, 64)
    gt32 = (target / np.float32(255)).astype(np.float32)
    out32 = np.clip(restored, 0, 1)
    upstream = {
        "psnr": peak_signal_noise_ratio(gt32, out32, data_range=1),
        "ssim": structural_similarity(gt32, out32, data_range=1, channel_axis=2),
    }
    got = score_image(get_protocol(NAME), restored, target)
    assert got["psnr"] == pytest.approx(upstream["psnr"], abs=1e-4)
    assert got["ssim"] == pytest.approx(upstream["ssim"], abs=1e-5)


def test_batches_are_cropped_like_single_images() -> None:
    pairs = [_pair(seed, 37, 50) for seed in (4, 5)]
    restored = torch.from_numpy(np.stack([r for _, r in pairs])).permute(0, 3, 1, 2)
    target = torch.from_numpy(np.stack([t for t, _ in pairs])).permute(0, 3, 1, 2) / 255.0
    got = score_batch(get_protocol(NAME), restored, target)
    for (t, r), values in zip(pairs, got, strict=True):
        expected = _skimage(t[2:34, 1:49], r[2:34, 1:49])
        assert values["psnr"] == pytest.approx(expected["psnr"], abs=1e-6)
        assert values["ssim"] == pytest.approx(expected["ssim"], abs=1e-6)


def test_the_protocol_is_listed_with_a_signature_that_names_the_crop() -> None:
    (row,) = [p for p in protocol_summaries() if p["name"] == NAME]
    assert row["signature"] == (
        "psnr+ssim:rgb|q:none|crop:0|ssim:uniform7-sample-valid|range:1|in+gt:centre-crop-x16"
    )
    assert "PromptIR" in row["summary"] and "AdaIR" in row["summary"]
    # the default protocols never crop the input or touch the ground truth
    others = [p for p in protocol_summaries() if p["name"] != NAME]
    assert all(get_protocol(p["name"]).input_crop == 0 for p in others)


def _cropped_pairs() -> tuple[torch.Tensor, torch.Tensor, list[dict[str, float]]]:
    pairs = [_pair(seed, 37, 50) for seed in (6, 7)]
    restored = torch.from_numpy(np.stack([r for _, r in pairs])).permute(0, 3, 1, 2)
    target = torch.from_numpy(np.stack([t for t, _ in pairs])).permute(0, 3, 1, 2) / 255.0
    single = [score_image(get_protocol(NAME), r, t) for t, r in pairs]
    return restored, target, single


def test_the_accelerator_path_on_the_crop_equals_score_image() -> None:
    from harness.metrics.batched import score_batch_torch

    restored, target, single = _cropped_pairs()
    box = (..., slice(2, 34), slice(1, 49))
    fast = score_batch_torch(get_protocol(NAME), restored[box].double(), target[box])
    for a, b in zip(fast, single, strict=True):
        assert abs(a["psnr"] - b["psnr"]) < 1e-6
        assert abs(a["ssim"] - b["ssim"]) < 1e-8


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_batch_is_cropped_before_the_accelerator_path() -> None:
    restored, target, single = _cropped_pairs()
    got = score_batch(get_protocol(NAME), restored.cuda(), target.cuda())
    for a, b in zip(got, single, strict=True):
        assert abs(a["psnr"] - b["psnr"]) < 1e-4  # float32 on the device
        assert abs(a["ssim"] - b["ssim"]) < 1e-5
