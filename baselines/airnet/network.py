"""AirNet (Li et al., "All-In-One Image Restoration for Unknown Corruption", CVPR 2022): the
all-in-one network of the released ``All.pth``.

Written from the paper and the released code's structure (repository XLearning-SCU/2022-CVPR-AirNet);
module names follow the official checkpoint (a plain state_dict) so it loads strictly once its
training-only entries are dropped.

Two parts:
- ``E`` (CBDE, contrastive-based degradation encoder): trained with MoCo. At test time only the
  query encoder's first residual block matters: its 64-channel map (``inter``) conditions the
  restorer. The rest of the query encoder (``E``, ``mlp``: the pooled degradation representation
  used by the contrastive loss) is kept so the checkpoint loads, but does not affect the output.
  The MoCo key encoder and queue (``TRAIN_ONLY_PREFIXES``) are training-only and not built here.
- ``R`` (DGRN, degradation-guided restoration network): 5 groups of 5 blocks, each block with two
  degradation-guided modules = modulated deformable convolution (DCNv2) whose offsets and masks
  come from the features and ``inter``, plus a spatial feature transform (scale and shift from
  ``inter``).

Input: [B, 3, H, W] in [0, 1], any size (full-resolution network, no padding); output: the
restored image, not clamped. Call ``eval()`` first: the encoder's BatchNorm layers must use their
running statistics.

The deformable convolution runs on ``torchvision.ops.deform_conv2d``. The offset tensor is the
first two thirds of the offset/mask convolution's output, taken as is: channel ``2k`` is the
vertical and ``2k + 1`` the horizontal offset of kernel tap ``k`` (row-major), the layout the
official mmcv operator and torchvision share; the mask is the sigmoid of the last third.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.ops import deform_conv2d

FEATURES = 64
GROUPS = 5
BLOCKS = 5
KERNEL = 3
SLOPE = 0.1
"""Negative slope of every LeakyReLU."""

TRAIN_ONLY_PREFIXES = ("E.E.encoder_k.", "E.E.queue")
"""State_dict keys of the official checkpoint that inference does not use (MoCo key encoder,
queue and queue pointer)."""

RESTORER_PARAMS = 6_290_441
ENCODER_PARAMS = 1_319_936
PARAMS_USED = RESTORER_PARAMS + ENCODER_PARAMS
"""Parameters this module holds: the restorer and the query encoder (7,610,377)."""
PARAMS_STORED = RESTORER_PARAMS + 2 * ENCODER_PARAMS
"""Parameters in ``All.pth`` (8,930,313): the key encoder is a copy of the query encoder's
architecture. Buffers (BatchNorm statistics, the queue) are not parameters."""


def _conv(cin: int, cout: int, kernel: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=bias)


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return nn.functional.leaky_relu(x, SLOPE)


class DeformableConv(nn.Module):
    """Modulated deformable 3x3 convolution (no bias) whose offsets and masks are predicted by a
    conv of the features concatenated with the degradation map."""

    def __init__(self, channels: int, kernel: int = KERNEL) -> None:
        super().__init__()
        self.kernel = kernel
        self.weight = nn.Parameter(torch.empty(channels, channels, kernel, kernel))
        self.conv_offset_mask = _conv(2 * channels, 3 * kernel * kernel, kernel)
        bound = 1 / math.sqrt(channels * kernel * kernel)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.zeros_(self.conv_offset_mask.weight)
        nn.init.zeros_(self.conv_offset_mask.bias)

    def forward(self, x: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:
        """Convolve ``x`` at positions shifted and weighted as predicted from ``x`` and ``inter``."""
        out = self.conv_offset_mask(torch.cat([x, inter], 1))
        taps = self.kernel * self.kernel
        offset, mask = out[:, : 2 * taps], torch.sigmoid(out[:, 2 * taps :])
        pad = self.kernel // 2
        return deform_conv2d(x, offset, self.weight, padding=(pad, pad), mask=mask)


class SFT(nn.Module):
    """Spatial feature transform: ``x * gamma(inter) + beta(inter)`` with two-layer 1x1 nets."""

    def __init__(self, channels: int) -> None:
        super().__init__()

        def net() -> nn.Sequential:
            return nn.Sequential(
                _conv(channels, channels, 1, bias=False),
                nn.LeakyReLU(SLOPE),
                _conv(channels, channels, 1, bias=False),
            )

        self.conv_gamma = net()
        self.conv_beta = net()

    def forward(self, x: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:
        """Modulate ``x`` by the degradation map."""
        return x * self.conv_gamma(inter) + self.conv_beta(inter)


class DGM(nn.Module):
    """Degradation-guided module: ``x + dcn(x, inter) + sft(x, inter)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.dcn = DeformableConv(channels)
        self.sft = SFT(channels)

    def forward(self, x: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:
        """Add the deformable and the transform branches to ``x``."""
        return x + (self.dcn(x, inter) + self.sft(x, inter))


class DGB(nn.Module):
    """Degradation-guided block: DGM, conv, DGM, conv (LeakyReLU between), plus the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.dgm1 = DGM(channels)
        self.dgm2 = DGM(channels)
        self.conv1 = _conv(channels, channels, KERNEL)
        self.conv2 = _conv(channels, channels, KERNEL)

    def forward(self, x: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:
        """One residual block."""
        out = _lrelu(self.dgm1(x, inter))
        out = _lrelu(self.conv1(out))
        out = _lrelu(self.dgm2(out, inter))
        return self.conv2(out) + x


class DGG(nn.Module):
    """Degradation-guided group: ``BLOCKS`` DGBs and a conv (``body[-1]``), plus the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *(DGB(channels) for _ in range(BLOCKS)), _conv(channels, channels, KERNEL)
        )

    def forward(self, x: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:
        """One residual group."""
        res = x
        for block in self.body[:-1]:
            res = block(res, inter)
        return self.body[-1](res) + x


class DGRN(nn.Module):
    """The restorer: head conv, ``GROUPS`` DGGs and a conv (with a long skip), tail conv."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Sequential(_conv(3, FEATURES, KERNEL))
        self.body = nn.Sequential(
            *(DGG(FEATURES) for _ in range(GROUPS)), _conv(FEATURES, FEATURES, KERNEL)
        )
        self.tail = nn.Sequential(_conv(FEATURES, 3, KERNEL))

    def forward(self, x: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:
        """Restore ``x`` [B, 3, H, W] guided by the degradation map ``inter`` [B, 64, H, W]."""
        x = self.head(x)
        res = x
        for group in self.body[:-1]:
            res = group(res, inter)
        return self.tail(self.body[-1](res) + x)


class ResBlock(nn.Module):
    """Conv-BN-LeakyReLU-conv-BN plus a 1x1-conv-BN shortcut, then LeakyReLU."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.LeakyReLU(SLOPE),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.shortcut = nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One residual block."""
        return _lrelu(self.backbone(x) + self.shortcut(x))


class ResEncoder(nn.Module):
    """The query encoder: ``E_pre`` gives the degradation map, ``E`` and ``mlp`` the pooled
    degradation representation and its projection (used by the contrastive loss)."""

    def __init__(self) -> None:
        super().__init__()
        self.E_pre = ResBlock(3, FEATURES, stride=1)
        self.E = nn.Sequential(
            ResBlock(FEATURES, 128, stride=2), ResBlock(128, 256, stride=2), nn.AdaptiveAvgPool2d(1)
        )
        self.mlp = nn.Sequential(nn.Linear(256, 256), nn.LeakyReLU(SLOPE), nn.Linear(256, 256))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(representation [B, 256], projection [B, 256], degradation map [B, 64, H, W])."""
        inter = self.E_pre(x)
        representation = self.E(inter).flatten(1)
        return representation, self.mlp(representation), inter


class QueryEncoders(nn.Module):
    """Holds the query encoder under the checkpoint's name (the MoCo wrapper, training part dropped)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder_q = ResEncoder()


class CBDE(nn.Module):
    """Contrastive-based degradation encoder (inference part)."""

    def __init__(self) -> None:
        super().__init__()
        self.E = QueryEncoders()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The degradation map [B, 64, H, W] of ``x``."""
        return self.E.encoder_q.E_pre(x)


class AirNet(nn.Module):
    """Blind all-in-one restorer: the degradation map of the input guides the restorer."""

    def __init__(self) -> None:
        super().__init__()
        self.R = DGRN()
        self.E = CBDE()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Restore ``x`` [B, 3, H, W] in [0, 1]."""
        return self.R(x, self.E(x))
