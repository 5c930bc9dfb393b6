"""The PromptIR network of the released all-in-one checkpoint (``model.ckpt``).

Potlapalli, Zamir, Khan, Khan. "PromptIR: Prompting for All-in-One Blind Image Restoration",
NeurIPS 2023 (arXiv:2306.13090, repository va1shn9v/PromptIR). A Restormer U-Net whose decoder, at
the latent and after decoder levels 3 and 2, concatenates a generated prompt (:mod:`baselines.promptir.prompt`)
to its features, runs one transformer block over the concatenation and reduces it back with a 1x1
conv. The checkpoint is a Lightning file: ``ckpt['state_dict']``, every key prefixed ``net.``;
without the prefix the keys are this module's. 35,592,263 parameters, no buffers.

The official module also builds six 1x1 convolutions that its forward never uses
(``chnl_reduce1..3``, ``reduce_noise_channel_1..3``, 215,296 parameters). They are in the checkpoint
and in the published parameter count, so ``unused_layers=True`` (the default) keeps them for strict
loading; a model trained here can drop them.

Input [B, 3, H, W] in [0, 1] with H and W divisible by 8; output = input + residual, not clamped.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from baselines.blocks.restormer import (
    DecoderPoint,
    Downsample,
    LayerNormType,
    OverlapPatchEmbed,
    RestormerUNet,
    TransformerBlock,
    Upsample,
    check_levels,
    conv1x1,
    conv3x3,
    stage,
)
from baselines.promptir.prompt import PromptGenBlock

PARAMETERS = 35_592_263
"""Parameters of the released configuration (the state_dict holds nothing else)."""

UNUSED_REDUCE3_CHANNELS = 256
"""Output width of the unused ``chnl_reduce3`` (and extra input of ``reduce_noise_channel_3``)."""


class PromptIR(RestormerUNet):
    """PromptIR with prompts in the decoder; defaults are the released checkpoint's configuration.

    ``prompt_dims``, ``prompt_sizes``: channels and side length of ``prompt1`` (after decoder level
    2), ``prompt2`` (after decoder level 3) and ``prompt3`` (the latent); ``prompt_len``: prompts
    mixed in each.
    """

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
        prompt_dims: Sequence[int] = (64, 128, 320),
        prompt_sizes: Sequence[int] = (64, 32, 16),
        prompt_len: int = 5,
        unused_layers: bool = True,
    ) -> None:
        super().__init__()
        check_levels(num_blocks, heads)
        p1, p2, p3 = prompt_dims
        s1, s2, s3 = prompt_sizes

        def blocks(width: int, depth: int, level: int) -> nn.Sequential:
            return stage(width, depth, heads[level], ffn_expansion_factor, bias, layernorm_type)

        def interaction(width: int) -> TransformerBlock:
            # every prompt-interaction block uses the head count of level 3
            return TransformerBlock(width, heads[2], ffn_expansion_factor, bias, layernorm_type)

        self.patch_embed = OverlapPatchEmbed(in_channels, dim)
        self.prompt1 = PromptGenBlock(p1, prompt_len, s1, dim * 2)
        self.prompt2 = PromptGenBlock(p2, prompt_len, s2, dim * 4)
        self.prompt3 = PromptGenBlock(p3, prompt_len, s3, dim * 8)
        if unused_layers:
            self.chnl_reduce1 = conv1x1(p1, p1, bias)
            self.chnl_reduce2 = conv1x1(p2, p2, bias)
            self.chnl_reduce3 = conv1x1(p3, UNUSED_REDUCE3_CHANNELS, bias)
            self.reduce_noise_channel_1 = conv1x1(dim + p1, dim, bias)
        self.encoder_level1 = blocks(dim, num_blocks[0], 0)
        self.down1_2 = Downsample(dim)
        if unused_layers:
            self.reduce_noise_channel_2 = conv1x1(dim * 2 + p2, dim * 2, bias)
        self.encoder_level2 = blocks(dim * 2, num_blocks[1], 1)
        self.down2_3 = Downsample(dim * 2)
        if unused_layers:
            self.reduce_noise_channel_3 = conv1x1(dim * 4 + UNUSED_REDUCE3_CHANNELS, dim * 4, bias)
        self.encoder_level3 = blocks(dim * 4, num_blocks[2], 2)
        self.down3_4 = Downsample(dim * 4)
        self.latent = blocks(dim * 8, num_blocks[3], 3)
        # the latent's prompt interaction already reduces it to 4 dim channels
        self.up4_3 = Upsample(dim * 4)
        self.reduce_chan_level3 = conv1x1(dim * 2 + dim * 4, dim * 4, bias)
        self.noise_level3 = interaction(dim * 8 + p3)
        self.reduce_noise_level3 = conv1x1(dim * 8 + p3, dim * 4, bias)
        self.decoder_level3 = blocks(dim * 4, num_blocks[2], 2)
        self.up3_2 = Upsample(dim * 4)
        self.reduce_chan_level2 = conv1x1(dim * 4, dim * 2, bias)
        self.noise_level2 = interaction(dim * 4 + p2)
        self.reduce_noise_level2 = conv1x1(dim * 4 + p2, dim * 4, bias)
        self.decoder_level2 = blocks(dim * 2, num_blocks[1], 1)
        self.up2_1 = Upsample(dim * 2)
        self.noise_level1 = interaction(dim * 2 + p1)
        self.reduce_noise_level1 = conv1x1(dim * 2 + p1, dim * 2, bias)
        self.decoder_level1 = blocks(dim * 2, num_blocks[0], 0)
        self.refinement = blocks(dim * 2, num_refinement_blocks, 0)
        self.output = conv3x3(dim * 2, out_channels, bias)

    def modulate(
        self, where: DecoderPoint, features: torch.Tensor, image: torch.Tensor
    ) -> torch.Tensor:
        """Concatenate a prompt, one transformer block, 1x1 reduction (to 4 dim, 4 dim, 2 dim)."""
        prompt, block, reduce = {
            "latent": (self.prompt3, self.noise_level3, self.reduce_noise_level3),
            "decoder3": (self.prompt2, self.noise_level2, self.reduce_noise_level2),
            "decoder2": (self.prompt1, self.noise_level1, self.reduce_noise_level1),
        }[where]
        return reduce(block(torch.cat([features, prompt(features)], dim=1)))
