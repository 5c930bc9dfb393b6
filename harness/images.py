"""Image decoding with explicit checks: every problem names the file and what to do.

Decoding uses PIL (as DiffUIR's upstream code does, so JPEG inputs decode bit-for-bit alike).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from harness.errors import HarnessError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp")


class ImageDecodeError(HarnessError):
    """An image that cannot be used as is (corrupt, truncated, 16-bit, alpha, empty...)."""


def read_image(path: str | Path, *, convert: bool = False) -> np.ndarray:
    """Decode ``path`` to a uint8 HxWx3 RGB array.

    With ``convert=False`` (scoring) anything but 8-bit RGB/greyscale-free data is an error, so a
    metric never silently scores a changed image. With ``convert=True`` (restorer input) greyscale,
    palette and alpha images are converted to RGB with a warning; 16-bit images are still refused.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("I;16", "I;16B", "I;16L", "I", "F") or mode.startswith("I;16"):
                raise ImageDecodeError(
                    f"{path}: {mode} image ({'16-bit' if '16' in mode else 'integer/float'} "
                    "samples); the harness scores 8-bit images only",
                    hint="convert it to 8-bit RGB (e.g. PIL: im.convert('RGB') after scaling)",
                )
            if mode != "RGB":
                if not convert:
                    what = "an alpha channel" if "A" in mode else f"mode {mode}"
                    raise ImageDecodeError(
                        f"{path}: image has {what}, not 8-bit RGB",
                        hint="save it as RGB without alpha (PIL: im.convert('RGB'))",
                    )
                warnings.warn(f"{path}: converting {mode} image to RGB", stacklevel=2)
                im = im.convert("RGB")
            array = np.asarray(im, dtype=np.uint8)
    except FileNotFoundError:
        raise ImageDecodeError(f"{path}: file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageDecodeError(
            f"{path}: cannot decode image ({exc})",
            hint="the file is corrupt or truncated; re-download it or restore it from the archive",
        ) from None
    if array.ndim != 3 or array.shape[2] != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageDecodeError(f"{path}: empty or malformed image of shape {array.shape}")
    return array


def to_tensor(array: np.ndarray):  # -> torch.Tensor
    """uint8 HxWx3 -> float32 3xHxW in [0, 1] (exactly value/255, like torchvision ToTensor)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))).float().div_(255.0)


def to_uint8(tensor) -> np.ndarray:  # tensor: torch.Tensor [3,H,W] in [0,1]
    """float 3xHxW in [0, 1] -> uint8 HxWx3 with clamp and round-half-even (the metric path)."""
    import torch

    t = tensor.detach().to("cpu", torch.float32).clamp(0, 1).mul(255.0)
    return np.round(t.numpy()).astype(np.uint8).transpose(1, 2, 0)


def write_image(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 HxWx3 array losslessly (PNG unless the suffix says otherwise)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
