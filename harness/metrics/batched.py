"""The torch path of PSNR/SSIM for batches on an accelerator, in float64, same conventions as
:mod:`harness.metrics.psnr` / :mod:`harness.metrics.ssim` (see there for the formulas)."""

from __future__ import annotations

import math
from typing import Any

from harness.metrics.color import BT601_Y_OFFSET, BT601_Y_WEIGHTS
from harness.metrics.filters import gaussian_kernel_1d
from harness.metrics.protocols import Protocol
from harness.metrics.ssim import GAUSS_SIGMA, GAUSS_SIZE, UNIFORM_SIZE, channel_mix_matrix


def _quantize(x: Any, mode: str) -> Any:
    import torch

    x = x.to(torch.float32).clamp(0.0, 1.0)
    if mode == "none":
        return x.to(torch.float64) * 255.0
    x = x * 255.0
    if mode == "round-even":
        x = torch.round(x)
    elif mode == "floor-half-up":
        x = torch.floor(x + 0.5)
    return x.to(torch.float64)


def _convert(x: Any, color: str) -> Any:
    if color == "rgb":
        return x
    w = [c / 255.0 for c in BT601_Y_WEIGHTS]
    return (x[:, 0] * w[0] + x[:, 1] * w[1] + x[:, 2] * w[2] + BT601_Y_OFFSET)[:, None]


def _filter(stack: Any, kernel: Any, pad: bool) -> Any:
    import torch.nn.functional as F

    n = stack.shape[1]
    r = kernel.numel() // 2
    if pad:
        stack = F.pad(stack, (r, r, r, r), mode="replicate")
    out = F.conv2d(stack, kernel.view(1, 1, -1, 1).expand(n, 1, -1, 1), groups=n)
    return F.conv2d(out, kernel.view(1, 1, 1, -1).expand(n, 1, 1, -1), groups=n)


def _ssim(x: Any, y: Any, variant: str, data_range: float) -> Any:
    import torch

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    stack = torch.cat([x, y, x * x + y * y, x * y], dim=1)
    cov_norm = 1.0
    if variant == "uniform7-sample-valid":
        kernel = torch.full((UNIFORM_SIZE,), 1.0 / UNIFORM_SIZE, dtype=torch.float64)
        n = UNIFORM_SIZE * UNIFORM_SIZE
        cov_norm = n / (n - 1.0)
    else:
        kernel = torch.from_numpy(gaussian_kernel_1d(GAUSS_SIZE, GAUSS_SIGMA))
    kernel = kernel.to(x.device)
    if variant == "gauss3d-replicate-full":
        b, c4, h, w = stack.shape
        mix = torch.from_numpy(
            channel_mix_matrix(c4 // 4, gaussian_kernel_1d(GAUSS_SIZE, GAUSS_SIGMA))
        )
        stack = torch.einsum("bqchw,dc->bqdhw", stack.view(b, 4, c4 // 4, h, w), mix.to(x.device))
        stack = stack.reshape(b, c4, h, w)
    m = _filter(stack, kernel, pad=variant.endswith("full"))
    mx, my, sq, xy = m.chunk(4, dim=1)
    mxy = mx * my
    mm = mx * mx + my * my
    num = (2.0 * mxy + c1) * ((2.0 * cov_norm) * (xy - mxy) + c2)
    den = (mm + c1) * ((sq - mm) * cov_norm + c2)
    return (num / den).mean(dim=(1, 2, 3))


def score_batch_torch(protocol: Protocol, restored: Any, target: Any) -> list[dict[str, float]]:
    """PSNR/SSIM of a [B,3,H,W] batch on its own device (rgb or unrounded-Y protocols only)."""
    import torch

    x = _quantize(restored, protocol.quantize)
    y = torch.round(target.to(torch.float64) * 255.0)
    b = protocol.crop_border
    if b:
        x, y = x[..., b:-b, b:-b], y[..., b:-b, b:-b]
    x, y = _convert(x, protocol.color), _convert(y, protocol.color)
    if protocol.data_range == 1.0:
        x, y = x / 255.0, y / 255.0
    cols: dict[str, list[float]] = {}
    if "psnr" in protocol.metrics:
        mse = ((x - y) ** 2).flatten(1).mean(dim=1).tolist()
        cols["psnr"] = [
            math.inf if m == 0 else 10.0 * math.log10(protocol.data_range**2 / m) for m in mse
        ]
    if "ssim" in protocol.metrics:
        assert protocol.ssim is not None
        cols["ssim"] = _ssim(x, y, protocol.ssim, protocol.data_range).tolist()
    return [{k: v[i] for k, v in cols.items()} for i in range(restored.shape[0])]
