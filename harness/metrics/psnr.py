"""Peak signal-to-noise ratio: PSNR = 10 log10(L^2 / MSE) in float64; identical images give +inf."""

from __future__ import annotations

import math

import numpy as np

from harness.metrics.filters import cv2
from harness.metrics.parallel import map_strips, scratch


def squared_error_sum(x: np.ndarray, y: np.ndarray) -> float:
    """Sum of (x - y)^2 over every element, in float64."""
    if cv2 is not None and x.dtype == y.dtype == np.float64 and _cv2_layout(x) and _cv2_layout(y):
        return cv2.norm(x, y, cv2.NORM_L2SQR)  # one pass, float64 accumulation
    d = scratch("squared-error", x.shape)
    np.subtract(x, y, out=d, dtype=np.float64)
    np.square(d, out=d)
    return float(d.sum())


def _cv2_layout(a: np.ndarray) -> bool:
    """Whether OpenCV reads ``a`` in place as one HxW or HxWxC matrix."""
    return a.flags.c_contiguous and 2 <= a.ndim <= 3 and (a.ndim == 2 or a.shape[2] <= 4)


def mean_squared_error(x: np.ndarray, y: np.ndarray) -> float:
    """Mean of (x - y)^2 over every element, accumulated in float64 (row strips on the metric
    threads, their sums added in strip order)."""
    sums = map_strips(lambda start, stop: squared_error_sum(x[start:stop], y[start:stop]), len(x))
    return sum(sums) / x.size


def psnr_from_mse(mse: float, data_range: float = 255.0) -> float:
    """PSNR in dB for a given MSE; ``inf`` when the MSE is exactly zero."""
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range * data_range / mse)


def psnr(x: np.ndarray, y: np.ndarray, data_range: float = 255.0) -> float:
    """PSNR in dB of two equally shaped float64 arrays on the scale of ``data_range``."""
    return psnr_from_mse(mean_squared_error(x, y), data_range)
