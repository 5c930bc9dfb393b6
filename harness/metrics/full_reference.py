"""PSNR (with its MSE) and SSIM of one uint8 image pair in one pass of row strips.

Each strip converts its rows of both images (plus the SSIM window's radius of neighbours) into
the protocol's colour space in this thread's scratch planes, adds up its squared errors and its
SSIM map values; strips run on the metric threads and their sums are added in strip order. No
whole-image float copy is made: the scores equal converting the whole images first (the same
values per pixel, sums regrouped by strip: ~1e-16 relative).
"""

from __future__ import annotations

import numpy as np

from harness.metrics import color as colorspace
from harness.metrics.parallel import map_strips, scratch
from harness.metrics.protocols import Protocol
from harness.metrics.psnr import psnr_from_mse, squared_error_sum
from harness.metrics.ssim import halo, map_size, ssim_rows_sum, window


def psnr_ssim(restored: np.ndarray, target: np.ndarray, protocol: Protocol) -> dict[str, float]:
    """``psnr`` (plus ``mse`` under pooled-mse) and ``ssim``, as ``protocol`` lists them, of two
    equally shaped uint8 HxWx3 images (already cropped to the protocol's border)."""
    want_psnr = "psnr" in protocol.metrics
    variant = protocol.ssim if "ssim" in protocol.metrics else None
    radius = window(variant).radius if variant else 0
    height = restored.shape[0]
    shape = colorspace.converted_shape(restored.shape, protocol.color)

    def strip(start: int, stop: int) -> tuple[float, float]:
        lo, hi = halo(start, stop, height, radius)
        x = colorspace.convert_into(
            restored[lo:hi], protocol.color, scratch("x", (hi - lo, *shape[1:]))
        )
        y = colorspace.convert_into(target[lo:hi], protocol.color, scratch("y", x.shape))
        if protocol.data_range == 1.0:
            x /= 255.0
            y /= 255.0
        errors = squared_error_sum(x[start - lo : stop - lo], y[start - lo : stop - lo])
        if variant is None:
            return errors, 0.0
        rows = (start, stop)
        return errors, ssim_rows_sum(x, y, variant, protocol.data_range, rows, lo, height)

    parts = map_strips(strip, height)
    scores: dict[str, float] = {}
    if want_psnr:
        mse = sum(part[0] for part in parts) / float(np.prod(shape))
        scores["psnr"] = psnr_from_mse(mse, protocol.data_range)
        if protocol.aggregation == "pooled-mse":
            scores["mse"] = mse
    if variant is not None:
        scores["ssim"] = sum(part[1] for part in parts) / map_size(shape, variant)
    return scores
