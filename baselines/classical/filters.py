"""Small image filters shared by the classical baselines (torch, [B, C, H, W] tensors)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def box_sum(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Sum over the (2r+1)^2 window around each pixel, the window clipped at the image border."""
    h, w = x.shape[-2:]
    c = torch.cumsum(F.pad(x, (0, 0, 1, 0)), dim=-2)
    top = torch.clamp(torch.arange(h, device=x.device) - radius, min=0)
    bottom = torch.clamp(torch.arange(h, device=x.device) + radius + 1, max=h)
    x = c[..., bottom, :] - c[..., top, :]
    c = torch.cumsum(F.pad(x, (1, 0, 0, 0)), dim=-1)
    left = torch.clamp(torch.arange(w, device=x.device) - radius, min=0)
    right = torch.clamp(torch.arange(w, device=x.device) + radius + 1, max=w)
    return c[..., right] - c[..., left]


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over the border-clipped (2r+1)^2 window (He et al.'s ``boxfilter(I, r) / N``)."""
    count = box_sum(torch.ones_like(x[..., :1, :, :]), radius)
    return box_sum(x, radius) / count


def guided_filter(guide: torch.Tensor, src: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
    """Grey-guide guided filter (He, Sun, Tang, ECCV 2010, Algorithm 1).

    ``guide`` is [B, 1, H, W]; ``src`` is [B, C, H, W]. Local linear model q = a * I + b with
    a = cov(I, p) / (var(I) + eps), b = mean(p) - a * mean(I), both averaged over each window.
    Computed in float64 so that the box sums of large windows do not lose precision.
    """
    dtype = src.dtype
    guide, src = guide.double(), src.double()
    mean_i = box_mean(guide, radius)
    mean_p = box_mean(src, radius)
    cov_ip = box_mean(guide * src, radius) - mean_i * mean_p
    var_i = box_mean(guide * guide, radius) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return (box_mean(a, radius) * guide + box_mean(b, radius)).to(dtype)


def min_filter(x: torch.Tensor, size: int) -> torch.Tensor:
    """Minimum over a size x size window (grey erosion), ignoring pixels outside the image."""
    r = size // 2
    padded = F.pad(-x, (r, size - 1 - r, r, size - 1 - r), value=-float("inf"))
    return -F.max_pool2d(padded, size, stride=1)


def luminance(images: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 luma of [B, 3, H, W] RGB images, as [B, 1, H, W]."""
    weights = images.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)
