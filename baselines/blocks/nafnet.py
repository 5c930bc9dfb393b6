"""NAFNet's block (Chen et al., "Simple Baselines for Image Restoration", ECCV 2022).

Used by the NAFNet and InstructIR baselines. Attribute names follow the official checkpoints
(``beta``, ``gamma``, ``conv1`` ... ``conv5``, ``sca.1``, ``norm1``, ``norm2``), so their
state_dicts load strictly. Dropout (rate 0 in every released model) is left out.
"""

from __future__ import annotations

import torch
from torch import nn


class LayerNorm2d(nn.Module):
    """Layer normalisation over the channels of each pixel of an NCHW map, with a per-channel affine."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise each pixel's channel vector to zero mean and unit (biased) variance."""
        centred = x - x.mean(1, keepdim=True)
        var = centred.pow(2).mean(1, keepdim=True)
        y = centred / (var + self.eps).sqrt()
        return y * self.weight[:, None, None] + self.bias[:, None, None]


def simple_gate(x: torch.Tensor) -> torch.Tensor:
    """NAFNet's activation: the first half of the channels times the second half."""
    a, b = x.chunk(2, dim=1)
    return a * b


class NAFBlock(nn.Module):
    """Two residual branches: (norm, 1x1, depthwise 3x3, gate, channel attention, 1x1) and (norm, 1x1, gate, 1x1).

    ``pool`` reduces a map to its channel-attention statistics: global average pooling by
    default; NAFNet's test-time local-statistics variant passes a local pooling module instead.
    The branches are scaled by the learned ``beta`` and ``gamma`` ([1, C, 1, 1]).
    """

    def __init__(self, channels: int, pool: nn.Module | None = None) -> None:
        super().__init__()
        wide = 2 * channels
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.conv1 = nn.Conv2d(channels, wide, 1)
        self.conv2 = nn.Conv2d(wide, wide, 3, padding=1, groups=wide)
        self.conv3 = nn.Conv2d(channels, channels, 1)
        self.sca = nn.Sequential(
            pool if pool is not None else nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, channels, 1),
        )
        self.conv4 = nn.Conv2d(channels, wide, 1)
        self.conv5 = nn.Conv2d(channels, channels, 1)
        self.norm1 = LayerNorm2d(channels)
        self.norm2 = LayerNorm2d(channels)

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        """Apply both residual branches."""
        x = simple_gate(self.conv2(self.conv1(self.norm1(inp))))
        x = self.conv3(x * self.sca(x))
        y = inp + x * self.beta
        x = self.conv5(simple_gate(self.conv4(self.norm2(y))))
        return y + x * self.gamma
