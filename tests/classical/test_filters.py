"""Guided filter and min filter against straightforward references written here."""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import minimum_filter

from baselines.classical.filters import box_mean, guided_filter, min_filter


def _window_mean(a: np.ndarray, r: int) -> np.ndarray:
    """Mean over the border-clipped (2r+1)^2 window, by explicit loops."""
    out = np.empty_like(a)
    h, w = a.shape
    for i in range(h):
        for j in range(w):
            out[i, j] = a[max(0, i - r) : i + r + 1, max(0, j - r) : j + r + 1].mean()
    return out


def _guided_reference(guide: np.ndarray, src: np.ndarray, r: int, eps: float) -> np.ndarray:
    """He et al. ECCV 2010 Algorithm 1, with window means computed by loops."""
    mean_i = _window_mean(guide, r)
    mean_p = _window_mean(src, r)
    corr_ip = _window_mean(guide * src, r)
    corr_ii = _window_mean(guide * guide, r)
    a = (corr_ip - mean_i * mean_p) / (corr_ii - mean_i**2 + eps)
    b = mean_p - a * mean_i
    return _window_mean(a, r) * guide + _window_mean(b, r)


def test_box_mean_matches_loop_reference() -> None:
    rng = np.random.default_rng(0)
    a = rng.random((13, 17))
    got = box_mean(torch.from_numpy(a)[None, None], 3)[0, 0].numpy()
    np.testing.assert_allclose(got, _window_mean(a, 3), atol=1e-12)


def test_guided_filter_matches_box_filter_reference() -> None:
    rng = np.random.default_rng(1)
    guide = rng.random((19, 23))
    src = 0.5 * guide + 0.3 * rng.random((19, 23))
    got = guided_filter(
        torch.from_numpy(guide)[None, None], torch.from_numpy(src)[None, None], 4, 1e-2
    )
    np.testing.assert_allclose(
        got[0, 0].numpy(), _guided_reference(guide, src, 4, 1e-2), atol=1e-10
    )


def test_guided_filter_reproduces_a_linear_function_of_the_guide() -> None:
    # q = a I + b is exact when p is a linear function of I and eps -> 0 (local linear model)
    rng = np.random.default_rng(2)
    guide = torch.from_numpy(rng.random((1, 1, 16, 16)))
    got = guided_filter(guide, 0.7 * guide + 0.1, 2, 1e-12)
    torch.testing.assert_close(got, 0.7 * guide + 0.1, atol=1e-6, rtol=0)


def test_min_filter_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    a = rng.random((21, 18))
    got = min_filter(torch.from_numpy(a)[None, None], 5)[0, 0].numpy()
    np.testing.assert_array_equal(got, minimum_filter(a, size=5, mode="nearest"))
