"""AdaIR's Adaptive Frequency Learning Block (AFLB) and its parts.

Cui, Zamir, Khan, Knoll, Shah, Khan. "AdaIR: Adaptive All-in-One Image Restoration via Frequency
Mining and Modulation", ICLR 2025 (arXiv:2403.14614, repository c-yn/AdaIR). Attribute names follow
the official checkpoint keys (``fre1.channel_cross_l.q``, ``fre1.frequency_refine.SpatialGate``...).

The block resizes the input image to the decoder features' size, lifts it to the features' width
with a 3x3 conv and splits it into a low- and a high-frequency part with a box mask on the centred
2-D spectrum. Channel cross-attention lets each part query the decoder features, a modulation unit
mixes the two (a spatial gate from the high part scales the low part, a channel gate from the low
part scales the high part), and a last cross-attention (features query the mixture) gives a result
added to the features with learned per-channel weights: ``out * para1 + features * para2``.

The mask depends on the resolution. Its half-height is ``trunc((h // 128) * r_h)`` and its
half-width ``trunc((w // 128) * r_w)``, where h x w is the feature map's size at that decoder level
(padded image / 8 for ``fre1``, / 4 for ``fre2``, / 2 for ``fre3``) and r in (0, 1) are two rates
predicted per image (sigmoid of a small MLP on the globally pooled lifted image). The box covers
frequency indices [-half, half) in each direction, and it is empty when either half-size is 0. As
r < 1, a side shorter than 256 feature pixels always gives 0 (unless the sigmoid rounds to exactly
1.0 in float32), so the mask is empty unless the padded image is at least 512 px in both directions
for ``fre3``, 1024 for ``fre2`` and 2048 for ``fre1``. With an empty mask the low part is exactly 0
and the high part is |lifted image| (up to FFT round-off). So the output depends on the padded size
itself, not only on the pixels: padding the same image to another multiple can switch the split on.

The official module also holds a 3x3 conv ``conv`` and a 7x7 conv ``score_gen`` that its forward
never uses; they are kept (and counted) so that the checkpoints load strictly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from baselines.blocks.restormer import (
    channel_attention,
    conv1x1,
    conv3x3,
    depthwise3x3,
    split_heads,
)

LOW_PASS_UNIT = 128
"""The mask's half-size is (side // LOW_PASS_UNIT) times a predicted rate, truncated."""


class ChannelCrossAttention(nn.Module):
    """Channel attention whose queries come from ``x`` and keys and values from ``y``."""

    def __init__(self, dim: int, heads: int, bias: bool) -> None:
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.q = conv1x1(dim, dim, bias)
        self.q_dwconv = depthwise3x3(dim, bias)
        self.kv = conv1x1(dim, dim * 2, bias)
        self.kv_dwconv = depthwise3x3(dim * 2, bias)
        self.project_out = conv1x1(dim, dim, bias)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape != y.shape:
            raise ValueError(f"cross-attention inputs differ in shape: {x.shape} vs {y.shape}")
        q = self.q_dwconv(self.q(x))
        k, v = self.kv_dwconv(self.kv(y)).chunk(2, dim=1)
        heads = self.heads
        out = channel_attention(
            split_heads(q, heads), split_heads(k, heads), split_heads(v, heads), self.temperature
        )
        return self.project_out(out.reshape(x.shape))


class SpatialGate(nn.Module):
    """A [B, 1, H, W] gate: sigmoid of a 7x7 conv over the channel-wise max and mean."""

    def __init__(self) -> None:
        super().__init__()
        self.spatial = nn.Conv2d(2, 1, kernel_size=7, padding=3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.spatial(pooled))


class ChannelGate(nn.Module):
    """A [B, C, 1, 1] gate: sigmoid of a shared bottleneck MLP on global average plus global max."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            conv1x1(dim, dim // 16, bias=False), nn.ReLU(), conv1x1(dim // 16, dim, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        average = self.mlp(x.mean(dim=(-2, -1), keepdim=True))
        maximum = self.mlp(x.amax(dim=(-2, -1), keepdim=True))
        return torch.sigmoid(average + maximum)


class FrequencyModulation(nn.Module):
    """FMoM: low * SpatialGate(high) + high * ChannelGate(low), then a 1x1 conv (with bias)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.SpatialGate = SpatialGate()
        self.ChannelGate = ChannelGate(dim)
        self.proj = nn.Conv2d(dim, dim, kernel_size=1)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        return self.proj(low * self.SpatialGate(high) + high * self.ChannelGate(low))


