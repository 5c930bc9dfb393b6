"""Image decoding with explicit checks: every problem names the file and what to do.

This is the one place that decodes image files. Decoding uses PIL (as DiffUIR's upstream code does,
so JPEG inputs decode bit-for-bit alike), from bytes already in memory when the caller has read
them (the runner hashes and decodes the same read). Anything that is not plain 8-bit data is
refused by name (16-bit grey, RGB or RGBA; integer/float samples), never silently reduced; so are
empty and truncated files and decompression bombs (more than twice PIL's ``MAX_IMAGE_PIXELS``).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from harness.errors import HarnessError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp")

# What PIL raises on malformed files: unidentified or truncated (OSError), broken headers
# (SyntaxError, ValueError) and headers declaring too many pixels (DecompressionBombError).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)
_TO_8BIT_HINT = "convert it to 8-bit RGB (e.g. PIL: im.convert('RGB') after scaling)"


class ImageDecodeError(HarnessError):
    """An image that cannot be used as is (corrupt, truncated, 16-bit, alpha, empty...)."""


def _wide_samples(im: Image.Image) -> bool:
    """True when the file stores more than 8 bits per sample that PIL would reduce to 8 on load."""
    for tile in im.tile:
        args = tile[3] if isinstance(tile[3], tuple) else (tile[3],)
        rawmode = args[0] if args and isinstance(args[0], str) else ""
        if ";16" in rawmode or ";32" in rawmode:
            return True  # PNG, TIFF...: e.g. RGB;16B
        if im.format == "PPM" and len(args) > 1 and isinstance(args[1], int) and args[1] > 255:
            return True  # PPM with maxval above 255
    return False


def decode_image(data: bytes, path: str | Path, *, convert: bool = False) -> np.ndarray:
    """Decode the bytes ``data`` of the file ``path`` to a uint8 HxWx3 RGB array.

    With ``convert=False`` (scoring) anything but 8-bit RGB is an error, so a metric never silently
    scores a changed image. With ``convert=True`` (restorer input) greyscale, palette and alpha
    images are converted to RGB with a warning; images with more than 8 bits per sample are still
    refused. ``path`` only names the file in messages.
    """
    if not data:
        raise ImageDecodeError(
            f"{path}: empty file (0 bytes)", hint="re-download it or restore it from the archive"
        )
    try:
        with Image.open(io.BytesIO(data)) as im:
            mode = im.mode
            if mode in ("I", "F") or mode.startswith("I;16"):
                raise ImageDecodeError(
                    f"{path}: {mode} image ({'16-bit' if '16' in mode else 'integer/float'} "
                    "samples); the harness scores 8-bit images only",
                    hint=_TO_8BIT_HINT,
                )
            if _wide_samples(im):
                raise ImageDecodeError(
                    f"{path}: 16-bit {mode} image; the harness scores 8-bit images only",
                    hint=_TO_8BIT_HINT,
                )
            im.load()
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
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(
            f"{path}: refused to decode ({exc})",
            hint="the header declares an image far larger than any benchmark image; "
            "the file is corrupt or hostile, restore it from the archive",
        ) from None
    except UnidentifiedImageError:
        raise ImageDecodeError(
            f"{path}: cannot decode image (not a format PIL recognises)",
            hint="the file is corrupt or not an image; re-download it or restore it",
        ) from None
    except _DECODE_ERRORS as exc:
        raise ImageDecodeError(
            f"{path}: cannot decode image ({exc})",
            hint="the file is corrupt or truncated; re-download it or restore it from the archive",
        ) from None
    if array.ndim != 3 or array.shape[2] != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageDecodeError(f"{path}: empty or malformed image of shape {array.shape}")
    return array


def read_file(path: str | Path) -> bytes:
    """The bytes of an image file; a file that cannot be read is an ImageDecodeError naming it."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ImageDecodeError(f"{path}: file not found") from None
    except OSError as exc:
        raise ImageDecodeError(f"{path}: cannot read ({exc.strerror or exc})") from None


def read_image(path: str | Path, *, convert: bool = False) -> np.ndarray:
    """Read and decode ``path`` to a uint8 HxWx3 RGB array (see :func:`decode_image`)."""
    return decode_image(read_file(path), path, convert=convert)


def image_size(path: str | Path) -> tuple[int, int] | None:
    """(height, width) from the image header, or None if it cannot be read (decoding says why)."""
    try:
        with Image.open(path) as im:
            return im.height, im.width
    except _DECODE_ERRORS:
        return None


def to_tensor(array: np.ndarray):  # -> torch.Tensor
    """uint8 HxWx3 -> float32 3xHxW in [0, 1] (exactly value/255, like torchvision ToTensor)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))).float().div_(255.0)


def tensor_values(tensor) -> np.ndarray:  # tensor: torch.Tensor
    """A tensor's values as a numpy array on the CPU; float32 and float64 without a torch
    operation (one on a scoring thread would start a second OpenMP team beside the model's),
    other dtypes (half, bfloat16...) converted to float32 by torch."""
    t = tensor.detach().cpu()
    if t.dtype.is_floating_point and t.dtype.itemsize >= 4:
        return t.numpy()
    return t.float().numpy()


def to_uint8(tensor) -> np.ndarray:  # tensor: torch.Tensor [3,H,W] in [0,1]
    """float 3xHxW in [0, 1] -> uint8 HxWx3 with clamp and round-half-even in float32 (the metric
    path)."""
    values = np.clip(tensor_values(tensor).astype(np.float32, copy=False), 0, 1)
    return np.round(values * np.float32(255.0)).astype(np.uint8).transpose(1, 2, 0)


def write_image(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 HxWx3 array losslessly (PNG unless the suffix says otherwise)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
