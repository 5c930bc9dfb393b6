"""Colour conversions of uint8 RGB images, with the exact coefficients and rounding of each source.

* BT.601 studio-swing luma (ITU-R BT.601; MATLAB ``rgb2ycbcr``; BasicSR ``to_y_channel``):
  Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 for uint8 R, G, B, in [16, 235].
* BasicSR ``to_y_channel`` (also DiffUIR's ``metrics/metric_util.py``) on a uint8 image: each
  channel divided by 255 in float32, the weighted sum plus 16 taken in float64 and divided by 255,
  stored as float32 and multiplied by 255 in float32 (no rounding to integers).
* MATLAB ``rgb2ycbcr`` on uint8 returns that Y rounded half away from zero to uint8, computed
  as imlincomb((1/255)*65.481, R, (1/255)*128.553, G, (1/255)*24.966, B, 16) in double; the
  order matters at exact .5 ties, which do occur for some RGB triples.
* MATLAB ``rgb2gray`` weights are the first row of the inverse NTSC (YIQ) matrix, applied in
  double and rounded half away from zero for uint8 input.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from harness.metrics.filters import cv2
from harness.metrics.parallel import map_strips, scratch

BT601_Y_WEIGHTS = (65.481, 128.553, 24.966)
BT601_Y_OFFSET = 16.0
RGB2GRAY_WEIGHTS = (0.298936021293775, 0.587043074451121, 0.114020904255103)
_Y_WEIGHTS = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)
_Y_WEIGHTS_MATLAB = ((1 / 255) * 65.481, (1 / 255) * 128.553, (1 / 255) * 24.966)


def _weighted_sum(
    rgb: np.ndarray,
    weights: tuple[float, float, float],
    offset: float,
    fast: bool = False,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """offset + sum_c weights[c] * rgb[..., c] in float64, accumulated R, G, B in that order
    (``fast``: one OpenCV pass whose summation order may differ by an ulp; unrounded use only;
    written into ``out`` when given)."""
    if fast and cv2 is not None:
        x = scratch("rgb-float64", rgb.shape)
        np.copyto(x, rgb)
        result = cv2.transform(x, np.array([[*weights, offset]], np.float64), dst=out)
        if out is not None and result is not out:
            out[...] = result
        return result if out is None else out
    x = rgb.astype(np.float64)
    out = x[..., 0] * weights[0]
    out += x[..., 1] * weights[1]
    out += x[..., 2] * weights[2]
    out += offset
    return out


def rgb_to_y_bt601(rgb: np.ndarray) -> np.ndarray:
    """Unrounded BT.601 luma in [16, 235] (float64 HxW) of a uint8 HxWx3 RGB image."""
    return _weighted_sum(rgb, _Y_WEIGHTS, BT601_Y_OFFSET, fast=True)


def rgb_to_y_bt601_float32(rgb: np.ndarray) -> np.ndarray:
    """BasicSR ``to_y_channel`` luma of a uint8 HxWx3 RGB image, with its float32 steps (HxW)."""
    unit = (rgb.astype(np.float32) / np.float32(255.0)).astype(np.float64)
    y = _weighted_sum(unit, BT601_Y_WEIGHTS, BT601_Y_OFFSET) / 255.0
    return y.astype(np.float32) * np.float32(255.0)


def _y_matlab_unrounded(rgb: np.ndarray) -> np.ndarray:
    # rgb2ycbcr.m for uint8: T = (1/255) * origT, then imlincomb(T1, R, T2, G, T3, B, 16)
    return _weighted_sum(rgb, _Y_WEIGHTS_MATLAB, BT601_Y_OFFSET, fast=False)


def round_half_away(x: np.ndarray) -> np.ndarray:
    """MATLAB's rounding to uint8 (half away from zero, saturating), as float64."""
    return np.clip(np.floor(np.abs(x) + 0.5) * np.sign(x), 0.0, 255.0)


def rgb_to_y_matlab(rgb: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2ycbcr(uint8)`` luma: BT.601 Y rounded to integers (float64 HxW)."""
    return round_half_away(_y_matlab_unrounded(rgb))


def rgb_to_gray_matlab(rgb: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2gray(uint8)``: weighted sum rounded to integers (float64 HxW)."""
    return round_half_away(_weighted_sum(rgb, RGB2GRAY_WEIGHTS, 0.0))


def _into(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray, np.ndarray], None]:
    def write(rgb: np.ndarray, out: np.ndarray) -> None:
        out[...] = fn(rgb)

    return write


_CONVERSIONS: dict[str, Callable[[np.ndarray, np.ndarray], object]] = {
    "rgb": lambda rgb, out: np.copyto(out, rgb),
    "y-bt601-float": lambda rgb, out: _weighted_sum(rgb, _Y_WEIGHTS, BT601_Y_OFFSET, True, out),
    "y-bt601-float32": _into(rgb_to_y_bt601_float32),
    "y-matlab-rgb2ycbcr": _into(rgb_to_y_matlab),
    "gray-matlab-rgb2gray": _into(rgb_to_gray_matlab),
}


def converted_shape(shape: tuple[int, ...], color: str) -> tuple[int, ...]:
    """Shape of :func:`convert`'s result for a uint8 image of ``shape`` (ValueError if unknown)."""
    if color not in _CONVERSIONS:
        raise ValueError(f"unknown colour space {color!r}")
    return tuple(shape) if color == "rgb" else tuple(shape[:2])


def convert_into(rgb: np.ndarray, color: str, out: np.ndarray) -> np.ndarray:
    """:func:`convert` written into ``out`` (float64, :func:`converted_shape`), on this thread."""
    _CONVERSIONS[color](rgb, out)
    return out


def convert(rgb: np.ndarray, color: str) -> np.ndarray:
    """uint8 HxWx3 RGB -> float64 HxW (luma/gray) or HxWx3 (rgb) in the protocol's colour space
    (pixel by pixel, so row strips run on the metric threads)."""
    out = np.empty(converted_shape(rgb.shape, color), np.float64)
    map_strips(lambda start, stop: convert_into(rgb[start:stop], color, out[start:stop]), len(rgb))
    return out
