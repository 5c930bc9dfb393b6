"""Benchmark preprocessing flags DiffUIR honours.

Spec: docs/methods/diffuir-spec.md, "Preprocessing" and "UDC procedure".

* ``lol-histeq``: per-channel global histogram equalisation of the degraded input, with the
  semantics of OpenCV's ``equalizeHist`` (the official code applies it to LOL inputs).
* ``udc-half-split``: handled by the restorer (it splits the image into width tiles); see
  :func:`width_tiles`.
"""

from __future__ import annotations

import numpy as np

LOL_HISTEQ = "lol-histeq"
UDC_HALF_SPLIT = "udc-half-split"
UDC_TILE = 1024


def equalize_channel(channel: np.ndarray) -> np.ndarray:
    """Histogram-equalise one uint8 channel exactly like ``cv2.equalizeHist``."""
    if channel.dtype != np.uint8:
        raise TypeError(f"expected uint8, got {channel.dtype}")
    hist = np.bincount(channel.ravel(), minlength=256)
    total = channel.size
    if total == 0:
        return channel.copy()
    first = int(np.flatnonzero(hist)[0])
    if hist[first] == total:
        return np.full_like(channel, first)
    scale = np.float32(255.0) / np.float32(total - hist[first])
    counts = np.cumsum(hist).astype(np.int64) - hist[: first + 1].sum()
    counts[: first + 1] = 0
    lut = np.rint(counts.astype(np.float32) * scale)
    lut = np.clip(lut, 0, 255).astype(np.uint8)
    return lut[channel]


def equalize_rgb(image: np.ndarray) -> np.ndarray:
    """Equalise each channel of an HxWxC uint8 image independently."""
    if image.ndim != 3:
        raise ValueError(f"expected an HxWxC image, got shape {image.shape}")
    return np.stack([equalize_channel(image[..., c]) for c in range(image.shape[-1])], axis=-1)


def apply_preprocess(image_uint8_hwc: np.ndarray, flags: frozenset[str]) -> np.ndarray:
    """Apply the per-image flags DiffUIR knows (``lol-histeq``); other flags pass through."""
    if LOL_HISTEQ in flags:
        return equalize_rgb(image_uint8_hwc)
    return image_uint8_hwc


def width_tiles(width: int, tile: int = UDC_TILE) -> list[tuple[int, int]]:
    """Column ranges [start, stop) for the UDC split: full ``tile``-wide tiles from the left.

    For a width of 2048 this is the official split, [(0, 1024), (1024, 2048)]. For other widths
    the last tile is narrower (the remainder); widths up to ``tile`` give one tile.
    """
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    return [(start, min(start + tile, width)) for start in range(0, width, tile)]
