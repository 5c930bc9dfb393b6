"""Named metric protocols: every number the harness reports says exactly how it was computed.

A :class:`Protocol` fixes the colour space, the quantisation of the restored image, the border
crop, the ground-truth resize rule, the SSIM variant, the aggregation and the data range, and,
for the official test scripts that do it, a centre crop of input and ground truth before
restoration (``input_crop``; the default protocols never modify the ground truth). Its
``signature`` is a short string recorded with every number (the idea of sacrebleu's signatures).
Sources of each built-in convention: DiffUIR (CVPR 2024, github.com/iSEE-Laboratory/DiffUIR)
test.py / eval/SOTS.m / test_udc.py; BasicSR (github.com/XPixelGroup/BasicSR) psnr_ssim.py;
MATLAB psnr/ssim/rgb2gray; scikit-image ``structural_similarity`` defaults (PromptIR, AirNet);
PromptIR (github.com/va1shn9v/PromptIR) and AdaIR (github.com/c-yn/AdaIR) test.py with
utils/dataset_utils.py ``crop_img(base=16)`` and utils/val_utils.py ``compute_psnr_ssim``;
DiffUIR metrics/niqe.py (the ``basicsr-f32-linear-96px`` NIQE of the ``nr-niqe-diffuir*`` ones).
The opt-in ``iqa-*`` protocols score metrics the harness does not compute itself through pyiqa.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.errors import UnknownNameError

MetricName = Literal["psnr", "ssim", "niqe", "loe", "lpips", "musiq", "clipiqa"]
ColorSpace = Literal[
    "rgb",  # the three channels as they are
    "y-bt601-float",  # 16 + 65.481 R + 128.553 G + 24.966 B (R,G,B = uint8/255), unrounded, float64
    "y-bt601-float32",  # the same Y with BasicSR to_y_channel's float32 steps (DiffUIR's NIQE input)
    "y-matlab-rgb2ycbcr",  # MATLAB rgb2ycbcr(uint8) luma: the same formula rounded to uint8
    "gray-matlab-rgb2gray",  # MATLAB rgb2gray(uint8): 0.2989 R + 0.5870 G + 0.1140 B rounded
]
Quantization = Literal[
    "round-even",  # clamp, x*255 in float32, round half to even (numpy/torch round)
    "floor-half-up",  # clamp, floor(255 x + 0.5) in float32 (torchvision save_image, MATLAB im2uint8)
    "none",  # clamp only, score the float values
    "jpeg",  # floor-half-up, then a PIL JPEG re-save at ``jpeg_quality`` (DiffUIR's save path)
]
SSIMVariant = Literal[
    "gauss11-valid",  # Wang et al. ssim_index / BasicSR: 11x11 Gaussian sigma 1.5, 'valid' map
    "gauss11-replicate-full",  # DiffUIR online / MATLAB ssim: replicate padding, full-size map
    "gauss3d-replicate-full",  # DiffUIR UDC: 11x11x11 Gaussian over (H, W, C), replicate padding
    "uniform7-sample-valid",  # scikit-image defaults: 7x7 box, sample covariance, 3-px crop
]
NIQEVariant = Literal[
    "mittal2013-96px",  # MATLAB niqe_release: float64, antialiased bicubic second scale
    "basicsr-f32-linear-96px",  # DiffUIR metrics/niqe.py: float32 steps, cv2 bilinear half size
]
GTResize = Literal["none", "matlab-bicubic"]
Aggregation = Literal["mean", "pooled-mse"]

#: Whether a larger value of each metric means a better image.
METRIC_HIGHER_IS_BETTER: dict[str, bool] = {
    "psnr": True,
    "ssim": True,
    "niqe": False,
    "loe": False,
    "lpips": False,
    "musiq": True,
    "clipiqa": True,
}

FULL_REFERENCE_METRICS = frozenset({"psnr", "ssim", "lpips"})

IQA_METRICS = frozenset({"lpips", "musiq", "clipiqa"})
"""Metrics the harness does not compute itself: pyiqa's, under the same names (the iqa extra)."""


