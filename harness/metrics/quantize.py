"""Quantisation of a float restored image to what the protocol scores.

``round-even`` is BasicSR/DiffUIR ``tensor2img`` (float32 x*255, numpy round half to even);
``floor-half-up`` is torchvision ``save_image`` (float32 floor(255 x + 0.5)) and MATLAB im2uint8;
``jpeg`` additionally re-saves with PIL at the given quality (PIL's default 4:2:0 subsampling), as
DiffUIR's save path does for .jpg inputs; ``none`` clamps to [0, 1] and keeps the float values.
"""

from __future__ import annotations

import io

import numpy as np


def quantize(image: np.ndarray, mode: str, jpeg_quality: int | None = None) -> np.ndarray:
    """float32 HxWx3 in [0,1] -> uint8 HxWx3 (or float64 x255 for ``none``) under ``mode``."""
    x = np.clip(image.astype(np.float32, copy=False), 0.0, 1.0)
    if mode == "none":
        return x.astype(np.float64) * 255.0
    scaled = x * np.float32(255.0)
    if mode == "round-even":
        return np.round(scaled).astype(np.uint8)
    if mode in ("floor-half-up", "jpeg"):
        out = np.floor(scaled + np.float32(0.5)).astype(np.uint8)
        if mode == "jpeg":
            out = jpeg_roundtrip(out, jpeg_quality or 75)
        return out
    raise ValueError(f"unknown quantisation {mode!r}")


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode a uint8 RGB image as JPEG with PIL at ``quality`` and decode it again."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)
