"""Test-time geometry: the official test scripts' convention of reflect-padding to a multiple.

Networks that downsample k times need H and W divisible by 2**k. Their official tests pad the input
at the bottom and right by reflection up to the next multiple and crop the output back; the ground
truth is never touched. One owner for every plugin (and for DiffUIR-style padding inside a network).

Some official test scripts instead centre-crop input *and* ground truth down to a multiple
(PromptIR, AdaIR: ``crop_img(base=16)``); :func:`centre_crop_box` is where that crop lies, used
only by protocols that declare it (``Protocol.input_crop``).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from harness.errors import HarnessError


def pad_to_multiple(
    images: torch.Tensor, multiple: int, mode: Literal["reflect", "replicate"] = "reflect"
) -> torch.Tensor:
    """Reflect-pad [B, C, H, W] at the bottom and right up to the next multiple of ``multiple``.

    Sizes already divisible are left alone. Reflection cannot reach further than the image is wide,
    so an image smaller than the padding it needs is an error. ``mode="replicate"`` repeats the last
    row and column instead (the official test of Perceive-IR), which any size allows.
    """
    h, w = images.shape[-2:]
    pad_h, pad_w = -h % multiple, -w % multiple
    if pad_h == 0 and pad_w == 0:
        return images
    if mode == "reflect" and (pad_h >= h or pad_w >= w):
        raise HarnessError(
            f"a {h}x{w} image is too small to reflect-pad to a multiple of {multiple}",
            hint=f"use images of at least {multiple}x{multiple} pixels",
        )
    return F.pad(images, (0, pad_w, 0, pad_h), mode=mode)


def crop_to(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The top-left ``height`` x ``width`` of [B, C, H, W] (undoes :func:`pad_to_multiple`)."""
    return images[..., :height, :width]


def centre_crop_box(height: int, width: int, multiple: int) -> tuple[slice, slice]:
    """Rows and columns of the centred ``multiple``-divisible crop of a ``height`` x ``width`` image.

    Per axis of size n with r = n mod ``multiple``: keep [r // 2, n - r + r // 2), so an odd
    remainder drops one more pixel at the bottom/right than at the top/left. An image smaller
    than ``multiple`` on either axis is an error (nothing would be left).
    """
    if height < multiple or width < multiple:
        raise HarnessError(
            f"a {height}x{width} image is smaller than the multiple of {multiple} it is "
            "centre-cropped to",
            hint=f"this protocol needs images of at least {multiple}x{multiple} pixels",
        )
    rh, rw = height % multiple, width % multiple
    return slice(rh // 2, height - rh + rh // 2), slice(rw // 2, width - rw + rw // 2)


def centre_crop(x: Any, multiple: int) -> Any:
    """``x`` (an HxWxC array or a [..., H, W] tensor) centre-cropped to a multiple of ``multiple``
    (:func:`centre_crop_box`); unchanged when ``multiple`` is 0."""
    if not multiple:
        return x
    if isinstance(x, torch.Tensor):
        rows, cols = centre_crop_box(int(x.shape[-2]), int(x.shape[-1]), multiple)
        return x[..., rows, cols]
    rows, cols = centre_crop_box(x.shape[0], x.shape[1], multiple)
    return x[rows, cols]


def run_padded(network: nn.Module, images: torch.Tensor, multiple: int) -> torch.Tensor:
    """``network`` on reflect-padded ``images``, cropped back to their size (not clamped)."""
    h, w = images.shape[-2:]
    return crop_to(network(pad_to_multiple(images, multiple)), h, w)
