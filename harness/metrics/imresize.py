"""MATLAB-compatible ``imresize`` (bicubic, antialiasing when shrinking), as used by SOTS.m and NIQE.

Convention (MATLAB Image Processing Toolbox ``imresize``): Keys' cubic kernel with a = -0.5; when
shrinking by a scale s < 1 the kernel is stretched to h(x) = s * cubic(s x) with support 4/s;
output pixel j (1-based) samples input coordinate u = j/s + (1 - 1/s)/2; out-of-range taps are
mirrored (symmetric padding); weights are normalised to sum to one; the dimension with the
smaller scale is resized first (rows first on ties); uint8 input gives rounded, saturated uint8.
"""

from __future__ import annotations

import math

import numpy as np


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


def resize_matrix(in_len: int, out_len: int, scale: float, antialias: bool = True) -> np.ndarray:
    """Dense (out_len x in_len) float64 matrix W so that ``W @ column`` resizes a column."""
    kernel_width = 4.0
    if scale < 1 and antialias:
        kernel_width = 4.0 / scale

        def kernel(x: np.ndarray) -> np.ndarray:
            return scale * cubic(scale * x)
    else:
        kernel = cubic
    j = np.arange(1, out_len + 1, dtype=np.float64)
    u = j / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - kernel_width / 2.0)
    taps = int(math.ceil(kernel_width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]  # 1-based input positions
    weights = kernel(u[:, None] - idx)
    weights /= weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    cols = mirror[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    matrix = np.zeros((out_len, in_len), dtype=np.float64)
    np.add.at(matrix, (np.repeat(np.arange(out_len), taps), cols.ravel()), weights.ravel())
    return matrix


def imresize(
    image: np.ndarray,
    output_shape: tuple[int, int] | None = None,
    scale: float | None = None,
    antialias: bool = True,
) -> np.ndarray:
    """Resize an HxW or HxWxC image like MATLAB ``imresize(image, scale|[H W], 'bicubic')``."""
    if (output_shape is None) == (scale is None):
        raise ValueError("give exactly one of output_shape and scale")
    h, w = image.shape[:2]
    if output_shape is None:
        assert scale is not None
        out_h, out_w = math.ceil(h * scale), math.ceil(w * scale)
        scales = (float(scale), float(scale))
    else:
        out_h, out_w = output_shape
        scales = (out_h / h, out_w / w)
    was_uint8 = image.dtype == np.uint8
    x = image.astype(np.float64)
    order = (0, 1) if scales[0] <= scales[1] else (1, 0)
    for axis in order:
        in_len, out_len = x.shape[axis], (out_h, out_w)[axis]
        if in_len == out_len and scales[axis] == 1.0:
            continue
        m = resize_matrix(in_len, out_len, scales[axis], antialias)
        x = np.tensordot(m, x, axes=([1], [axis]))
        if axis == 1:
            x = np.moveaxis(x, 0, 1)
    if was_uint8:
        return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)
    return x