def low_pass_half_sizes(
    height: int, width: int, rates: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: the box half-height and half-width, ``trunc((side // 128) * rate)``.

    ``rates`` [B, 2] in (0, 1) (height rate, width rate); returns two int32 tensors [B].
    """
    return (
        ((height // LOW_PASS_UNIT) * rates[:, 0]).int(),
        ((width // LOW_PASS_UNIT) * rates[:, 1]).int(),
    )


def low_pass_mask(
    height: int, width: int, half_h: torch.Tensor, half_w: torch.Tensor
) -> torch.Tensor:
    """[B, 1, H, W] float mask of the spectrum entries with row frequency in [-half_h, half_h) and
    column frequency in [-half_w, half_w), in the unshifted layout of ``torch.fft.fft2``.

    This is the centred box [H//2 - half_h, H//2 + half_h) x [W//2 - half_w, W//2 + half_w) of the
    spectrum rolled by (H//2, W//2), expressed without rolling.
    """
    rows = torch.arange(height, device=half_h.device)
    cols = torch.arange(width, device=half_w.device)
    in_rows = (rows < half_h[:, None]) | (rows >= height - half_h[:, None])
    in_cols = (cols < half_w[:, None]) | (cols >= width - half_w[:, None])
    return (in_rows[:, None, :, None] & in_cols[:, None, None, :]).float()


def split_by_mask(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(low, high): magnitudes of the inverse FFTs of the masked and the complementary spectrum."""
    spectrum = torch.fft.fft2(x, norm="forward")
    low = torch.fft.ifft2(spectrum * mask, norm="forward").abs()
    high = torch.fft.ifft2(spectrum * (1 - mask), norm="forward").abs()
    return low, high


class AdaptiveFrequencyBlock(nn.Module):
    """AFLB: mine the image's low/high frequencies and use them to modulate decoder features."""

    def __init__(self, dim: int, heads: int, bias: bool, in_channels: int = 3) -> None:
        super().__init__()
        self.para1 = nn.Parameter(torch.zeros(dim, 1, 1))
        self.para2 = nn.Parameter(torch.ones(dim, 1, 1))
        self.conv = conv3x3(in_channels, dim, bias=False)  # unused by the official forward
        self.conv1 = conv3x3(in_channels, dim, bias=False)
        self.score_gen = nn.Conv2d(2, 2, kernel_size=7, padding=3)  # unused as well
        self.channel_cross_l = ChannelCrossAttention(dim, heads, bias)
        self.channel_cross_h = ChannelCrossAttention(dim, heads, bias)
        self.channel_cross_agg = ChannelCrossAttention(dim, heads, bias)
        self.frequency_refine = FrequencyModulation(dim)
        self.rate_conv = nn.Sequential(
            conv1x1(dim, dim // 8, bias=False), nn.GELU(), conv1x1(dim // 8, 2, bias=False)
        )

    def rates(self, lifted: torch.Tensor) -> torch.Tensor:
        """[B, 2] mask rates (height, width) in (0, 1) from the globally pooled lifted image."""
        return torch.sigmoid(self.rate_conv(lifted.mean(dim=(-2, -1), keepdim=True)))[:, :, 0, 0]

    def split(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(low, high) frequency parts of the lifted ``image`` (already at the features' size)."""
        lifted = self.conv1(image)
        h, w = lifted.shape[-2:]
        half_h, half_w = low_pass_half_sizes(h, w, self.rates(lifted))
        return split_by_mask(lifted, low_pass_mask(h, w, half_h, half_w))

    def forward(self, image: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        image = F.interpolate(image, size=features.shape[-2:], mode="bilinear", align_corners=False)
        low, high = self.split(image)
        # the official names are crossed: channel_cross_l takes the high part, _h the low part
        high = self.channel_cross_l(high, features)
        low = self.channel_cross_h(low, features)
        mixed = self.channel_cross_agg(features, self.frequency_refine(low, high))
        return mixed * self.para1 + features * self.para2
