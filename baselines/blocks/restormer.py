"""Restormer building blocks, shared by the Restormer, PromptIR, AdaIR and Perceive-IR networks.

Zamir, Arora, Khan, Hayat, Khan, Yang. *Restormer: Efficient Transformer for High-Resolution Image
Restoration.* CVPR 2022, arXiv:2111.09881. Written from the paper's description; checked against the
official modules on synthetic weights (tests/baselines/test_restormer.py and siblings). Submodule and
parameter names follow the official state_dict keys, so released checkpoints load strictly.

The family is a four-level U-Net of transformer blocks. Each block is a channel LayerNorm, MDTA
(attention across channels: a C/heads x C/heads attention matrix per head, so its cost is linear in
the number of pixels), a second LayerNorm and GDFN (a gated feed-forward with a depthwise 3x3). Down-
and upsampling change the resolution by 2 with pixel-(un)shuffle. Every level halves H and W, so the
networks need H and W divisible by 8 (``SIZE_MULTIPLE``); the official Restormer scripts reflect-pad
at the bottom and right and crop back, the convention of :mod:`harness.padding`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

LayerNormType = Literal["WithBias", "BiasFree"]
DecoderPoint = Literal["latent", "decoder3", "decoder2"]

LAYERNORM_EPS = 1e-5
SIZE_MULTIPLE = 8
"""H and W must be divisible by this (three 2x pixel-unshuffle downsamplings)."""


def conv1x1(cin: int, cout: int, bias: bool) -> nn.Conv2d:
    """A pointwise convolution."""
    return nn.Conv2d(cin, cout, kernel_size=1, bias=bias)


def conv3x3(cin: int, cout: int, bias: bool) -> nn.Conv2d:
    """A 3x3 convolution with zero padding 1 (keeps H and W)."""
    return nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=bias)


def depthwise3x3(channels: int, bias: bool) -> nn.Conv2d:
    """A per-channel 3x3 convolution with zero padding 1."""
    return nn.Conv2d(channels, channels, kernel_size=3, padding=1, groups=channels, bias=bias)


class LayerNorm(nn.Module):
    """LayerNorm over the channels of every pixel of an NCHW map (statistics per pixel).

    ``WithBias``: (x - mean) / std * weight + bias. ``BiasFree``: x / std * weight, where std is still
    measured around the mean but x is not centred (Restormer's variant for its denoising models).
    The parameters sit in ``body`` because that is where the official checkpoints keep them.
    """

    def __init__(self, dim: int, kind: LayerNormType = "WithBias") -> None:
        super().__init__()
        if kind not in ("WithBias", "BiasFree"):
            raise ValueError(f"LayerNorm kind must be 'WithBias' or 'BiasFree', not {kind!r}")
        params = [("weight", nn.Parameter(torch.ones(dim)))]
        if kind == "WithBias":
            params.append(("bias", nn.Parameter(torch.zeros(dim))))
        self.body = nn.ParameterDict(params)  # a plain dict would be sorted (bias first)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var = x.var(dim=1, keepdim=True, unbiased=False)
        weight = self.body["weight"].view(1, -1, 1, 1)
        if "bias" not in self.body:
            return x / torch.sqrt(var + LAYERNORM_EPS) * weight
        bias = self.body["bias"].view(1, -1, 1, 1)
        centred = x - x.mean(dim=1, keepdim=True)
        return centred / torch.sqrt(var + LAYERNORM_EPS) * weight + bias


def channel_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, temperature: torch.Tensor
) -> torch.Tensor:
    """Attention between channels: q, k, v [B, heads, C/heads, N]; returns [B, heads, C/heads, N].

    Queries and keys are L2-normalised over the pixels, their cosine similarities scaled by a learned
    per-head temperature and soft-maxed over the key channels.
    """
    q = F.normalize(q, dim=-1)
    k = F.normalize(k, dim=-1)
    weights = (q @ k.transpose(-2, -1)) * temperature
    return weights.softmax(dim=-1) @ v


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """[B, C, H, W] -> [B, heads, C/heads, H*W] (channel c goes to head c // (C/heads))."""
    b, c, h, w = x.shape
    return x.reshape(b, heads, c // heads, h * w)


class MDTA(nn.Module):
    """Multi-Dconv head Transposed Attention: 1x1 + depthwise 3x3 make q, k, v; channel attention."""

    def __init__(self, dim: int, heads: int, bias: bool) -> None:
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = conv1x1(dim, dim * 3, bias)
        self.qkv_dwconv = depthwise3x3(dim * 3, bias)
        self.project_out = conv1x1(dim, dim, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)
        heads = self.heads
        out = channel_attention(
            split_heads(q, heads), split_heads(k, heads), split_heads(v, heads), self.temperature
        )
        return self.project_out(out.reshape(x.shape))


class GDFN(nn.Module):
    """Gated-Dconv Feed-forward Network: GELU(gate) * value, both from a 1x1 + depthwise 3x3."""

    def __init__(self, dim: int, expansion: float, bias: bool) -> None:
        super().__init__()
        hidden = int(dim * expansion)
        self.project_in = conv1x1(dim, hidden * 2, bias)
        self.dwconv = depthwise3x3(hidden * 2, bias)
        self.project_out = conv1x1(hidden, dim, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, value = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(gate) * value)


class TransformerBlock(nn.Module):
    """Pre-norm residual block: x + MDTA(LN(x)), then + GDFN(LN(.))."""

    def __init__(
        self, dim: int, heads: int, ffn_expansion: float, bias: bool, layernorm: LayerNormType
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"{dim} channels do not split into {heads} heads")
        self.norm1 = LayerNorm(dim, layernorm)
        self.attn = MDTA(dim, heads, bias)
        self.norm2 = LayerNorm(dim, layernorm)
        self.ffn = GDFN(dim, ffn_expansion, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


def stage(
    dim: int, depth: int, heads: int, ffn_expansion: float, bias: bool, layernorm: LayerNormType
) -> nn.Sequential:
    """``depth`` transformer blocks of one width (keys ``<stage>.<i>.*``)."""
    return nn.Sequential(
        *(TransformerBlock(dim, heads, ffn_expansion, bias, layernorm) for _ in range(depth))
    )


class OverlapPatchEmbed(nn.Module):
    """The stem: one bias-free 3x3 convolution from the image to ``dim`` channels."""

    def __init__(self, in_channels: int, dim: int) -> None:
        super().__init__()
        self.proj = conv3x3(in_channels, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class Downsample(nn.Module):
    """Halve H and W, double the channels: 3x3 conv to C/2, then pixel-unshuffle by 2.

    The official Restormer convolution has no bias; ``bias=True`` is for derived networks whose
    convolution has one (Perceive-IR).
    """

    def __init__(self, channels: int, bias: bool = False) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3x3(channels, channels // 2, bias), nn.PixelUnshuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Upsample(nn.Module):
    """Double H and W, halve the channels: 3x3 conv to 2C, then pixel-shuffle by 2 (``bias`` as
    for :class:`Downsample`)."""

    def __init__(self, channels: int, bias: bool = False) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3x3(channels, channels * 2, bias), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def check_levels(num_blocks: Sequence[int], heads: Sequence[int]) -> None:
    """The family has four levels: one block count and one head count for each."""
    if len(num_blocks) != 4 or len(heads) != 4:
        raise ValueError(f"need 4 block counts and 4 head counts, got {num_blocks} and {heads}")


class RestormerUNet(nn.Module):
    """The forward pass the three networks share; subclasses build the modules it names.

    Encoder: stem -> level 1 (dim) -> down -> level 2 (2 dim) -> down -> level 3 (4 dim) -> down ->
    latent (8 dim). Decoder: up, concatenate the encoder skip, (1x1 reduction at levels 3 and 2), blocks;
    level 1 keeps 2 dim channels, then refinement blocks and a 3x3 output conv added to the input image.
    :meth:`modulate` is the hook where PromptIR and AdaIR change the decoder features.
    """

    def modulate(
        self, where: DecoderPoint, features: torch.Tensor, image: torch.Tensor
    ) -> torch.Tensor:
        """Change the decoder features at ``where`` before they are upsampled; identity here.

        ``latent``: the latent (8 dim channels); ``decoder3`` / ``decoder2``: the outputs of decoder
        levels 3 (4 dim) and 2 (2 dim).
        """
        return features

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        enc1 = self.encoder_level1(self.patch_embed(image))
        enc2 = self.encoder_level2(self.down1_2(enc1))
        enc3 = self.encoder_level3(self.down2_3(enc2))
        dec = self.modulate("latent", self.latent(self.down3_4(enc3)), image)
        dec = self.reduce_chan_level3(torch.cat([self.up4_3(dec), enc3], dim=1))
        dec = self.modulate("decoder3", self.decoder_level3(dec), image)
        dec = self.reduce_chan_level2(torch.cat([self.up3_2(dec), enc2], dim=1))
        dec = self.modulate("decoder2", self.decoder_level2(dec), image)
        dec = self.decoder_level1(torch.cat([self.up2_1(dec), enc1], dim=1))
        return self.output(self.refinement(dec)) + image
