"""NAFNet's U-Net (Chen et al., "Simple Baselines for Image Restoration", ECCV 2022), GoPro models.

Written from the paper and the released configurations (repository megvii-research/NAFNet);
module names follow the official checkpoints (``intro``, ``ending``, ``encoders``, ``decoders``,
``middle_blks``, ``ups``, ``downs``) so their ``params`` state_dicts load strictly.

Input: [B, 3, H, W] in [0, 1], any size (zero-padded at the bottom/right to a multiple of 16
inside, cropped back); output: the restored image, not clamped.

The GoPro test configurations use NAFNetLocal, the test-time local-statistics ("TLC", Chu et
al., arXiv 2112.04491) variant: every channel attention pools over a local window instead of the
whole map. Upstream sets each window size as a side effect of a forward pass on a random
train-size image when the model is built (1.5 x the map size each level had at that size). Here
the same sizes are computed in closed form from the train size and stored as constants, so the
output is a pure function of each image and its size, never of what ran before.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from baselines.blocks.nafnet import NAFBlock

GOPRO_ENC_BLOCKS = (1, 1, 1, 28)
GOPRO_MIDDLE_BLOCKS = 1
GOPRO_DEC_BLOCKS = (1, 1, 1, 1)
GOPRO_PARAMS: dict[int, int] = {64: 67_888_835, 32: 17_111_907}
"""Exact parameter counts of the released GoPro models, by width."""

TLC_TRAIN_SIZE = 256
"""Training crop size of the GoPro models; the local windows are 1.5 x the maps at this size."""


class LocalAvgPool2d(nn.Module):
    """Average over a fixed window around each pixel; the global mean when the window covers the map.

    Windows are clipped to the map, computed at every position where they fit entirely
    (stride 1) and the border is filled by repeating the outermost values, so the output has the
    input's size.
    """

    def __init__(self, kernel: int) -> None:
        super().__init__()
        self.kernel = kernel

    def extra_repr(self) -> str:
        """Show the window size in the module's repr."""
        return f"kernel={self.kernel}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Local means of ``x`` [B, C, H, W]; [B, C, 1, 1] when the window covers the map."""
        h, w = x.shape[-2:]
        if self.kernel >= h and self.kernel >= w:
            return F.adaptive_avg_pool2d(x, 1)
        kh, kw = min(self.kernel, h), min(self.kernel, w)
        # summed-area table with a zero first row and column: any window sum is 4 lookups
        table = F.pad(x.cumsum(-1).cumsum(-2), (1, 0, 1, 0))
        sums = (
            table[..., kh:, kw:]
            - table[..., :-kh, kw:]
            - table[..., kh:, :-kw]
            + table[..., :-kh, :-kw]
        )
        means = sums / (kh * kw)
        dh, dw = h - means.shape[-2], w - means.shape[-1]
        return F.pad(means, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2), mode="replicate")


def tlc_kernels(train_size: int, levels: int) -> list[int]:
    """Local window per U-Net level 0..levels: 1.5 x that level's map size for a train-size input."""
    multiple = 2**levels
    padded = -(-train_size // multiple) * multiple
    base = int(train_size * 1.5)
    return [(padded >> level) * base // train_size for level in range(levels + 1)]


class NAFNet(nn.Module):
    """NAFBlock U-Net: intro conv, encoder levels with strided-conv downsampling, middle blocks,
    decoder levels with pixel-shuffle upsampling and additive skips, ending conv plus the input.

    ``tlc_train_size``: None for global channel attention (plain NAFNet); an int for the
    local-statistics variant with windows derived from that train size.
    """

    def __init__(
        self,
        width: int = 64,
        enc_blocks: tuple[int, ...] = GOPRO_ENC_BLOCKS,
        middle_blocks: int = GOPRO_MIDDLE_BLOCKS,
        dec_blocks: tuple[int, ...] = GOPRO_DEC_BLOCKS,
        tlc_train_size: int | None = None,
    ) -> None:
        super().__init__()
        levels = len(enc_blocks)
        chans = [width * 2**level for level in range(levels + 1)]
        kernels = tlc_kernels(tlc_train_size, levels) if tlc_train_size is not None else None

        def block(level: int) -> NAFBlock:
            pool = LocalAvgPool2d(kernels[level]) if kernels is not None else None
            return NAFBlock(chans[level], pool)

        def blocks(level: int, count: int) -> nn.Sequential:
            return nn.Sequential(*(block(level) for _ in range(count)))

        self.intro = nn.Conv2d(3, width, 3, padding=1)
        self.ending = nn.Conv2d(width, 3, 3, padding=1)
        self.encoders = nn.ModuleList(blocks(level, n) for level, n in enumerate(enc_blocks))
        self.decoders = nn.ModuleList(blocks(levels - 1 - i, n) for i, n in enumerate(dec_blocks))
        self.middle_blks = blocks(levels, middle_blocks)
        self.ups = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(chans[level], 2 * chans[level], 1, bias=False), nn.PixelShuffle(2)
            )
            for level in range(levels, levels - len(dec_blocks), -1)
        )
        self.downs = nn.ModuleList(nn.Conv2d(c, 2 * c, 2, stride=2) for c in chans[:-1])
        self.multiple = 2**levels

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        """Restore ``inp`` [B, 3, H, W]; zero-pads to the size multiple inside and crops back."""
        h, w = inp.shape[-2:]
        padded = F.pad(inp, (0, -w % self.multiple, 0, -h % self.multiple))
        x = self.intro(padded)
        skips = []
        for encoder, down in zip(self.encoders, self.downs, strict=True):
            x = encoder(x)
            skips.append(x)
            x = down(x)
        x = self.middle_blks(x)
        for decoder, up, skip in zip(self.decoders, self.ups, reversed(skips), strict=True):
            x = decoder(up(x) + skip)
        return (self.ending(x) + padded)[..., :h, :w]


def nafnet_gopro(width: int, tlc: bool = True) -> NAFNet:
    """A released GoPro architecture (width 64 or 32); ``tlc`` as in the official GoPro test."""
    if width not in GOPRO_PARAMS:
        raise ValueError(f"NAFNet GoPro models have width 64 or 32, not {width}")
    return NAFNet(width, tlc_train_size=TLC_TRAIN_SIZE if tlc else None)
