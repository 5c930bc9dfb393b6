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

Implementation: the four maps x, y, x^2+y^2 and x*y are filtered separably (contiguous planes);
only the sum s_x^2 + s_y^2 is needed, which saves one of the usual five filterings.
"""

from __future__ import annotations

import threading

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


def _planes(x: np.ndarray) -> list[np.ndarray]:
    """Contiguous HxW planes of an HxW or HxWxC image (filtering planes beats interleaved)."""
    if x.ndim == 2:
        return [np.ascontiguousarray(x)]
    return [np.ascontiguousarray(x[:, :, c]) for c in range(x.shape[2])]


_workspace = threading.local()


def _buffers(shape: tuple[int, ...], count: int = 7) -> list[np.ndarray]:
    """Per-thread scratch planes, reused between calls of the same size (fresh large arrays cost
    page faults that dominate the arithmetic)."""
    cached = getattr(_workspace, "planes", None)
    if cached is None or cached[0] != shape:
        cached = (shape, [np.empty(shape, np.float64) for _ in range(count)])
        _workspace.planes = cached
    return cached[1]


def _squares(x: np.ndarray, y: np.ndarray, sq: np.ndarray, xy: np.ndarray) -> None:
    """sq = x^2 + y^2 and xy = x*y, in place."""
    np.multiply(x, x, out=sq)
    np.multiply(y, y, out=xy)
    sq += xy
    np.multiply(x, y, out=xy)


def _ssim_sum(
    maps: list[np.ndarray],
    k: np.ndarray,
    border: str,
    crop: int,
    c1: float,
    c2: float,
    cov_norm: float,
    bufs: list[np.ndarray],
) -> tuple[float, int]:
    """(sum, count) of the SSIM map of one plane from its unfiltered [x, y, x^2+y^2, xy]."""
    a, b, mx, my, msq, mxy, g = bufs
    for src, dst in zip(maps, (mx, my, msq, mxy), strict=True):
        correlate_separable(src, k, k, border, out=dst)
    if crop:
        a, b, mx, my, msq, mxy, g = (v[crop:-crop, crop:-crop] for v in (a, b, mx, my, msq, mxy, g))
    np.multiply(mx, my, out=a)  # mu_x mu_y
    np.multiply(mx, mx, out=b)
    np.multiply(my, my, out=g)
    b += g  # mu_x^2 + mu_y^2
    np.subtract(mxy, a, out=g)
    g *= 2.0 * cov_norm
    g += c2
    a *= 2.0
    a += c1
    a *= g  # numerator
    np.subtract(msq, b, out=g)
    if cov_norm != 1.0:
        g *= cov_norm
    g += c2
    b += c1
    g *= b  # denominator
    a /= g
    return float(a.sum()), a.size


def _mean_ssim(
    xs: list[np.ndarray],
    ys: list[np.ndarray],
    k: np.ndarray,
    border: str,
    crop: int,
    c1: float,
    c2: float,
    cov_norm: float = 1.0,
) -> float:
    """Mean SSIM over every plane pair."""
    bufs = _buffers(xs[0].shape)
    total, count = 0.0, 0
    for x, y in zip(xs, ys, strict=True):
        sq, xy = bufs[0], bufs[1]
        _squares(x, y, sq, xy)
        s, n = _ssim_sum([x, y, sq, xy], k, border, crop, c1, c2, cov_norm, bufs)
        total += s
        count += n
    return total / count


def _mean_ssim_3d(xs: list[np.ndarray], ys: list[np.ndarray], c1: float, c2: float) -> float:
    """3-D Gaussian SSIM: the channel axis is correlated first (replicate), then H and W."""
    g = gaussian_kernel_1d(GAUSS_SIZE, GAUSS_SIGMA)
    mix = channel_mix_matrix(len(xs), g)
    raw = []
    for x, y in zip(xs, ys, strict=True):
        sq, xy = np.empty_like(x), np.empty_like(x)
        _squares(x, y, sq, xy)
        raw.append([x, y, sq, xy])
    bufs = _buffers(xs[0].shape)
    total, count = 0.0, 0
    for c in range(len(xs)):
        mixed = [sum(mix[c, d] * raw[d][q] for d in range(len(xs))) for q in range(4)]
        s, n = _ssim_sum(mixed, g, "replicate", 0, c1, c2, 1.0, bufs)
        total += s
        count += n
    return total / count


def ssim(x: np.ndarray, y: np.ndarray, variant: str, data_range: float = 255.0) -> float:
    """Mean SSIM of two float64 HxW or HxWxC images under ``variant``."""
    c1, c2 = ssim_constants(data_range)
    xs, ys = _planes(x), _planes(y)
    if variant in ("gauss11-valid", "gauss11-replicate-full"):
        g = gaussian_kernel_1d(GAUSS_SIZE, GAUSS_SIGMA)
        crop = GAUSS_SIZE // 2 if variant == "gauss11-valid" else 0
        return _mean_ssim(xs, ys, g, "replicate", crop, c1, c2)
    if variant == "gauss3d-replicate-full":
        if x.ndim != 3:
            raise ValueError("the 3-D SSIM needs HxWxC images")
        return _mean_ssim_3d(xs, ys, c1, c2)
    if variant == "uniform7-sample-valid":
        k = np.full(UNIFORM_SIZE, 1.0 / UNIFORM_SIZE)
        n = UNIFORM_SIZE * UNIFORM_SIZE
        crop = UNIFORM_SIZE // 2
        return _mean_ssim(xs, ys, k, "reflect101", crop, c1, c2, n / (n - 1.0))
    raise ValueError(f"unknown SSIM variant {variant!r}")
