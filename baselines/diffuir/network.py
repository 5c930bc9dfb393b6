"""DiffUIR's conditional U-Net (the ``unet0`` of the official model), all four released sizes.

Written from the architecture description in docs/methods/diffuir-spec.md ("Network") of
Zheng et al., "Selective Hourglass Mapping for Universal Image Restoration Based on Diffusion
Model", CVPR 2024 (repository iSEE-Laboratory/DiffUIR). Module and parameter names follow the
official checkpoints so their ``unet0`` state_dicts load strictly.

Input: ``concat[x_t, x_in]`` [B, 6, H, W] in [-1, 1] and the float time ``tau`` [B] (1000 * alpha_bar);
output: the predicted residual ``x_in - x_0`` [B, 3, H, W], not clamped.

Inference fast path (eval mode, no autograd; maths in ``baselines.diffuir.fast``): activations are
channels-last, weight-standardised convolution weights are cached (the cache is dropped when the
weights change or the module goes back to training), the time scale/shift is folded into
GroupNorm's affine, and linear attention is folded into its output projection.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import _get_current_dispatch_mode

from baselines.diffuir import fast as fp

VARIANTS: dict[str, tuple[int, tuple[int, int, int, int]]] = {
    "t": (32, (1, 1, 1, 1)),
    "s": (32, (1, 2, 2, 4)),
    "b": (64, (1, 2, 2, 4)),
    "l": (64, (1, 2, 4, 8)),
}
"""variant -> (dim, dim_mults)."""

PARAMS: dict[str, int] = {"t": 886_435, "s": 3_268_643, "b": 12_406_851, "l": 36_261_187}
"""Exact parameter counts of the four variants (they match the paper's README sizes)."""

HEADS = 4
HEAD_DIM = 32
GROUPS = 8
PAD_MULTIPLE = 16
SPLIT_PIXELS = 128 * 128
"""On CPU the fast path runs a batch of images this large (H x W) one image at a time: one image
already keeps the cores busy and a batch's larger tensors only add page faults (measurements in
docs/performance.md); each image's result is then bit-identical to its batch-of-one result."""


def _eps(dtype: torch.dtype) -> float:
    return 1e-5 if dtype == torch.float32 else 1e-3


def _fast(module: nn.Module) -> bool:
    """Inference fast path: eval mode, no autograd, no autocast, and no dispatch mode watching.

    Under a dispatch mode (``torch.utils.flop_counter.FlopCounterMode``, tracing) the plain spec
    operations run, so FLOP counts give the network's nominal cost, not the fast path's shortcuts.
    Under autocast (the ``bf16`` precision) they run too: autocast keeps the normalisations in
    float32, which the fast path's fused float32 arithmetic does not know about.
    """
    return (
        not module.training
        and not torch.is_grad_enabled()
        and _get_current_dispatch_mode() is None
        and not any(torch.is_autocast_enabled(kind) for kind in ("cpu", "cuda"))
    )


class WSConv2d(nn.Conv2d):
    """3x3 convolution whose filters are standardised (zero mean, unit biased variance) per output."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 3, padding=1)
        self._cached: tuple[tuple, torch.Tensor] | None = None

    def standardized_weight(self, dtype: torch.dtype) -> torch.Tensor:
        """The standardised filters (computed from the raw weight every call)."""
        w = self.weight
        mean = w.mean(dim=(1, 2, 3), keepdim=True)
        var = w.var(dim=(1, 2, 3), unbiased=False, keepdim=True)
        return (w - mean) * (var + _eps(dtype)).rsqrt()

    def _weight_for(self, x: torch.Tensor) -> torch.Tensor:
        if not _fast(self):
            return self.standardized_weight(x.dtype)
        w = self.weight
        key = (w.data_ptr(), w._version, w.device, w.dtype, x.dtype)
        if self._cached is None or self._cached[0] != key:
            weight = self.standardized_weight(x.dtype).detach()
            self._cached = (key, weight.contiguous(memory_format=fp.CHANNELS_LAST))
        return self._cached[1]

    def train(self, mode: bool = True) -> WSConv2d:
        """Switch mode and drop the cached standardised weight."""
        self._cached = None
        return super().train(mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve with the standardised filters and the raw bias."""
        return F.conv2d(x, self._weight_for(x), self.bias, padding=1)


class Conv1x1(nn.Conv2d):
    """1x1 convolution; on the inference fast path one matrix product over all pixels."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mix channels at every pixel."""
        if not _fast(self):
            return super().forward(x)
        return fp.conv1x1(x, self.weight, self.bias)


class Block(nn.Module):
    """WS-conv 3x3 -> GroupNorm(8) -> optional (1 + scale, shift) -> SiLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.proj = WSConv2d(in_channels, out_channels)
        self.norm = nn.GroupNorm(GROUPS, out_channels)

    def forward(
        self, x: torch.Tensor, scale_shift: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Apply the block; ``scale_shift`` are [B, C, 1, 1] tensors from the time embedding."""
        h = self.proj(x)
        if _fast(self):
            norm = self.norm
            return fp.norm_scale_shift_silu(
                h, GROUPS, norm.weight, norm.bias, norm.eps, scale_shift
            )
        if scale_shift is None:
            return F.silu(self.norm(h))
        scale, shift = scale_shift
        h = self.norm(h)
        return F.silu(h * (scale + 1) + shift)


class ResnetBlock(nn.Module):
    """Time-conditioned residual block: Block(scale/shift from time) -> Block, plus a skip."""

    def __init__(self, in_channels: int, out_channels: int, time_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(time_dim, 2 * out_channels))
        self.block1 = Block(in_channels, out_channels)
        self.block2 = Block(out_channels, out_channels)
        self.res_conv = (
            Conv1x1(in_channels, out_channels) if in_channels != out_channels else nn.Identity()
        )

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """Apply the block with the time embedding ``emb`` [B, time_dim]."""
        scale, shift = self.mlp(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.block2(self.block1(x, (scale, shift)))
        skip = self.res_conv(x)
        return h.add_(skip) if _fast(self) else h + skip


class ChannelLayerNorm(nn.Module):
    """LayerNorm over channels at each pixel, with a gain ``g`` and no bias."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.g = nn.Parameter(torch.ones(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise over dim 1 (biased variance) and multiply by ``g``."""
        if _fast(self):
            return fp.channel_layer_norm(x, self.g, _eps(x.dtype))
        var, mean = torch.var_mean(x, dim=1, unbiased=False, keepdim=True)
        return (x - mean) * (var + _eps(x.dtype)).rsqrt() * self.g


class PreNorm(nn.Module):
    """``fn(norm(x))``."""

    def __init__(self, channels: int, fn: nn.Module) -> None:
        super().__init__()
        self.fn = fn
        self.norm = ChannelLayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise, then apply ``fn``."""
        return self.fn(self.norm(x))


class Residual(nn.Module):
    """``x + fn(x)``."""

    def __init__(self, fn: nn.Module) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add the wrapped module's output to its input."""
        if _fast(self):
            return self.fn(x).add_(x)
        return x + self.fn(x)


def _split_heads(qkv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    b, _, h, w = qkv.shape
    q, k, v = qkv.reshape(b, 3, HEADS, HEAD_DIM, h * w).unbind(1)
    return q, k, v


class LinearAttention(nn.Module):
    """Linear attention (4 heads x 32): softmax over features for q, over positions for k."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = HEADS * HEAD_DIM
        self.to_qkv = Conv1x1(channels, 3 * hidden, bias=False)
        self.to_out = nn.Sequential(Conv1x1(hidden, channels), ChannelLayerNorm(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend over all H*W positions in linear time."""
        if _fast(self):
            proj, norm = self.to_out[0], self.to_out[1]
            return fp.linear_attention(
                x,
                self.to_qkv.weight,
                proj.weight,
                proj.bias,
                norm.g,
                HEADS,
                HEAD_DIM,
                _eps(x.dtype),
            )
        b, _, h, w = x.shape
        n = h * w
        q, k, v = _split_heads(self.to_qkv(x))
        q = q.softmax(dim=-2) * HEAD_DIM**-0.5
        k = k.softmax(dim=-1)
        v = v / n
        context = torch.matmul(k, v.transpose(-1, -2))  # [b, heads, d, e]
        out = torch.matmul(context.transpose(-1, -2), q)  # [b, heads, e, n]
        return self.to_out(out.reshape(b, HEADS * HEAD_DIM, h, w))


class Attention(nn.Module):
    """Full softmax attention (4 heads x 32), used in the middle of the U-Net."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = HEADS * HEAD_DIM
        self.to_qkv = Conv1x1(channels, 3 * hidden, bias=False)
        self.to_out = Conv1x1(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend over all H*W positions (quadratic in H*W)."""
        if _fast(self):
            proj = self.to_out
            return fp.full_attention(x, self.to_qkv.weight, proj.weight, proj.bias, HEADS, HEAD_DIM)
        b, _, h, w = x.shape
        q, k, v = _split_heads(self.to_qkv(x))
        sim = torch.matmul((q * HEAD_DIM**-0.5).transpose(-1, -2), k)  # [b, heads, i, j]
        out = torch.matmul(v, sim.softmax(dim=-1).transpose(-1, -2))  # [b, heads, d, i]
        return self.to_out(out.reshape(b, HEADS * HEAD_DIM, h, w))


class SinusoidalEmbedding(nn.Module):
    """Sines then cosines of ``tau * exp(-k ln(10000) / (half - 1))``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, tau: torch.Tensor) -> torch.Tensor:
        """Embed the float times ``tau`` [B] into [B, dim]."""
        half = self.dim // 2
        step = math.log(10000) / (half - 1)
        freqs = torch.exp(torch.arange(half, device=tau.device) * -step)
        args = tau[:, None] * freqs[None, :]
        return torch.cat((args.sin(), args.cos()), dim=-1)


def _attention_block(channels: int, attention: nn.Module) -> Residual:
    return Residual(PreNorm(channels, attention))


class Unet(nn.Module):
    """The conditional U-Net: 4 encoder levels, a middle with full attention, 4 decoder levels."""

    def __init__(self, dim: int, dim_mults: tuple[int, ...]) -> None:
        super().__init__()
        self.dim = dim
        self.dim_mults = tuple(dim_mults)
        dims = [dim] + [dim * m for m in dim_mults]
        levels = list(zip(dims[:-1], dims[1:], strict=True))
        time_dim = 4 * dim
        last = len(levels) - 1

        self.init_conv = nn.Conv2d(6, dim, 7, padding=3)
        self.time_mlp = nn.Sequential(
            SinusoidalEmbedding(dim),
            nn.Linear(dim, time_dim),
            nn.GELU(),
            nn.Linear(time_dim, time_dim),
        )
        self.downs = nn.ModuleList()
        for i, (a, b) in enumerate(levels):
            transition = nn.Conv2d(a, b, 4, 2, 1) if i < last else nn.Conv2d(a, b, 3, padding=1)
            self.downs.append(
                nn.ModuleList(
                    [
                        ResnetBlock(a, a, time_dim),
                        ResnetBlock(a, a, time_dim),
                        _attention_block(a, LinearAttention(a)),
                        transition,
                    ]
                )
            )
        self.ups = nn.ModuleList()
        for j, (a, b) in enumerate(reversed(levels)):
            transition = (
                nn.Sequential(
                    nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(b, a, 3, padding=1)
                )
                if j < last
                else nn.Conv2d(b, a, 3, padding=1)
            )
            self.ups.append(
                nn.ModuleList(
                    [
                        ResnetBlock(b + a, b, time_dim),
                        ResnetBlock(b + a, b, time_dim),
                        _attention_block(b, LinearAttention(b)),
                        transition,
                    ]
                )
            )
        mid = dims[-1]
        self.mid_block1 = ResnetBlock(mid, mid, time_dim)
        self.mid_attn = _attention_block(mid, Attention(mid))
        self.mid_block2 = ResnetBlock(mid, mid, time_dim)
        self.final_res_block = ResnetBlock(2 * dim, dim, time_dim)
        self.final_conv = Conv1x1(dim, 3)

    def forward(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """Predict the residual from ``x`` [B, 6, H, W] and the float times ``tau`` [B]."""
        batch, _, height, width = x.shape
        if batch > 1 and x.device.type == "cpu" and height * width >= SPLIT_PIXELS and _fast(self):
            return torch.cat([self._forward(x[i : i + 1], tau[i : i + 1]) for i in range(batch)])
        return self._forward(x, tau)

    def _forward(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        pad_h = (PAD_MULTIPLE - height % PAD_MULTIPLE) % PAD_MULTIPLE
        pad_w = (PAD_MULTIPLE - width % PAD_MULTIPLE) % PAD_MULTIPLE
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
        fast = _fast(self)
        if fast:
            x = x.contiguous(memory_format=fp.CHANNELS_LAST)

        x = self.init_conv(x)
        stem = x
        if fast and bool((tau == tau[:1]).all()):
            # one time for the whole batch (the sampler's case): embed it once, so each image's
            # result does not depend on the batch size through the matrix products' blocking
            tau = tau[:1]
        emb = self.time_mlp(tau.to(x.dtype))
        skips = []
        for block1, block2, attn, transition in self.downs:
            x = block1(x, emb)
            skips.append(x)
            x = attn(block2(x, emb))
            skips.append(x)
            x = transition(x)

        x = self.mid_block2(self.mid_attn(self.mid_block1(x, emb)), emb)

        for block1, block2, attn, transition in self.ups:
            x = block1(torch.cat((x, skips.pop()), dim=1), emb)
            x = block2(torch.cat((x, skips.pop()), dim=1), emb)
            x = transition(attn(x))

        x = self.final_res_block(torch.cat((x, stem), dim=1), emb)
        out = self.final_conv(x)[..., :height, :width]
        return out.contiguous() if fast else out


def build_unet(variant: str) -> Unet:
    """A randomly initialised DiffUIR U-Net of variant ``t``, ``s``, ``b`` or ``l``."""
    key = variant.lower()
    if key not in VARIANTS:
        raise ValueError(f"unknown DiffUIR variant {variant!r}; expected one of {sorted(VARIANTS)}")
    dim, dim_mults = VARIANTS[key]
    return Unet(dim, dim_mults)


def count_params(module: nn.Module) -> int:
    """Number of parameter elements."""
    return sum(p.numel() for p in module.parameters())
