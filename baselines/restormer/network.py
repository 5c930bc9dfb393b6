"""The Restormer network, as released for deraining (``deraining.pth``) and motion deblurring
(``motion_deblurring.pth``).

Zamir et al., "Restormer: Efficient Transformer for High-Resolution Image Restoration", CVPR 2022
(arXiv:2111.09881, repository swz30/Restormer). Both checkpoints use the defaults below (WithBias
LayerNorm, 26,126,644 parameters, no buffers) and keep their weights under ``ckpt['params']`` with
the key names this module produces. Input [B, 3, H, W] in [0, 1] with H and W divisible by 8 (the
official test reflect-pads, see :func:`harness.padding.run_padded`); the output is the
input plus a predicted residual, not clamped.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from baselines.blocks.restormer import (
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

PARAMETERS = 26_126_644
"""Parameters of the released configuration (the state_dict holds nothing else)."""


class Restormer(RestormerUNet):
    """Restormer; the defaults are the configuration of the deraining and deblurring checkpoints."""

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
