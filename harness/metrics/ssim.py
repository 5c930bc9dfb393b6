"""Structural similarity (Wang, Bovik, Sheikh, Simoncelli, IEEE TIP 2004) in its field variants.

SSIM map = ((2 mu_x mu_y + C1)(2 s_xy + C2)) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2)),
C1 = (0.01 L)^2, C2 = (0.03 L)^2, local statistics from a window w by correlation; the score is
the mean of the map (over every channel for colour images). Variants:

* ``gauss11-valid``: 11x11 Gaussian sigma 1.5, only the (H-10)x(W-10) 'valid' map (Wang's
  ssim_index.m, BasicSR ``calculate_ssim``; colour: per-channel SSIM averaged).
* ``gauss11-replicate-full``: the same window with replicate padding and the full HxW map
  (DiffUIR test.py; MATLAB ``ssim``).
* ``gauss3d-replicate-full``: an 11x11x11 Gaussian over (H, W, C) with replicate padding on all
  three axes, full map (DiffUIR test_udc.py; BasicSR 1.3 ``_ssim_3d``). Float64 here; the
  reference ran float32 on CUDA.
* ``uniform7-sample-valid``: 7x7 box window, variances scaled by N/(N-1) = 49/48 (sample
  covariance), map cropped by 3 pixels (scikit-image ``structural_similarity`` defaults).

Implementation: the four maps x, y, x^2+y^2 and x*y are filtered in one separable pass; only the
sum s_x^2 + s_y^2 is needed, which saves one of the usual five filterings.
"""

from __future__ import annotations

import numpy as np

from harness.metrics.filters import correlate_separable, gaussian_kernel_1d

GAUSS_SIZE, GAUSS_SIGMA = 11, 1.5
UNIFORM_SIZE = 7


def ssim_constants(data_range: float) -> tuple[float, float]:
    """(C1, C2) = ((0.01 L)^2, (0.03 L)^2)."""
    return (0.01 * data_range) ** 2, (0.03 * data_range) ** 2


def channel_mix_matrix(channels: int, kernel: np.ndarray) -> np.ndarray:
    """Matrix M so that x @ M.T correlates the channel axis with ``kernel`` under replicate padding."""
    r = len(kernel) // 2
    m = np.zeros((channels, channels), dtype=np.float64)
    for c in range(channels):
        for k, weight in enumerate(kernel):
            m[c, min(max(c + k - r, 0), channels - 1)] += weight
    return m


def _stack(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """HxWx(4C) float64 stack [x, y, x^2 + y^2, x*y] (channels kept together per quantity)."""
    x3 = x if x.ndim == 3 else x[:, :, None]
    y3 = y if y.ndim == 3 else y[:, :, None]
    return np.concatenate([x3, y3, x3 * x3 + y3 * y3, x3 * y3], axis=2)


def _ssim_from_moments(m: np.ndarray, c1: float, c2: float, cov_norm: float = 1.0) -> float:
    """Mean SSIM from filtered moments [mu_x, mu_y, E(x^2+y^2), E(xy)] stacked on the last axis."""
    c = m.shape[2] // 4
    mx, my, sq, xy = (m[:, :, i * c : (i + 1) * c] for i in range(4))
    mxy = mx * my
    mm = mx * mx
    mm += my * my
    num = 2.0 * mxy + c1
    num *= (2.0 * cov_norm) * (xy - mxy) + c2
    den = (sq - mm) * cov_norm + c2
    den *= mm + c1
    return float(np.mean(num / den))


def ssim(x: np.ndarray, y: np.ndarray, variant: str, data_range: float = 255.0) -> float:
    """Mean SSIM of two float64 HxW or HxWxC images under ``variant``."""
    c1, c2 = ssim_constants(data_range)
    stack = _stack(x, y)
    if variant in ("gauss11-valid", "gauss11-replicate-full"):
        g = gaussian_kernel_1d(GAUSS_SIZE, GAUSS_SIGMA)
        m = correlate_separable(stack, g, g, "replicate")
        if variant == "gauss11-valid":
            r = GAUSS_SIZE // 2
            m = m[r:-r, r:-r]
        return _ssim_from_moments(m, c1, c2)
    if variant == "gauss3d-replicate-full":
        if x.ndim != 3:
            raise ValueError("the 3-D SSIM needs HxWxC images")
        g = gaussian_kernel_1d(GAUSS_SIZE, GAUSS_SIGMA)
        mix = channel_mix_matrix(x.shape[2], g)
        h, w, c4 = stack.shape
        mixed = (stack.reshape(h, w, 4, c4 // 4) @ mix.T).reshape(h, w, c4)
        m = correlate_separable(mixed, g, g, "replicate")
        return _ssim_from_moments(m, c1, c2)
    if variant == "uniform7-sample-valid":
        k = np.full(UNIFORM_SIZE, 1.0 / UNIFORM_SIZE)
        m = correlate_separable(stack, k, k, "reflect101")
        r = UNIFORM_SIZE // 2
        n = UNIFORM_SIZE * UNIFORM_SIZE
        return _ssim_from_moments(m[r:-r, r:-r], c1, c2, cov_norm=n / (n - 1.0))
    raise ValueError(f"unknown SSIM variant {variant!r}")