class Protocol(BaseModel):
    """An exactly specified way of scoring restored images; immutable and JSON-serialisable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    summary: str
    metrics: tuple[MetricName, ...]
    color: ColorSpace = "rgb"
    quantize: Quantization = "round-even"
    jpeg_quality: int | None = Field(default=None, ge=1, le=95)
    crop_border: int = Field(default=0, ge=0)
    gt_resize: GTResize = "none"
    ssim: SSIMVariant | None = None
    niqe: NIQEVariant | None = None
    aggregation: Aggregation = "mean"
    data_range: float = Field(default=255.0, gt=0)
    input_crop: int = Field(default=0, ge=0)
    """Centre-crop input and ground truth to a multiple of this before restoring (0: never), as
    :func:`harness.padding.centre_crop_box` places it; the restorer sees the cropped input."""

    @model_validator(mode="after")
    def _consistent(self) -> Protocol:
        if not self.metrics:
            raise ValueError("a protocol needs at least one metric")
        if ("ssim" in self.metrics) != (self.ssim is not None):
            raise ValueError("ssim variant must be set exactly when 'ssim' is a metric")
        if ("niqe" in self.metrics) != (self.niqe is not None):
            raise ValueError("niqe variant must be set exactly when 'niqe' is a metric")
        if (self.quantize == "jpeg") != (self.jpeg_quality is not None):
            raise ValueError("jpeg_quality must be set exactly when quantize is 'jpeg'")
        if self.data_range not in (1.0, 255.0):
            raise ValueError("data_range must be 255 (uint8 scale) or 1 (unit scale)")
        return self

    @property
    def needs_target(self) -> bool:
        """True when a ground-truth image is required (any full-reference metric)."""
        return any(m in FULL_REFERENCE_METRICS for m in self.metrics)

    @property
    def needs_degraded(self) -> bool:
        """True when the degraded input is required (LOE compares against it)."""
        return "loe" in self.metrics

    @property
    def needs_iqa(self) -> bool:
        """True when a metric is computed by pyiqa (the optional ``iqa`` extra)."""
        return any(m in IQA_METRICS for m in self.metrics)

    @property
    def signature(self) -> str:
        """Short human-readable convention string, e.g. ``psnr+ssim:y-bt601-float|q:round-even|...``."""
        quant = f"jpeg{self.jpeg_quality}" if self.quantize == "jpeg" else self.quantize
        parts = [f"{'+'.join(self.metrics)}:{self.color}", f"q:{quant}", f"crop:{self.crop_border}"]
        if self.gt_resize != "none":
            parts.append(f"gt:{self.gt_resize}")
        if self.ssim is not None:
            parts.append(f"ssim:{self.ssim}")
        if self.niqe is not None:
            parts.append(f"niqe:{self.niqe}")
        if "loe" in self.metrics:
            parts.append("loe:wang2013-50px")
        if self.aggregation != "mean":
            parts.append(f"agg:{self.aggregation}")
        if self.needs_iqa:
            parts.append("backend:pyiqa")
        if self.data_range != 255.0:
            parts.append(f"range:{self.data_range:g}")
        if self.input_crop:
            parts.append(f"in+gt:centre-crop-x{self.input_crop}")
        return "|".join(parts)


_BUILTIN = (
    Protocol(
        name="diffuir-online",
        summary="DiffUIR test.py online metric: Y BT.601 unrounded, replicate-padded full SSIM map",
        metrics=("psnr", "ssim"),
        color="y-bt601-float",
        quantize="round-even",
        ssim="gauss11-replicate-full",
    ),
    Protocol(
        name="diffuir-sots",
        summary="DiffUIR eval/SOTS.m: JPEG q75 outputs, GT imresize'd, rounded MATLAB Y, valid SSIM",
        metrics=("psnr", "ssim"),
        color="y-matlab-rgb2ycbcr",
        quantize="jpeg",
        jpeg_quality=75,
        gt_resize="matlab-bicubic",
        ssim="gauss11-valid",
    ),
    Protocol(
        name="diffuir-udc",
        summary="DiffUIR test_udc.py: RGB PSNR, 3-D 11x11x11 Gaussian SSIM over H x W x C",
        metrics=("psnr", "ssim"),
        color="rgb",
        quantize="round-even",
        ssim="gauss3d-replicate-full",
    ),
    Protocol(
        name="basicsr-y",
        summary="BasicSR calculate_psnr/ssim with test_y_channel=True (Y unrounded, valid SSIM)",
        metrics=("psnr", "ssim"),
        color="y-bt601-float",
        quantize="round-even",
        ssim="gauss11-valid",
    ),
    Protocol(
        name="basicsr-rgb",
        summary="BasicSR calculate_psnr/ssim on RGB (SSIM per channel, valid map, averaged)",
        metrics=("psnr", "ssim"),
        color="rgb",
        quantize="round-even",
        ssim="gauss11-valid",
    ),
    Protocol(
        name="matlab",
        summary="MATLAB psnr/ssim on rgb2gray'd uint8 images (im2uint8 rounding, replicate SSIM)",
        metrics=("psnr", "ssim"),
        color="gray-matlab-rgb2gray",
        quantize="floor-half-up",
        ssim="gauss11-replicate-full",
    ),
    Protocol(
        name="skimage-rgb",
        summary="scikit-image defaults on clipped float RGB, data_range 1 (PromptIR, AirNet, AdaIR)",
        metrics=("psnr", "ssim"),
        color="rgb",
        quantize="none",
        ssim="uniform7-sample-valid",
        data_range=1.0,
    ),
    Protocol(
        name="official-crop16-skimage",
        summary="PromptIR/AdaIR test.py: input and GT centre-cropped to x16 before restoring, "
        "then skimage PSNR/SSIM defaults on clipped float RGB, data_range 1",
        metrics=("psnr", "ssim"),
        color="rgb",
        quantize="none",
        ssim="uniform7-sample-valid",
        data_range=1.0,
        input_crop=16,
    ),
    Protocol(
        name="nr-niqe",
        summary="NIQE (Mittal et al. 2013, MATLAB-compatible) on rounded Y; no ground truth",
        metrics=("niqe",),
        color="y-matlab-rgb2ycbcr",
        quantize="round-even",
        niqe="mittal2013-96px",
    ),
    Protocol(
        name="nr-niqe-loe",
        summary="NIQE plus lightness order error vs the degraded input (low light); no ground truth",
        metrics=("niqe", "loe"),
        color="y-matlab-rgb2ycbcr",
        quantize="round-even",
        niqe="mittal2013-96px",
    ),
    Protocol(
        name="nr-niqe-diffuir",
        summary="NIQE as DiffUIR's metrics/niqe.py computes it (BasicSR float32 steps, bilinear "
        "second scale) on saved uint8 outputs; no ground truth",
        metrics=("niqe",),
        color="y-bt601-float32",
        quantize="floor-half-up",
        niqe="basicsr-f32-linear-96px",
    ),
    Protocol(
        name="nr-niqe-diffuir-loe",
        summary="nr-niqe-diffuir plus lightness order error vs the degraded input (low light)",
        metrics=("niqe", "loe"),
        color="y-bt601-float32",
        quantize="floor-half-up",
        niqe="basicsr-f32-linear-96px",
    ),
)

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in _BUILTIN}

#: Opt-in protocols scored by pyiqa (the ``iqa`` extra, non-commercial licence) on the quantised
#: uint8 RGB image. Listed always; usable only where pyiqa is installed; never a benchmark's own
#: protocol (manifests name built-in protocols only). pyiqa never downloads here.
OPTIONAL_PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            name="iqa-lpips",
            summary="LPIPS vs ground truth via pyiqa ('lpips', AlexNet v0.1; iqa extra)",
            metrics=("lpips",),
        ),
        Protocol(
            name="iqa-musiq",
            summary="MUSIQ no-reference quality via pyiqa ('musiq'; iqa extra)",
            metrics=("musiq",),
        ),
        Protocol(
            name="iqa-clipiqa",
            summary="CLIP-IQA no-reference quality via pyiqa ('clipiqa'; iqa extra)",
            metrics=("clipiqa",),
        ),
    )
}


def protocol_names() -> list[str]:
    """Names of the built-in protocols, in registry order."""
    return list(PROTOCOLS)


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name``: a built-in one, or an opt-in pyiqa one if pyiqa is installed.

    UnknownNameError for other names; a HarnessError saying how to install the extra when an
    opt-in protocol is asked for without pyiqa.
    """
    if name in PROTOCOLS:
        return PROTOCOLS[name]
    if name in OPTIONAL_PROTOCOLS:
        from harness.metrics.iqa_backend import require_pyiqa

        require_pyiqa()
        return OPTIONAL_PROTOCOLS[name]
    raise UnknownNameError("protocol", name, [*PROTOCOLS, *OPTIONAL_PROTOCOLS])


def protocol_summaries() -> list[dict[str, object]]:
    """One row per built-in protocol: name, summary, signature and metrics (feeds ``harness ls``)."""
    return [
        {
            "name": p.name,
            "summary": p.summary,
            "signature": p.signature,
            "metrics": list(p.metrics),
        }
        for p in PROTOCOLS.values()
    ]


def optional_protocol_summaries() -> list[dict[str, object]]:
    """Rows of the opt-in pyiqa protocols, with ``available`` (pyiqa importable) for listings."""
    from harness.metrics.iqa_backend import iqa_available

    available = iqa_available()
    return [
        {
            "name": p.name,
            "summary": p.summary,
            "signature": p.signature,
            "metrics": list(p.metrics),
            "available": available,
        }
        for p in OPTIONAL_PROTOCOLS.values()
    ]
