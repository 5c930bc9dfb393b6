"""PromptIR's prompt generation block: an input-conditioned mixture of learned prompt tensors.

Potlapalli, Zamir, Khan, Khan. "PromptIR: Prompting for All-in-One Blind Image Restoration",
NeurIPS 2023 (arXiv:2306.13090). Parameter names follow the official checkpoint keys
(``prompt_param``, ``linear_layer``, ``conv3x3``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PromptGenBlock(nn.Module):
    """Mix ``length`` learned [channels, size, size] prompts with weights predicted from ``x``.

    The weights are a softmax over a linear map of the global average of ``x``; the mixed prompt is
    resized bilinearly (half-pixel centres) to x's H x W and passed through a bias-free 3x3 conv.
    """

    def __init__(self, channels: int, length: int, size: int, in_channels: int) -> None:
        super().__init__()
        self.prompt_param = nn.Parameter(torch.rand(1, length, channels, size, size))
        self.linear_layer = nn.Linear(in_channels, length)
        self.conv3x3 = nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = F.softmax(self.linear_layer(x.mean(dim=(-2, -1))), dim=1)
        prompt = (weights[:, :, None, None, None] * self.prompt_param).sum(dim=1)
        prompt = F.interpolate(prompt, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv3x3(prompt)
