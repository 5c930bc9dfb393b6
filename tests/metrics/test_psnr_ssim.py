"""PSNR and SSIM variants against scikit-image, cv2/numpy references and analytic cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from harness.metrics.filters import correlate_separable, gaussian_kernel_1d
from harness.metrics.psnr import psnr
from harness.metrics.ssim import ssim
from tests.metrics.reference import (
    degrade,
    gaussian_window,
    psnr_ref,
    ssim_3d,
    ssim_replicate_full,
    ssim_valid,
    structured_images,
    y_bt601,
)

IMAGES = structured_images() + structured_images(33, 57, seed=1)[:2]
PAIRS = [(img, degrade(img, i)) for i, img in enumerate(IMAGES)]


@pytest.mark.parametrize("d", [1, 2, 3, 7, 50, 128])
def test_constant_difference_gives_the_analytic_psnr(d: int) -> None:
    a = np.full((16, 20, 3), 60, np.float64)
    assert psnr(a + d, a) == pytest.approx(20 * math.log10(255 / d), abs=1e-9)


def test_identical_images_give_infinite_psnr() -> None:
    a = IMAGES[0].astype(np.float64)
    assert psnr(a, a) == math.inf


@pytest.mark.parametrize("k", range(len(PAIRS)))
def test_psnr_matches_skimage_and_float64_reference(k: int) -> None:
    a, b = (x.astype(np.float64) for x in PAIRS[k])
    ours = psnr(a, b)
    assert abs(ours - peak_signal_noise_ratio(b, a, data_range=255)) < 1e-6
    ya, yb = y_bt601(PAIRS[k][0]), y_bt601(PAIRS[k][1])
    assert abs(psnr(ya, yb) - psnr_ref(ya, yb)) < 1e-6


@pytest.mark.parametrize("k", range(len(PAIRS)))
def test_ssim_gauss_valid_matches_wang_reference_and_skimage(k: int) -> None:
    a, b = (y_bt601(x) for x in PAIRS[k])
    ours = ssim(a, b, "gauss11-valid")
    assert abs(ours - ssim_valid(a, b)) < 1e-8
    sk = structural_similarity(
        a, b, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert abs(ours - sk) < 1e-8


@pytest.mark.parametrize("k", range(len(PAIRS)))
def test_ssim_replicate_full_map_matches_cv2_reference(k: int) -> None:
    a, b = (y_bt601(x) for x in PAIRS[k])
    assert abs(ssim(a, b, "gauss11-replicate-full") - ssim_replicate_full(a, b)) < 1e-8
    # the border matters: the full map is not the valid one
    if k == 0:
        assert abs(ssim(a, b, "gauss11-replicate-full") - ssim_valid(a, b)) > 1e-4


@pytest.mark.parametrize("k", range(len(PAIRS)))
def test_ssim_rgb_valid_is_the_mean_of_channel_ssims(k: int) -> None:
    a, b = (x.astype(np.float64) for x in PAIRS[k])
    expected = np.mean([ssim_valid(a[..., c], b[..., c]) for c in range(3)])
    assert abs(ssim(a, b, "gauss11-valid") - expected) < 1e-8


@pytest.mark.parametrize("k", [0, 1, 2, 6])
def test_ssim_3d_matches_a_3d_correlation_reference(k: int) -> None:
    a, b = (x.astype(np.float64) for x in PAIRS[k])
    ours = ssim(a, b, "gauss3d-replicate-full")
    assert abs(ours - ssim_3d(a, b)) < 1e-8
    per_channel = ssim(a, b, "gauss11-replicate-full")
    assert abs(ours - per_channel) > 1e-6  # mixing channels changes the value


@pytest.mark.parametrize("k", range(len(PAIRS)))
def test_ssim_uniform_sample_matches_skimage_defaults(k: int) -> None:
    a, b = (x.astype(np.float64) / 255 for x in PAIRS[k])
    sk = structural_similarity(a, b, channel_axis=2, data_range=1.0)
    assert abs(ssim(a, b, "uniform7-sample-valid", 1.0) - sk) < 1e-8


def test_ssim_of_identical_images_is_one() -> None:
    a = y_bt601(IMAGES[1])
    for variant in ("gauss11-valid", "gauss11-replicate-full", "uniform7-sample-valid"):
        assert ssim(a, a, variant) == pytest.approx(1.0, abs=1e-12)


def test_filtering_is_correlation_not_convolution() -> None:
    rng = np.random.default_rng(5)
    img = rng.random((9, 12))
    k_rows, k_cols = np.array([1.0, 2.0, 7.0]), np.array([0.5, -1.0, 3.0, 0.0, 4.0])
    ours = correlate_separable(img, k_rows, k_cols, "constant")
    padded = np.pad(img, ((1, 1), (2, 2)))
    corr = np.zeros_like(img)
    conv = np.zeros_like(img)
    kernel = np.outer(k_rows, k_cols)
    for i in range(9):
        for j in range(12):
            window = padded[i : i + 3, j : j + 5]
            corr[i, j] = np.sum(window * kernel)
            conv[i, j] = np.sum(window * kernel[::-1, ::-1])
    np.testing.assert_allclose(ours, corr, atol=1e-12)
    assert np.abs(ours - conv).max() > 1e-3


def test_replicate_border_repeats_the_edge_pixel() -> None:
    img = np.zeros((7, 7))
    img[0, 3] = 1.0
    out = correlate_separable(img, np.array([1.0, 0, 0]), np.array([0.0, 1, 0]), "replicate")
    # out[i] = img[i-1] (row above); at i=0 replicate gives img[0]
    assert out[0, 3] == 1.0 and out[1, 3] == 1.0 and out[2, 3] == 0.0


def test_gaussian_window_is_fspecial() -> None:
    g = gaussian_kernel_1d(11, 1.5)
    np.testing.assert_allclose(np.outer(g, g), gaussian_window(11, 1.5), atol=1e-16)
    assert g.sum() == pytest.approx(1.0, abs=1e-15)


def test_asymmetric_image_ssim_is_orientation_consistent() -> None:
    rng = np.random.default_rng(9)
    a = np.cumsum(rng.random((30, 26)), axis=1) * 9
    b = a + rng.normal(0, 4, a.shape)
    for variant, ref in (
        ("gauss11-valid", ssim_valid),
        ("gauss11-replicate-full", ssim_replicate_full),
    ):
        assert abs(ssim(a, b, variant) - ref(a, b)) < 1e-8
        assert abs(ssim(a.T, b.T, variant) - ref(a.T, b.T)) < 1e-8


def test_scipy_fallback_equals_the_opencv_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.metrics import color, filters

    a, b = (x.astype(np.float64) for x in PAIRS[1])
    fast = {
        v: ssim(a, b, v)
        for v in ("gauss11-valid", "gauss11-replicate-full", "uniform7-sample-valid")
    }
    fast_y = color.rgb_to_y_bt601(PAIRS[1][0])
    monkeypatch.setattr(filters, "cv2", None)
    monkeypatch.setattr(color, "cv2", None)
    for variant, value in fast.items():
        assert abs(ssim(a, b, variant) - value) < 1e-12
    np.testing.assert_allclose(color.rgb_to_y_bt601(PAIRS[1][0]), fast_y, atol=1e-12)
