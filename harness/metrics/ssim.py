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
only the sum s_x^2 + s_y^2 is needed, which saves one of the usual five filterings. Each plane is
scored in row strips on the metric threads (:mod:`harness.metrics.parallel`): a strip filters its
rows plus the window's radius of true neighbours, so its map values equal the whole-image ones,
and its planes stay in cache; the strip sums are added in strip order (deterministic).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from harness.metrics.filters import correlate_separable, cv2, gaussian_kernel_1d
from harness.metrics.parallel import map_strips, scratch

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


@dataclass(frozen=True)
class Window:
    """How an SSIM variant filters: taps, border, map crop, covariance scale, 3-D or not."""

    kernel: np.ndarray
    border: str
    crop: int
    cov_norm: float = 1.0
    three_d: bool = False

    @property
    def radius(self) -> int:
        """Rows of neighbours each side that one map row depends on."""
        return len(self.kernel) // 2


@functools.cache
def window(variant: str) -> Window:
    """The filtering of SSIM ``variant`` (ValueError when unknown); built once per variant."""
    gauss = gaussian_kernel_1d(GAUSS_SIZE, GAUSS_SIGMA)
    if variant == "gauss11-valid":
        return Window(gauss, "replicate", GAUSS_SIZE // 2)
    if variant == "gauss11-replicate-full":
        return Window(gauss, "replicate", 0)
    if variant == "gauss3d-replicate-full":
        return Window(gauss, "replicate", 0, three_d=True)
    if variant == "uniform7-sample-valid":
        n = UNIFORM_SIZE * UNIFORM_SIZE
        uniform = np.full(UNIFORM_SIZE, 1.0 / UNIFORM_SIZE)
        return Window(uniform, "reflect101", UNIFORM_SIZE // 2, n / (n - 1.0))
    raise ValueError(f"unknown SSIM variant {variant!r}")


def halo(start: int, stop: int, height: int, radius: int) -> tuple[int, int]:
    """Image rows [lo, hi) to filter for map rows [start, stop): ``radius`` true neighbours each
    side where the image has them, so the strip's map values equal the whole image's."""
    return max(start - radius, 0), min(stop + radius, height)


def _plane(x: np.ndarray, channel: int, name: str) -> np.ndarray:
    """Contiguous plane ``channel`` of an HxW or HxWxC array (filtering planes beats interleaved)."""
    if x.ndim == 2:
        return np.ascontiguousarray(x)
    plane = scratch(f"{name}{channel}", x.shape[:2])
    np.copyto(plane, x[:, :, channel])
    return plane


def _buffers(rows: int, width: int) -> list[np.ndarray]:
    """This thread's seven scratch planes of ``rows`` x ``width``."""
    return list(scratch("ssim", (7, rows, width)))


def _add_square(src: np.ndarray, dst: np.ndarray) -> None:
    """dst += src^2 in one pass."""
    if cv2 is not None:
        cv2.accumulateSquare(src, dst)
    else:  # pragma: no cover - exercised only without OpenCV
        dst += src * src


def _weighted(
    a: np.ndarray, alpha: float, b: np.ndarray, beta: float, gamma: float, out: np.ndarray
) -> None:
    """out = alpha a + beta b + gamma in one pass (``out`` may be ``a`` or ``b``)."""
    if cv2 is not None:
        cv2.addWeighted(a, alpha, b, beta, gamma, dst=out)
    else:  # pragma: no cover - exercised only without OpenCV
        np.add(a * alpha, b * beta, out=out)
        out += gamma


def _squares(x: np.ndarray, y: np.ndarray, sq: np.ndarray, xy: np.ndarray) -> None:
    """sq = x^2 + y^2 and xy = x*y, in place."""
    np.multiply(x, x, out=sq)
    _add_square(y, sq)
    np.multiply(x, y, out=xy)


def _map_sum(
    maps: list[np.ndarray],
    win: Window,
    rows: tuple[int, int],
    c1: float,
    c2: float,
    bufs: list[np.ndarray],
) -> float:
    """Sum of the SSIM map over ``rows`` of the filtered maps and columns [crop, W - crop), from
    the unfiltered [x, y, x^2+y^2, xy] of one plane."""
    a, b, mx, my, msq, mxy, g = bufs
    for src, dst in zip(maps, (mx, my, msq, mxy), strict=True):
        correlate_separable(src, win.kernel, win.kernel, win.border, out=dst)
    keep = (slice(*rows), slice(win.crop, mx.shape[1] - win.crop))
    a, b, mx, my, msq, mxy, g = (v[keep] for v in (a, b, mx, my, msq, mxy, g))
    cov = win.cov_norm
    np.multiply(mx, my, out=a)  # mu_x mu_y
    np.multiply(my, my, out=b)
    _add_square(mx, b)  # mu_x^2 + mu_y^2
    _weighted(mxy, 2.0 * cov, a, -2.0 * cov, c2, out=g)  # 2 s_xy + C2
    _weighted(a, 2.0, a, 0.0, c1, out=a)  # 2 mu_x mu_y + C1
    a *= g  # numerator
    _weighted(msq, cov, b, -cov, c2, out=g)  # s_x^2 + s_y^2 + C2
    b += c1
    g *= b  # denominator
    a /= g
    return float(a.sum())


def ssim_rows_sum(
    x: np.ndarray,
    y: np.ndarray,
    variant: str,
    data_range: float,
    rows: tuple[int, int],
    lo: int,
    height: int,
) -> float:
    """Sum of the SSIM map over image rows ``rows`` (cut to the variant's crop) of an image of
    ``height`` rows; ``x``, ``y`` hold its rows [lo, lo + len(x)), which must be
    ``halo(*rows, height, window(variant).radius)``."""
    win = window(variant)
    c1, c2 = ssim_constants(data_range)
    first = max(rows[0], win.crop)
    kept = (first - lo, max(min(rows[1], height - win.crop), first) - lo)
    bufs = _buffers(*x.shape[:2])
    channels = 1 if x.ndim == 2 else x.shape[2]
    planes = [(_plane(x, c, "ssim-x"), _plane(y, c, "ssim-y")) for c in range(channels)]
    if not win.three_d:
        total = 0.0
        for xc, yc in planes:
            sq, xy = bufs[0], bufs[1]
            _squares(xc, yc, sq, xy)
            total += _map_sum([xc, yc, sq, xy], win, kept, c1, c2, bufs)
        return total
    # 3-D window: the channel axis is correlated first (replicate), then H and W
    raw = []
    for c, (xc, yc) in enumerate(planes):
        sq, xy = scratch(f"ssim-sq{c}", xc.shape), scratch(f"ssim-xy{c}", xc.shape)
        _squares(xc, yc, sq, xy)
        raw.append((xc, yc, sq, xy))
    mix = channel_mix_matrix(channels, win.kernel)
    total = 0.0
    for c in range(channels):
        mixed = [sum(mix[c, d] * raw[d][q] for d in range(channels)) for q in range(4)]
        total += _map_sum(mixed, win, kept, c1, c2, bufs)
    return total


def map_size(shape: tuple[int, ...], variant: str) -> int:
    """Number of SSIM map values (every channel) of an HxW or HxWxC image under ``variant``."""
    crop = window(variant).crop
    channels = shape[2] if len(shape) == 3 else 1
    return channels * (shape[0] - 2 * crop) * (shape[1] - 2 * crop)


def ssim(x: np.ndarray, y: np.ndarray, variant: str, data_range: float = 255.0) -> float:
    """Mean SSIM of two float64 HxW or HxWxC images under ``variant``."""
    win = window(variant)
    if win.three_d and x.ndim != 3:
        raise ValueError("the 3-D SSIM needs HxWxC images")
    height = x.shape[0]

    def strip(start: int, stop: int) -> float:
        lo, hi = halo(start, stop, height, win.radius)
        return ssim_rows_sum(x[lo:hi], y[lo:hi], variant, data_range, (start, stop), lo, height)

    return sum(map_strips(strip, height)) / map_size(x.shape, variant)
