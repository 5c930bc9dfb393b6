"""score_image / score_batch / summarize under each protocol, against pipelines written here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from harness.errors import HarnessError
from harness.metrics import get_protocol
from harness.metrics.batched import score_batch_torch
from harness.metrics.compute import pooled_psnr, score_batch, score_image, summarize
from harness.metrics.protocols import Protocol
from tests.metrics.reference import (
    imresize_loop,
    matlab_round,
    psnr_ref,
    ssim_3d,
    ssim_replicate_full,
    ssim_valid,
    structured_images,
    y_bt601,
)

RNG = np.random.default_rng(42)
TARGETS = structured_images(40, 36)
RESTORED = [  # float32 model outputs near each target, a little outside [0, 1] sometimes
    np.clip(t / 255.0 + RNG.normal(0, 0.03, t.shape), -0.002, 1.002).astype(np.float32)
    for t in TARGETS
]


def _round_even(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, 0, 1) * np.float32(255)).astype(np.uint8)


@pytest.mark.parametrize("k", range(len(TARGETS)))
def test_diffuir_online(k: int) -> None:
    out = score_image(get_protocol("diffuir-online"), RESTORED[k], TARGETS[k])
    a, b = y_bt601(_round_even(RESTORED[k])), y_bt601(TARGETS[k])
    assert abs(out["psnr"] - psnr_ref(a, b)) < 1e-6
    assert abs(out["ssim"] - ssim_replicate_full(a, b)) < 1e-8


@pytest.mark.parametrize("k", range(len(TARGETS)))
def test_basicsr_y_and_rgb(k: int) -> None:
    q = _round_even(RESTORED[k])
    out = score_image(get_protocol("basicsr-y"), RESTORED[k], TARGETS[k])
    a, b = y_bt601(q), y_bt601(TARGETS[k])
    assert abs(out["psnr"] - psnr_ref(a, b)) < 1e-6
    assert abs(out["ssim"] - ssim_valid(a, b)) < 1e-8
    rgb = score_image(get_protocol("basicsr-rgb"), q, TARGETS[k])
    assert abs(rgb["psnr"] - psnr_ref(q, TARGETS[k])) < 1e-6
    expected = np.mean([ssim_valid(q[..., c], TARGETS[k][..., c]) for c in range(3)])
    assert abs(rgb["ssim"] - expected) < 1e-8


@pytest.mark.parametrize("k", [0, 1, 2])
def test_diffuir_udc_uses_3d_ssim_on_rgb(k: int) -> None:
    out = score_image(get_protocol("diffuir-udc"), RESTORED[k], TARGETS[k])
    q = _round_even(RESTORED[k])
    assert abs(out["psnr"] - psnr_ref(q, TARGETS[k])) < 1e-6
    assert abs(out["ssim"] - ssim_3d(q, TARGETS[k])) < 1e-8


@pytest.mark.parametrize("k", range(len(TARGETS)))
def test_skimage_rgb_scores_clipped_floats(k: int) -> None:
    out = score_image(get_protocol("skimage-rgb"), RESTORED[k], TARGETS[k])
    x = np.clip(RESTORED[k].astype(np.float64), 0, 1)
    t = TARGETS[k] / 255.0
    assert abs(out["psnr"] - peak_signal_noise_ratio(t, x, data_range=1)) < 1e-6
    assert abs(out["ssim"] - structural_similarity(t, x, channel_axis=2, data_range=1)) < 1e-8


@pytest.mark.parametrize("k", range(len(TARGETS)))
def test_matlab_protocol_is_rgb2gray_with_im2uint8(k: int) -> None:
    out = score_image(get_protocol("matlab"), RESTORED[k], TARGETS[k])
    q = np.floor(np.clip(RESTORED[k], 0, 1) * np.float32(255) + np.float32(0.5))
    w = np.linalg.inv(np.array([[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.106, 1.703]]))[
        0
    ]
    a = matlab_round(q.astype(np.float64) @ w)
    b = matlab_round(TARGETS[k].astype(np.float64) @ w)
    assert abs(out["psnr"] - psnr_ref(a, b)) < 1e-6
    assert abs(out["ssim"] - ssim_replicate_full(a, b)) < 1e-8


def test_diffuir_sots_resizes_gt_and_uses_rounded_y_and_valid_ssim() -> None:
    from io import BytesIO

    from PIL import Image

    gt = structured_images(53, 47)[1]
    restored = RNG.random((40, 36, 3)).astype(np.float32) * 0.2 + 0.4
    out = score_image(get_protocol("diffuir-sots"), restored, gt)
    floor = np.floor(restored * np.float32(255) + np.float32(0.5)).astype(np.uint8)
    buf = BytesIO()
    Image.fromarray(floor).save(buf, format="JPEG", quality=75)
    saved = np.asarray(Image.open(BytesIO(buf.getvalue())).convert("RGB"))
    gt_small = np.stack([imresize_loop(gt[..., c], 40, 36) for c in range(3)], axis=2)

    def y(img: np.ndarray) -> np.ndarray:
        r, g, b = (img[..., i].astype(np.float64) for i in range(3))
        return matlab_round(
            (1 / 255) * 65.481 * r + (1 / 255) * 128.553 * g + (1 / 255) * 24.966 * b + 16
        )

    a, b = y(saved), y(gt_small)
    assert abs(out["psnr"] - psnr_ref(a, b)) < 1e-6
    assert abs(out["ssim"] - ssim_valid(a, b)) < 1e-8


def test_uint8_restored_is_scored_as_is() -> None:
    q = _round_even(RESTORED[0])
    proto = get_protocol("diffuir-online")
    assert score_image(proto, q, TARGETS[0]) == score_image(proto, RESTORED[0], TARGETS[0])


def test_crop_border() -> None:
    proto = Protocol(name="c", summary="c", metrics=("psnr",), color="rgb", crop_border=4)
    q = _round_even(RESTORED[0])
    out = score_image(proto, q, TARGETS[0])
    assert abs(out["psnr"] - psnr_ref(q[4:-4, 4:-4], TARGETS[0][4:-4, 4:-4])) < 1e-6


def test_identical_images_report_inf_and_summary_counts_them() -> None:
    proto = get_protocol("diffuir-online")
    same = score_image(proto, TARGETS[0], TARGETS[0])
    assert same["psnr"] == math.inf and same["ssim"] == pytest.approx(1.0)
    other = score_image(proto, RESTORED[1], TARGETS[1])
    summary = summarize([same["psnr"], other["psnr"]])
    assert summary == {"mean": pytest.approx(other["psnr"]), "n": 2, "n_inf": 1}
    assert math.isnan(summarize([math.inf])["mean"])
    with pytest.raises(HarnessError):
        summarize([1.0, float("nan")])


def _batch(images: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


@pytest.mark.parametrize(
    "name", ["diffuir-online", "diffuir-udc", "basicsr-y", "basicsr-rgb", "skimage-rgb", "matlab"]
)
def test_batch_paths_equal_score_image(name: str) -> None:
    proto = get_protocol(name)
    restored = _batch(RESTORED[:3])
    target = _batch(TARGETS[:3]).float() / 255
    single = [score_image(proto, RESTORED[i], TARGETS[i]) for i in range(3)]
    assert score_batch(proto, restored, target) == single
    if proto.color in ("rgb", "y-bt601-float"):  # the accelerator path, run here on CPU tensors
        fast = score_batch_torch(proto, restored.double(), target)
        for a, b in zip(fast, single, strict=True):
            assert abs(a["psnr"] - b["psnr"]) < 1e-6
            assert abs(a["ssim"] - b["ssim"]) < 1e-8


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_batch_on_cuda_equals_score_image() -> None:
    proto = get_protocol("diffuir-online")
    restored, target = _batch(RESTORED[:3]).cuda(), (_batch(TARGETS[:3]).float() / 255).cuda()
    for a, b in zip(
        score_batch(proto, restored, target),
        [score_image(proto, RESTORED[i], TARGETS[i]) for i in range(3)],
        strict=True,
    ):
        assert abs(a["psnr"] - b["psnr"]) < 1e-6
        assert abs(a["ssim"] - b["ssim"]) < 1e-8


# ---- bad input: every problem is a HarnessError naming the image and the problem ----

GOOD = TARGETS[0]


@pytest.mark.parametrize(
    ("restored", "target", "message"),
    [
        (GOOD[:, :30], GOOD, "shape"),
        (GOOD[..., :2], GOOD, "channel"),
        (np.dstack([GOOD, GOOD[..., :1]]), GOOD, "channel"),
        (GOOD[..., 0], GOOD, "channel"),
        (np.zeros((0, 5, 3), np.uint8), GOOD, "empty"),
        (np.full(GOOD.shape, np.nan, np.float32), GOOD, "NaN"),
        (np.full(GOOD.shape, np.inf, np.float32), GOOD, "NaN or infinite"),
        (np.full(GOOD.shape, 1.5, np.float32), GOOD, "outside [0, 1]"),
        (np.full(GOOD.shape, -0.2, np.float32), GOOD, "outside [0, 1]"),
        (GOOD.astype(np.uint16) * 257, GOOD, "16-bit"),
        (GOOD, GOOD.astype(np.float32) / 255, "dtype"),
        (GOOD, None, "missing"),
        ([[1, 2, 3]], GOOD, "not a numpy array"),
    ],
)
def test_bad_input_raises_a_named_error(restored, target, message: str) -> None:
    with pytest.raises(HarnessError) as info:
        score_image(get_protocol("diffuir-online"), restored, target, name="img_007.png")
    assert "img_007.png" in str(info.value)
    assert message in str(info.value)


def test_bad_batches_raise() -> None:
    proto = get_protocol("diffuir-online")
    with pytest.raises(HarnessError, match="shape"):
        score_batch(proto, torch.zeros(2, 1, 8, 8), None)
    with pytest.raises(HarnessError, match="target batch"):
        score_batch(proto, torch.zeros(2, 3, 16, 16), torch.zeros(2, 3, 16, 15))
    bad = torch.zeros(1, 3, 16, 16)
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(HarnessError, match=r"batch\[0\].*NaN"):
        score_batch(proto, bad, torch.zeros(1, 3, 16, 16))


def test_pooled_mse_aggregation() -> None:
    proto = Protocol(name="p", summary="p", metrics=("psnr",), aggregation="pooled-mse")
    rows = [score_image(proto, RESTORED[i], TARGETS[i]) for i in range(3)]
    qs = [_round_even(RESTORED[i]).astype(np.float64) for i in range(3)]
    mse = np.mean([np.mean((q - t) ** 2) for q, t in zip(qs, TARGETS[:3], strict=True)])
    assert abs(pooled_psnr([r["mse"] for r in rows]) - 10 * math.log10(255**2 / mse)) < 1e-6
    assert pooled_psnr([0.0, 0.0]) == math.inf
