"""The Perceive-IR restoration network of the released 3-task and 5-task checkpoints.

Zhang, Ma, Wang, Zhang, Zhang, Zhang. "Perceive-IR: Learning to Perceive Degradation Better for
All-in-One Image Restoration", IEEE TIP 2025 (arXiv:2408.15994). Written from the network the
authors' current release defines (House-yuyu/Perceive-IR, ``src/perceiveIR/model.py`` at commit
c7f79d47edcc1c2a33bfd92f6347c912c4c6e3d7), not from the older ``cyclicPrompt`` code that earlier
snapshots of the repository ship under the same name (see docs/methods/perceive-ir.md).

A Restormer U-Net (dim 48, blocks [4, 6, 6, 8], heads [1, 2, 4, 8], 4 refinement blocks, every
convolution with a bias) whose latent and three decoder stages are guided:

- a compact degradation extractor (four stride-2 convolutions with GELU, global average pooling, a
  linear layer, L2 normalisation) turns the whole input into a 128-d degradation vector;
- per level, a prompt-guidance MLP maps [semantic vector of that level, degradation vector] to a
  per-channel scale and shift of the level's input features: ``guidance = x * (1 + gamma) + beta``;
  the semantic vectors are class tokens of a frozen DINOv2 (:mod:`baselines.perceive_ir.semantics`),
  the shallowest for decoder level 1, the deepest for the latent;
- every block of a guided stage is a cross-attention block: channel attention whose queries come
  from the (fixed) guidance and whose keys and values come from the running features, then an MDTA
  and a GDFN; the block's first residual is taken around the guidance, not around its input.

Unlike Restormer, the decoder's level 1 works at ``dim`` channels (a 1x1 reduction after the skip
concatenation) and so do the refinement blocks.

The blocks are the shared ones of :mod:`baselines.blocks.restormer`. Their submodules are named as
in Restormer, the release names some of them differently; :data:`RELEASE_NAMES` translates, so that
``state_dict()`` gives, and ``load_state_dict`` takes, the keys of the released checkpoints (their
``ckpt['model']``). 33,901,111 parameters, no buffers.

Input [B, 3, H, W] in [0, 1] with H and W divisible by 8, and four [B, semantic_dim] vectors;
output = input + residual, not clamped.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from itertools import chain
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from baselines.blocks.restormer import (
    GDFN,
    MDTA,
    Downsample,
    LayerNorm,
    TransformerBlock,
    Upsample,
    channel_attention,
    check_levels,
    conv1x1,
    conv3x3,
    depthwise3x3,
    split_heads,
)

PARAMETERS = 33_901_111
"""Parameters of the released configuration (the state_dict holds nothing else)."""
SEMANTIC_DIM = 768
"""Width of the semantic vectors of the released checkpoints (DINOv2-base class tokens)."""
DEGRADATION_DIM = 128
FFN_EXPANSION = 2.66

RELEASE_NAMES: tuple[tuple[str, str], ...] = (
    (r"\.attn\.", ".attention."),
    (r"\.qkv_dwconv\.", ".qkv_dw."),
    (r"\.(attention|mdta)\.project_out\.", r".\1.project."),
    (r"\.ffn\.dwconv\.", ".ffn.depthwise."),
)
"""(pattern, replacement) from the shared blocks' key names to the release's, applied in order
to ``"." + key``: Restormer's ``attn`` / ``qkv_dwconv`` / attention ``project_out`` / feed-forward
``dwconv`` are the release's ``attention`` / ``qkv_dw`` / ``project`` / ``depthwise``. Loading
inverts it over the network's own keys (the release's names alone are ambiguous: a plain block's
``attention.project`` and a guided block's are different layers)."""


def release_key(key: str) -> str:
    """The released checkpoints' name of one of this network's state_dict keys."""
    name = "." + key
    for pattern, replacement in RELEASE_NAMES:
        name = re.sub(pattern, replacement, name)
    return name[1:]


