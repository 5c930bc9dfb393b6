"""Lightness order error (no ground truth; lower is better) for low-light enhancement.

Wang, Zheng, Hu, Li, "Naturalness Preserved Enhancement Algorithm for Non-Uniform Illumination
Images", IEEE TIP 22(9), 2013. Convention (the authors' MATLAB LOE.m): lightness L = max over
R, G, B of the uint8 image; both lightness maps are resized with MATLAB imresize (bicubic,
antialiased, uint8 rounding) so the shorter side is 50 pixels (each side round(side * 50 /
min(H, W))); LOE = mean over pixels x of the number of pixels y where [L(x) >= L(y)] differs from
[Le(x) >= Le(y)], L from the degraded input and Le from the enhanced output.
"""

from __future__ import annotations

import numpy as np

from harness.metrics.imresize import imresize

LOE_SIDE = 50


def lightness_order_error(degraded: np.ndarray, enhanced: np.ndarray) -> float:
    """LOE between two uint8 HxWx3 RGB images of the same size."""
    h, w = degraded.shape[:2]
    r = LOE_SIDE / min(h, w)
    size = (int(np.floor(h * r + 0.5)), int(np.floor(w * r + 0.5)))
    light = imresize(degraded.max(axis=2), size).astype(np.int16).ravel()
    light_e = imresize(enhanced.max(axis=2), size).astype(np.int16).ravel()
    total = 0
    for start in range(0, light.size, 512):  # rows of the pairwise comparison, in chunks
        a = light[start : start + 512, None] >= light[None, :]
        b = light_e[start : start + 512, None] >= light_e[None, :]
        total += int(np.count_nonzero(a != b))
    return total / light.size
