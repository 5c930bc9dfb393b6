"""OpenAI's ADM U-Net (guided-diffusion), the frozen model DiffLoss trains restorers against.

Written from the architecture of Dhariwal & Nichol, "Diffusion Models Beat GANs on Image
Synthesis" (openai/guided-diffusion, ``unet.py`` UNetModel) for the flags of the released
256x256 unconditional ImageNet model (``256x256_diffusion_uncond.pt``, README "MODEL_FLAGS"):
residual blocks with FiLM-style scale/shift conditioning on the timestep, residual blocks for
down/upsampling, self-attention with 64 channels per head (heads split before q/k/v) at 8x, 16x
and 32x downsampling, a learned variance (6 output channels). Module and parameter names follow
the official checkpoint, so its state_dict loads strictly.

The network runs in float32 whatever ``use_fp16`` says: DiffLoss's official code feeds it float32
and never converts it to half. ``forward`` returns the network output and its bottleneck features
(the middle block's output, the "h-space" DiffLoss constrains).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

GROUPS = 32
"""Groups of every GroupNorm (channel counts must be multiples of it)."""
MAX_PERIOD = 10000


@dataclass(frozen=True)
class ADMConfig:
    """The architecture flags that change keys or shapes (others are fixed to the 256 uncond ones).

    ``attention_ds``: downsampling factors (1, 2, 4, ...) at which blocks attend; the official
    flag ``attention_resolutions`` 32,16,8 at image size 256 is 256 // res = 8, 16, 32.
    """

    model_channels: int = 256
    channel_mult: tuple[int, ...] = (1, 1, 2, 2, 4, 4)
    num_res_blocks: int = 2
    attention_ds: tuple[int, ...] = (8, 16, 32)
    num_head_channels: int = 64
    in_channels: int = 3
    out_channels: int = 6
    """6 with a learned variance (``learn_sigma``): the first 3 are the predicted noise."""

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this (one halving per level but the last)."""
        return 2 ** (len(self.channel_mult) - 1)


ADM_256_UNCOND = ADMConfig()
"""``256x256_diffusion_uncond.pt``: num_channels 256, num_res_blocks 2, attention 32,16,8,
num_head_channels 64, resblock_updown, use_scale_shift_norm, learn_sigma."""

ADM_TINY = ADMConfig(
    model_channels=32,
    channel_mult=(1, 2),
    num_res_blocks=1,
    attention_ds=(2,),
    num_head_channels=32,
)
"""The same architecture at toy size (2 levels, 1 block each, attention at 2x, 828,358 parameters):
the tests' random stand-in for the released weights, and the CPU cost measurement's."""


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps: [cos | sin] of t * geometric freqs."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(MAX_PERIOD) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )
    angles = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
    return F.pad(emb, (0, dim % 2))


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(GROUPS, channels)


