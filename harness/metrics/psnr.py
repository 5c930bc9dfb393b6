"""Peak signal-to-noise ratio: PSNR = 10 log10(L^2 / MSE) in float64; identical images give +inf."""

from __future__ import annotations

import math

import numpy as np


def mean_squared_error(x: np.ndarray, y: np.ndarray) -> float:
    """Mean of (x - y)^2 over every element, accumulated in float64."""
    d = np.subtract(x, y, dtype=np.float64)
    np.square(d, out=d)
    return float(d.sum() / d.size)


def psnr_from_mse(mse: float, data_range: float = 255.0) -> float:
    """PSNR in dB for a given MSE; ``inf`` when the MSE is exactly zero."""
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range * data_range / mse)


def psnr(x: np.ndarray, y: np.ndarray, data_range: float = 255.0) -> float:
    """PSNR in dB of two equally shaped float64 arrays on the scale of ``data_range``."""
    return psnr_from_mse(mean_squared_error(x, y), data_range)
