"""The AdaIR network of the released all-in-one checkpoints (``adair5d.ckpt``, ``adair3d.ckpt``).

Cui, Zamir, Khan, Knoll, Shah, Khan. "AdaIR: Adaptive All-in-One Image Restoration via Frequency
Mining and Modulation", ICLR 2025 (arXiv:2403.14614, repository c-yn/AdaIR). A Restormer U-Net
whose decoder features (latent, after decoder level 3, after decoder level 2) are modulated by an
Adaptive Frequency Learning Block (:mod:`baselines.adair.frequency`) fed with the input image.
Both checkpoints have the same architecture: 28,784,824 parameters, no buffers; in the Lightning
file under ``ckpt['state_dict']`` with the prefix ``net.`` (the official test wraps the network as
the attribute ``net`` of its LightningModule, and its loss has no parameters).

**Resolution-dependent output.** The frequency masks are sized from the feature maps' height and
width, i.e. from the padded input size, and are empty below 512 px (see the frequency module), so
the same pixels padded to a different size can give a different restoration; the official test
feeds centre crops to a multiple of 16 without padding.

Input [B, 3, H, W] in [0, 1] with H and W divisible by 8; output = input + residual, not clamped.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from baselines.adair.frequency import AdaptiveFrequencyBlock
from baselines.blocks.restormer import (
    DecoderPoint,
    Downsample,
    LayerNormType,
    OverlapPatchEmbed,
    RestormerUNet,
    Upsample,
    check_levels,
    conv1x1,
    conv3x3,
    stage,
)

PARAMETERS = 28_784_824
"""Parameters of the released configuration (the state_dict holds nothing else)."""


class AdaIR(RestormerUNet):
    """AdaIR; the defaults are the configuration of both released checkpoints."""

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        dim: int = 48,
        num_blocks: Sequence[int] = (4, 6, 6, 8),
        num_refinement_blocks: int = 4,
        heads: Sequence[int] = (1, 2, 4, 8),
        ffn_expansion_factor: float = 2.66,
        bias: bool = False,
        layernorm_type: LayerNormType = "WithBias",
    ) -> None:
        super().__init__()
        check_levels(num_blocks, heads)

        def blocks(width: int, depth: int, level: int) -> nn.Sequential:
            return stage(width, depth, heads[level], ffn_expansion_factor, bias, layernorm_type)

        self.patch_embed = OverlapPatchEmbed(in_channels, dim)
        # every frequency block uses the head count of level 3
        self.fre1 = AdaptiveFrequencyBlock(dim * 8, heads[2], bias, in_channels)
        self.fre2 = AdaptiveFrequencyBlock(dim * 4, heads[2], bias, in_channels)
        self.fre3 = AdaptiveFrequencyBlock(dim * 2, heads[2], bias, in_channels)
        self.encoder_level1 = blocks(dim, num_blocks[0], 0)
        self.down1_2 = Downsample(dim)
        self.encoder_level2 = blocks(dim * 2, num_blocks[1], 1)
        self.down2_3 = Downsample(dim * 2)
        self.encoder_level3 = blocks(dim * 4, num_blocks[2], 2)
        self.down3_4 = Downsample(dim * 4)
        self.latent = blocks(dim * 8, num_blocks[3], 3)
        self.up4_3 = Upsample(dim * 8)
        self.reduce_chan_level3 = conv1x1(dim * 8, dim * 4, bias)
        self.decoder_level3 = blocks(dim * 4, num_blocks[2], 2)
        self.up3_2 = Upsample(dim * 4)
        self.reduce_chan_level2 = conv1x1(dim * 4, dim * 2, bias)
        self.decoder_level2 = blocks(dim * 2, num_blocks[1], 1)
        self.up2_1 = Upsample(dim * 2)
        self.decoder_level1 = blocks(dim * 2, num_blocks[0], 0)
        self.refinement = blocks(dim * 2, num_refinement_blocks, 0)
        self.output = conv3x3(dim * 2, out_channels, bias)

    def modulate(
        self, where: DecoderPoint, features: torch.Tensor, image: torch.Tensor
    ) -> torch.Tensor:
        """Frequency modulation: ``fre1`` on the latent, ``fre2`` / ``fre3`` after levels 3 / 2."""
        block = {"latent": self.fre1, "decoder3": self.fre2, "decoder2": self.fre3}[where]
        return block(image, features)