class ResBlock(nn.Module):
    """Residual block conditioned on the time embedding by scale/shift after its second norm.

    ``resample``: "down" (2x average pooling) or "up" (2x nearest), applied to both paths after the
    first norm+SiLU; the skip path is a 1x1 convolution when the channel count changes.
    """

    def __init__(
        self, channels: int, emb_channels: int, out_channels: int, resample: str | None = None
    ) -> None:
        super().__init__()
        self.in_layers = nn.Sequential(
            _norm(channels), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1)
        )
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, 2 * out_channels))
        # index 2 is the (zero-rate) dropout of the official block, kept for the key names
        self.out_layers = nn.Sequential(
            _norm(out_channels),
            nn.SiLU(),
            nn.Identity(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
        )
        self.skip_connection: nn.Module = (
            nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)
        )
        self.resample = resample

    def _resample(self, x: torch.Tensor) -> torch.Tensor:
        if self.resample == "down":
            return F.avg_pool2d(x, 2)
        if self.resample == "up":
            return F.interpolate(x, scale_factor=2, mode="nearest")
        return x

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        norm, act, conv = self.in_layers
        h = conv(self._resample(act(norm(x))))
        x = self._resample(x)
        scale, shift = self.emb_layers(emb)[..., None, None].chunk(2, dim=1)
        h = self.out_layers[0](h) * (1 + scale) + shift
        h = self.out_layers[3](self.out_layers[1](h))
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """Self-attention over all positions; qkv is laid out per head as [q | k | v] channels."""

    def __init__(self, channels: int, head_channels: int) -> None:
        super().__init__()
        if channels % head_channels:
            raise ValueError(f"{channels} channels do not split into heads of {head_channels}")
        self.heads = channels // head_channels
        self.norm = _norm(channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, height, width = x.shape
        flat = x.reshape(b, c, height * width)
        qkv = self.qkv(self.norm(flat)).reshape(b * self.heads, 3 * c // self.heads, -1)
        q, k, v = qkv.chunk(3, dim=1)  # each [B*heads, head_channels, T]
        weights = torch.softmax(q.transpose(1, 2) @ k / math.sqrt(q.shape[1]), dim=-1)
        out = (v @ weights.transpose(1, 2)).reshape(b, c, -1)
        return (flat + self.proj_out(out)).reshape(b, c, height, width)


class Block(nn.ModuleList):
    """A sequence of layers, the residual blocks among them given the time embedding."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


class ADMUNet(nn.Module):
    """The ADM U-Net: ``forward(x, t)`` -> (output [B, out_channels, H, W], h-space features).

    ``x`` in [-1, 1] (a noised image x_t), ``t`` the integer timesteps [B] (0..999, unscaled).
    """

    def __init__(self, config: ADMConfig = ADM_256_UNCOND) -> None:
        super().__init__()
        self.config = config
        base = config.model_channels
        emb = 4 * base
        self.time_embed = nn.Sequential(nn.Linear(base, emb), nn.SiLU(), nn.Linear(emb, emb))
        ch = config.channel_mult[0] * base
        self.input_blocks = nn.ModuleList(
            [Block([nn.Conv2d(config.in_channels, ch, 3, padding=1)])]
        )
        skips = [ch]
        ds = 1
        last = len(config.channel_mult) - 1
        for level, mult in enumerate(config.channel_mult):
            for _ in range(config.num_res_blocks):
                layers: list[nn.Module] = [ResBlock(ch, emb, mult * base)]
                ch = mult * base
                if ds in config.attention_ds:
                    layers.append(AttentionBlock(ch, config.num_head_channels))
                self.input_blocks.append(Block(layers))
                skips.append(ch)
            if level != last:
                self.input_blocks.append(Block([ResBlock(ch, emb, ch, resample="down")]))
                skips.append(ch)
                ds *= 2
        self.middle_block = Block(
            [
                ResBlock(ch, emb, ch),
                AttentionBlock(ch, config.num_head_channels),
                ResBlock(ch, emb, ch),
            ]
        )
        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(config.channel_mult))):
            for i in range(config.num_res_blocks + 1):
                layers = [ResBlock(ch + skips.pop(), emb, mult * base)]
                ch = mult * base
                if ds in config.attention_ds:
                    layers.append(AttentionBlock(ch, config.num_head_channels))
                if level and i == config.num_res_blocks:
                    layers.append(ResBlock(ch, emb, ch, resample="up"))
                    ds //= 2
                self.output_blocks.append(Block(layers))
        self.out = nn.Sequential(
            _norm(ch), nn.SiLU(), nn.Conv2d(ch, config.out_channels, 3, padding=1)
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The network output and the middle block's output (h-space) for noised images at ``t``."""
        multiple = self.config.size_multiple
        if x.shape[-2] % multiple or x.shape[-1] % multiple:
            raise ValueError(f"ADM input {tuple(x.shape[-2:])} is not a multiple of {multiple}")
        emb = self.time_embed(timestep_embedding(t, self.config.model_channels))
        h = x.float()
        skips = []
        for block in self.input_blocks:
            h = block(h, emb)
            skips.append(h)
        hspace = self.middle_block(h, emb)
        h = hspace
        for block in self.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
        return self.out(h), hspace


def parameter_count(model: nn.Module) -> int:
    """Elements of the model's parameters."""
    return sum(int(p.numel()) for p in model.parameters())