class CrossAttention(nn.Module):
    """Channel attention with queries from the guidance, keys and values from the features.

    Queries: 1x1 + depthwise 3x3 on the guidance; keys and values: 1x1 + depthwise 3x3 on the
    features, split in two; per-head learned temperature; a 1x1 projection.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.q = nn.Sequential(conv1x1(dim, dim, True), depthwise3x3(dim, True))
        self.kv = nn.Sequential(conv1x1(dim, dim * 2, True), depthwise3x3(dim * 2, True))
        self.project = conv1x1(dim, dim, True)

    def forward(self, x: torch.Tensor, guidance: torch.Tensor) -> torch.Tensor:
        k, v = self.kv(x).chunk(2, dim=1)
        q = self.q(guidance)
        out = channel_attention(
            split_heads(q, self.heads),
            split_heads(k, self.heads),
            split_heads(v, self.heads),
            self.temperature,
        )
        return self.project(out.reshape(x.shape))


class GuidedBlock(nn.Module):
    """Cross-attention, then MDTA, then GDFN, each after its own LayerNorm.

    ``y = g + MDTA(LN(CrossAttention(LN(x), LN(g))))``, then ``y + GDFN(LN(y))``, where ``g`` is
    the stage's guidance (the same for every block of the stage).
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = LayerNorm(dim)
        self.guidance_norm = LayerNorm(dim)
        self.attention = CrossAttention(dim, heads)
        self.mdta_norm = LayerNorm(dim)
        self.mdta = MDTA(dim, heads, bias=True)
        self.norm2 = LayerNorm(dim)
        self.ffn = GDFN(dim, FFN_EXPANSION, bias=True)

    def forward(self, x: torch.Tensor, guidance: torch.Tensor) -> torch.Tensor:
        attended = self.attention(self.norm1(x), self.guidance_norm(guidance))
        y = guidance + self.mdta(self.mdta_norm(attended))
        return y + self.ffn(self.norm2(y))


class GuidedStage(nn.Module):
    """``depth`` guided blocks sharing one guidance (keys ``<stage>.blocks.<i>.*``)."""

    def __init__(self, dim: int, heads: int, depth: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(GuidedBlock(dim, heads) for _ in range(depth))

    def forward(self, x: torch.Tensor, guidance: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, guidance)
        return x


class DegradationExtractor(nn.Module):
    """The compact feature extractor: a unit-norm degradation vector of the whole image."""

    def __init__(self, out_dim: int = DEGRADATION_DIM) -> None:
        super().__init__()
        widths = (3, 32, 64, 96, 128)
        layers: list[nn.Module] = []
        for cin, cout in zip(widths, widths[1:], strict=False):
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.GELU()]
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1))
        self.projection = nn.Linear(widths[-1], out_dim)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.projection(self.body(image).flatten(1)), dim=-1)


class PromptGuidance(nn.Module):
    """Scale and shift of one level's features from its semantic and the degradation vector."""

    def __init__(self, dim: int, semantic_dim: int, degradation_dim: int) -> None:
        super().__init__()
        self.affine = nn.Sequential(
            nn.Linear(semantic_dim + degradation_dim, dim * 2),
            nn.GELU(),
            nn.Linear(dim * 2, dim * 2),
        )

    def forward(
        self, x: torch.Tensor, semantic: torch.Tensor, degradation: torch.Tensor
    ) -> torch.Tensor:
        gamma, beta = self.affine(torch.cat([semantic, degradation], dim=-1)).chunk(2, dim=-1)
        return x * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]


