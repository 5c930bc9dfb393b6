"""Score restored images under a :class:`Protocol`: one image (numpy) or a batch (torch).

Input conventions: ``restored`` is float HxWx3 RGB in [0, 1] (the model's output in memory; the
protocol's quantisation is applied) or uint8 HxWx3 (already quantised, e.g. read from disk);
``target`` and ``degraded`` are uint8 HxWx3 RGB. Float values up to 1/255 outside [0, 1] are
clamped (as every reference does); anything further out is an error, as are NaN/inf, wrong
shapes or channel counts, other dtypes (16-bit...) and empty images. The ``IQA_METRICS`` of the
opt-in ``iqa-*`` protocols are pyiqa's, scored on the quantised uint8 image.

A protocol with ``input_crop`` centre-crops every image it is given (restored, target, degraded)
to that multiple first: a no-op for the runner's outputs, whose inputs were cropped before
restoring, and the upstream geometry for ``harness score`` against full-size ground truth.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.errors import HarnessError
from harness.images import tensor_values
from harness.metrics import color as colorspace
from harness.metrics.full_reference import psnr_ssim
from harness.metrics.imresize import imresize
from harness.metrics.loe import lightness_order_error
from harness.metrics.niqe import niqe
from harness.metrics.niqe_diffuir import niqe_diffuir
from harness.metrics.protocols import FULL_REFERENCE_METRICS, IQA_METRICS, Protocol
from harness.metrics.psnr import psnr_from_mse
from harness.metrics.quantize import quantize

RANGE_TOLERANCE = 1.0 / 255.0
NIQE_VARIANTS = {"mittal2013-96px": niqe, "basicsr-f32-linear-96px": niqe_diffuir}


def _fail(name: str, role: str, problem: str) -> HarnessError:
    label = f"{name}: " if name else ""
    return HarnessError(f"{label}{role} image {problem}")


def _check(image: Any, role: str, name: str, allow_float: bool) -> np.ndarray:
    """Validate one image and return it as an ndarray (raises HarnessError naming the problem)."""
    if not isinstance(image, np.ndarray):
        raise _fail(name, role, f"is a {type(image).__name__}, not a numpy array")
    if image.size == 0:
        raise _fail(name, role, f"is empty (shape {image.shape})")
    if image.ndim != 3 or image.shape[2] != 3:
        chans = image.shape[2] if image.ndim == 3 else 1
        raise _fail(name, role, f"has shape {image.shape}: need HxWx3 RGB, got {chans} channel(s)")
    if image.dtype == np.uint8:
        return image
    if image.dtype.kind == "f" and allow_float:
        if not np.isfinite(image).all():
            raise _fail(name, role, "contains NaN or infinite values")
        lo, hi = float(image.min()), float(image.max())
        if lo < -RANGE_TOLERANCE or hi > 1.0 + RANGE_TOLERANCE:
            raise _fail(name, role, f"has values in [{lo:.4g}, {hi:.4g}], outside [0, 1]")
        return image
    if image.dtype.kind in "ui" and image.dtype.itemsize > 1:
        raise _fail(name, role, f"has dtype {image.dtype} (16-bit or wider); need 8-bit uint8")
    need = "uint8 or float in [0, 1]" if allow_float else "uint8"
    raise _fail(name, role, f"has dtype {image.dtype}; need {need}")


def _crop(x: np.ndarray, border: int) -> np.ndarray:
    return x[border:-border, border:-border] if border else x


def _input_crop(x: Any, protocol: Protocol) -> Any:
    """``x`` centre-cropped as ``protocol.input_crop`` says (torch is imported only then)."""
    if not protocol.input_crop:
        return x
    from harness.padding import centre_crop

    return centre_crop(x, protocol.input_crop)


def score_image(
    protocol: Protocol,
    restored: np.ndarray,
    target: np.ndarray | None,
    degraded: np.ndarray | None = None,
    *,
    name: str = "",
) -> dict[str, float]:
    """Every metric of ``protocol`` for one image; PSNR of identical images is ``inf``."""
    restored = _check(restored, "restored", name, allow_float=True)
    restored = _input_crop(restored, protocol)
    if restored.dtype != np.uint8:
        restored = quantize(restored, protocol.quantize, protocol.jpeg_quality)
    scores: dict[str, float] = {}
    if protocol.needs_target:
        if target is None:
            raise _fail(name, "target", f"is missing; protocol {protocol.name} needs ground truth")
        target = _input_crop(_check(target, "target", name, allow_float=False), protocol)
        if target.shape != restored.shape:
            if protocol.gt_resize == "matlab-bicubic":
                target = imresize(target, restored.shape[:2])
            else:
                raise _fail(
                    name, "restored", f"has shape {restored.shape} but target has {target.shape}"
                )
        border = protocol.crop_border
        if border and (2 * border >= restored.shape[0] or 2 * border >= restored.shape[1]):
            raise _fail(name, "restored", f"is too small for a {border}-pixel border crop")
        x, y = _crop(restored, border), _crop(target, border)
        if "ssim" in protocol.metrics:
            assert protocol.ssim is not None
            if protocol.ssim != "gauss3d-replicate-full" and min(x.shape[:2]) < 11:
                raise _fail(name, "restored", f"is too small for SSIM ({x.shape[:2]})")
        if {"psnr", "ssim"} & set(protocol.metrics):
            scores.update(psnr_ssim(x, y, protocol))
    if "niqe" in protocol.metrics:
        luma_space = "y-matlab-rgb2ycbcr" if protocol.color == "rgb" else protocol.color
        luma = colorspace.convert(_crop(restored, protocol.crop_border), luma_space)
        try:
            assert protocol.niqe is not None
            scores["niqe"] = NIQE_VARIANTS[protocol.niqe](luma)
        except ValueError as exc:
            raise _fail(name, "restored", str(exc)) from None
    if "loe" in protocol.metrics:
        if degraded is None:
            raise _fail(name, "degraded", f"is missing; protocol {protocol.name} needs it for LOE")
        degraded = _check(degraded, "degraded", name, allow_float=False)
        degraded = _input_crop(degraded, protocol)
        if degraded.shape != restored.shape:
            raise _fail(
                name, "restored", f"has shape {restored.shape} but degraded has {degraded.shape}"
            )
        enhanced = restored if restored.dtype == np.uint8 else np.round(restored).astype(np.uint8)
        scores["loe"] = lightness_order_error(degraded, enhanced)
    for metric in protocol.metrics:
        if metric in IQA_METRICS:
            from harness.metrics.iqa_backend import iqa_score

            border = protocol.crop_border
            reference = _crop(target, border) if metric in FULL_REFERENCE_METRICS else None
            scores[metric] = iqa_score(metric, _crop(restored, border), reference)
    return scores


def _tensor_to_uint8(t: Any) -> np.ndarray:
    """[3,H,W] float tensor holding exact uint8/255 values -> uint8 HxWx3 (in numpy, see
    :func:`harness.images.tensor_values`)."""
    values = tensor_values(t).astype(np.float64)
    return np.round(values * 255.0).astype(np.uint8).transpose(1, 2, 0)


def score_batch(
    protocol: Protocol, restored: Any, target: Any | None, degraded: Any | None = None
) -> list[dict[str, float]]:
    """Metrics for a [B,3,H,W] batch (CPU or CUDA tensors); equal to ``score_image`` per image."""
    import torch

    if not isinstance(restored, torch.Tensor) or restored.ndim != 4 or restored.shape[1] != 3:
        shape = tuple(restored.shape) if hasattr(restored, "shape") else type(restored).__name__
        raise HarnessError(f"restored batch has shape {shape}; need a [B,3,H,W] tensor")
    restored, target, degraded = (
        None if x is None else _input_crop(x, protocol) for x in (restored, target, degraded)
    )
    for role, other in (("target", target), ("degraded", degraded)):
        if other is not None and tuple(other.shape) != tuple(restored.shape):
            raise HarnessError(
                f"{role} batch has shape {tuple(other.shape)}, restored {tuple(restored.shape)}"
            )
    if restored.is_cuda and _gpu_capable(protocol):
        from harness.metrics.batched import score_batch_torch

        if not torch.isfinite(restored).all():
            raise HarnessError("restored batch contains NaN or infinite values")
        lo, hi = float(restored.min()), float(restored.max())
        if lo < -RANGE_TOLERANCE or hi > 1.0 + RANGE_TOLERANCE:
            raise HarnessError(f"restored batch has values in [{lo:.4g}, {hi:.4g}], outside [0, 1]")
        return score_batch_torch(protocol, restored, target)
    results = []
    for i in range(restored.shape[0]):
        out = tensor_values(restored[i]).astype(np.float32, copy=False).transpose(1, 2, 0)
        tgt = _tensor_to_uint8(target[i]) if target is not None else None
        deg = _tensor_to_uint8(degraded[i]) if degraded is not None else None
        results.append(score_image(protocol, out, tgt, deg, name=f"batch[{i}]"))
    return results


def _gpu_capable(protocol: Protocol) -> bool:
    """Whether the torch path covers every step of the protocol."""
    return (
        set(protocol.metrics) <= {"psnr", "ssim"}
        and protocol.quantize in ("round-even", "floor-half-up", "none")
        and protocol.color in ("rgb", "y-bt601-float")
    )


def pooled_psnr(mses: Sequence[float], data_range: float = 255.0) -> float:
    """PSNR of the mean MSE over images (the ``pooled-mse`` aggregation, torchmetrics' default);
    assumes equally sized images."""
    return psnr_from_mse(float(np.mean(np.asarray(list(mses), np.float64))), data_range)


def summarize(values: Sequence[float]) -> dict[str, float | int]:
    """Mean over finite values plus n (all values) and n_inf (infinite values, e.g. PSNR of twins)."""
    arr = np.asarray(list(values), dtype=np.float64)
    if np.isnan(arr).any():
        raise HarnessError("cannot summarize: a metric value is NaN")
    finite = arr[np.isfinite(arr)]
    mean = float(finite.mean()) if finite.size else math.nan
    return {"mean": mean, "n": int(arr.size), "n_inf": int(np.isinf(arr).sum())}
