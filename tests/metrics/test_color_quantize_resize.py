"""Colour conversions, quantisation and MATLAB imresize against formulas written here."""

from __future__ import annotations

import numpy as np
import pytest

from harness.metrics.color import (
    rgb_to_gray_matlab,
    rgb_to_y_bt601,
    rgb_to_y_matlab,
)
from harness.metrics.imresize import imresize
from harness.metrics.quantize import jpeg_roundtrip, quantize
from tests.metrics.reference import imresize_loop, matlab_round, y_bt601

RNG = np.random.default_rng(123)
PIXELS = RNG.integers(0, 256, (300, 400, 3), dtype=np.uint8)


def test_bt601_y_coefficients_and_range() -> None:
    np.testing.assert_allclose(rgb_to_y_bt601(PIXELS), y_bt601(PIXELS), rtol=0, atol=1e-12)
    corners = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0]]], np.uint8)
    y = rgb_to_y_bt601(corners)[0]
    assert y[0] == pytest.approx(16.0, abs=1e-12)
    assert y[1] == pytest.approx(235.0, abs=1e-12)
    assert y[2] == pytest.approx(16 + 65.481, abs=1e-12)


def test_matlab_rgb2ycbcr_luma_is_rounded_half_away() -> None:
    # rgb2ycbcr.m, uint8 branch: T = (1/255) * origT; imlincomb(T1,R,T2,G,T3,B,16); uint8 rounding
    r, g, b = (PIXELS[..., i].astype(np.float64) for i in range(3))
    t = [(1 / 255) * 65.481, (1 / 255) * 128.553, (1 / 255) * 24.966]
    matlab = matlab_round(((t[0] * r + t[1] * g) + t[2] * b) + 16)
    y = rgb_to_y_matlab(PIXELS)
    np.testing.assert_array_equal(y, matlab)
    assert np.all(y == np.round(y)) and y.min() >= 16 and y.max() <= 235
    # the mathematically rounded luma differs only at exact ties
    assert np.count_nonzero(y != matlab_round(y_bt601(PIXELS))) < PIXELS.size // 3000


def test_matlab_rgb2gray_coefficients_from_the_ntsc_matrix() -> None:
    ntsc = np.array([[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.106, 1.703]])
    weights = np.linalg.inv(ntsc)[0]
    np.testing.assert_allclose(weights, [0.2989, 0.5870, 0.1140], atol=1e-4)  # MATLAB docs
    r, g, b = (PIXELS[..., i].astype(np.float64) for i in range(3))
    expected = matlab_round(weights[0] * r + weights[1] * g + weights[2] * b)
    np.testing.assert_array_equal(rgb_to_gray_matlab(PIXELS), expected)
    white = np.full((1, 1, 3), 255, np.uint8)
    assert rgb_to_gray_matlab(white)[0, 0] == 255


def _float32_ties(count: int = 20) -> np.ndarray:
    """Values x (float32) whose float32 product x*255 is exactly k + 0.5."""
    found = []
    for k in range(254):
        for x in np.float32((k + 0.5) / 255) + np.arange(-3, 4) * np.float32(1e-8):
            x = np.float32(x)
            if float(x * np.float32(255)) == k + 0.5:
                found.append(x)
                break
        if len(found) == count:
            break
    return np.array(found, np.float32)


def test_round_half_even_vs_floor_half_up_at_exact_ties() -> None:
    ties = _float32_ties()
    assert ties.size >= 5
    img = np.repeat(ties[:, None, None], 3, axis=2).reshape(-1, 1, 3)
    k = np.floor(ties * np.float32(255)).astype(np.int64)  # the tie sits at k + 0.5
    even = quantize(img, "round-even")[:, 0, 0].astype(np.int64)
    up = quantize(img, "floor-half-up")[:, 0, 0].astype(np.int64)
    np.testing.assert_array_equal(up, k + 1)
    np.testing.assert_array_equal(even, np.where(k % 2 == 0, k, k + 1))


def test_quantize_clamps_and_keeps_float_for_none() -> None:
    img = np.array([[[-0.001, 0.5, 1.002]]], np.float32)
    np.testing.assert_array_equal(quantize(img, "round-even")[0, 0], [0, 128, 255])
    out = quantize(img, "none")
    assert out.dtype == np.float64
    np.testing.assert_allclose(out[0, 0], [0.0, np.float32(0.5) * 255.0, 255.0])


def test_jpeg_requantisation_is_pil_quality_75() -> None:
    from io import BytesIO

    from PIL import Image

    img = RNG.random((32, 48, 3)).astype(np.float32)
    out = quantize(img, "jpeg", 75)
    floor = np.floor(img * np.float32(255) + np.float32(0.5)).astype(np.uint8)
    buf = BytesIO()
    Image.fromarray(floor).save(buf, format="JPEG", quality=75)
    expected = np.asarray(Image.open(BytesIO(buf.getvalue())).convert("RGB"))
    np.testing.assert_array_equal(out, expected)
    assert not np.array_equal(out, floor)  # lossy
    np.testing.assert_array_equal(jpeg_roundtrip(floor, 75), expected)


@pytest.mark.parametrize("shape", [(20, 15), (60, 40), (12, 30), (9, 9), (37, 23)])
def test_imresize_matches_a_loop_implementation(shape: tuple[int, int]) -> None:
    img = RNG.random((37, 23))
    np.testing.assert_allclose(imresize(img, shape), imresize_loop(img, *shape), atol=1e-12)


def test_imresize_uint8_rounds_and_saturates_like_matlab() -> None:
    img = RNG.integers(0, 256, (31, 29, 3), dtype=np.uint8)
    out = imresize(img, (14, 17))
    assert out.dtype == np.uint8
    ref = np.stack([imresize_loop(img[..., c], 14, 17) for c in range(3)], axis=2)
    assert np.count_nonzero(out != ref) <= 1  # float summation order may flip an exact .5


def test_imresize_properties() -> None:
    const = np.full((40, 36), 0.3)
    np.testing.assert_allclose(imresize(const, (17, 11)), 0.3, atol=1e-14)
    img = RNG.random((25, 19))
    np.testing.assert_array_equal(imresize(img, (25, 19)), img)
    for factor in (2, 4):
        ramp = np.tile(np.arange(64, dtype=np.float64), (8, 1))
        out = imresize(ramp, scale=1 / factor)[0]
        j = np.arange(1, out.size + 1)
        centre = factor * j - (factor - 1) / 2 - 1  # 0-based input coordinate of output j
        interior = slice(3, -3)
        np.testing.assert_allclose(out[interior], centre[interior], atol=1e-12)


def test_imresize_shrinking_antialiases() -> None:
    stripes = np.tile(np.array([0.0, 1.0]), (16, 32))  # highest frequency
    out = imresize(stripes, scale=0.5)
    assert np.ptp(out[2:-2, 2:-2]) < 1e-9  # filtered to the mean, not aliased
    np.testing.assert_allclose(out[2:-2, 2:-2], 0.5, atol=1e-9)