class PerceiveIR(nn.Module):
    """Perceive-IR; the defaults are the configuration of both released checkpoints."""

    def __init__(
        self,
        dim: int = 48,
        num_blocks: Sequence[int] = (4, 6, 6, 8),
        heads: Sequence[int] = (1, 2, 4, 8),
        num_refinement_blocks: int = 4,
        semantic_dim: int = SEMANTIC_DIM,
    ) -> None:
        super().__init__()
        check_levels(num_blocks, heads)
        widths = (dim, dim * 2, dim * 4, dim * 8)

        def plain(level: int, depth: int) -> nn.Sequential:
            width, head = widths[level], heads[level]
            return nn.Sequential(
                *(
                    TransformerBlock(width, head, FFN_EXPANSION, True, "WithBias")
                    for _ in range(depth)
                )
            )

        self.semantic_dim = semantic_dim
        # registration order = the release's state_dict order
        self.embed = conv3x3(3, dim, bias=True)
        self.encoder1 = plain(0, num_blocks[0])
        self.down1 = Downsample(widths[0], bias=True)
        self.encoder2 = plain(1, num_blocks[1])
        self.down2 = Downsample(widths[1], bias=True)
        self.encoder3 = plain(2, num_blocks[2])
        self.down3 = Downsample(widths[2], bias=True)
        self.cfe = DegradationExtractor()
        self.pgm = nn.ModuleList(PromptGuidance(w, semantic_dim, DEGRADATION_DIM) for w in widths)
        self.latent = GuidedStage(widths[3], heads[3], num_blocks[3])
        self.up3 = Upsample(widths[3], bias=True)
        self.reduce3 = conv1x1(widths[3], widths[2], True)
        self.decoder3 = GuidedStage(widths[2], heads[2], num_blocks[2])
        self.up2 = Upsample(widths[2], bias=True)
        self.reduce2 = conv1x1(widths[2], widths[1], True)
        self.decoder2 = GuidedStage(widths[1], heads[1], num_blocks[1])
        self.up1 = Upsample(widths[1], bias=True)
        self.reduce1 = conv1x1(widths[1], widths[0], True)
        self.decoder1 = GuidedStage(widths[0], heads[0], num_blocks[0])
        self.refinement = plain(0, num_refinement_blocks)
        self.output = conv3x3(dim, 3, bias=True)
        self.register_state_dict_post_hook(_to_release_names)
        self.register_load_state_dict_pre_hook(_from_release_names)
        self.register_load_state_dict_post_hook(_report_release_names)

    def forward(self, image: torch.Tensor, semantics: Sequence[torch.Tensor]) -> torch.Tensor:
        """Restore ``image`` guided by four semantic vectors, shallowest (decoder level 1) first."""
        if len(semantics) != 4:
            raise ValueError(f"Perceive-IR takes 4 semantic vectors, got {len(semantics)}")
        degradation = self.cfe(image)

        def guided(stage: GuidedStage, level: int, x: torch.Tensor) -> torch.Tensor:
            return stage(x, self.pgm[level](x, semantics[level], degradation))

        enc1 = self.encoder1(self.embed(image))
        enc2 = self.encoder2(self.down1(enc1))
        enc3 = self.encoder3(self.down2(enc2))
        dec = guided(self.latent, 3, self.down3(enc3))
        dec = guided(self.decoder3, 2, self.reduce3(torch.cat([self.up3(dec), enc3], dim=1)))
        dec = guided(self.decoder2, 1, self.reduce2(torch.cat([self.up2(dec), enc2], dim=1)))
        dec = guided(self.decoder1, 0, self.reduce1(torch.cat([self.up1(dec), enc1], dim=1)))
        return self.output(self.refinement(dec)) + image


def _to_release_names(
    module: nn.Module, state: OrderedDict[str, Any], prefix: str, metadata: Any
) -> None:
    """state_dict post-hook: the keys under ``prefix`` get the release's names, order kept."""
    items = list(state.items())
    state.clear()
    for key, value in items:
        if key.startswith(prefix):
            key = prefix + release_key(key[len(prefix) :])
        state[key] = value


def _from_release_names(module: nn.Module, state: dict[str, Any], prefix: str, *_: Any) -> None:
    """load_state_dict pre-hook: release names under ``prefix`` back to the module's own; keys
    that are not the release's stay as given (a strict load then reports them)."""
    own = chain(module.named_parameters(), module.named_buffers())
    inverse = {release_key(name): name for name, _ in own}
    items = list(state.items())
    state.clear()
    for key, value in items:
        local = key[len(prefix) :] if key.startswith(prefix) else None
        if local in inverse:
            key = prefix + inverse[local]
        state[key] = value


def _report_release_names(module: nn.Module, incompatible: Any) -> None:
    """load_state_dict post-hook: this network's missing keys are reported by the release's
    names too (the lists hold the whole load's keys, full paths: only its own are renamed)."""
    own = {
        name: release_key(name)
        for name, _ in chain(module.named_parameters(), module.named_buffers())
    }
    renamed = []
    for key in incompatible.missing_keys:
        name = next((n for n in own if key == n or key.endswith("." + n)), None)
        renamed.append(key if name is None else key[: len(key) - len(name)] + own[name])
    incompatible.missing_keys[:] = renamed
