"""DiffUIR's deterministic test sampler and its seeded noise.

Spec: docs/methods/diffuir-spec.md, "Sampler" and the quirks Q5, Q6, Q9.

Start state (quirk Q6, replicated): x = (1 - delta_bar_999) x_in + sqrt(0.01) z. For each pair
(t, s) of the step list: r_hat = clamp(F([x, x_in], 1000 alpha_bar_t), -1, 1) (quirk Q5, replicated),
x0_hat = clamp(x_in - r_hat, -1, 1); at the last pair the output is x0_hat, otherwise
x <- x - (alpha_bar_t - alpha_bar_s) r_hat + (delta_bar_t - delta_bar_s) x_in.

Noise (the one deliberate deviation, quirk Q9): upstream draws z with ``torch.randn`` on the GPU,
whose values depend on the GPU model and on the processing order. Here each image's z is drawn on
the CPU from its own generator, seeded by the first 8 bytes of sha256(f"{seed}:{image_id}"), so a
result depends only on (seed, image id, image size).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import torch
from torch import nn

from baselines.diffuir.schedule import SUM_SCALE, Schedule, step_pairs

DEFAULT_STEPS = 3


def noise_seed(seed: int, image_id: str) -> int:
    """The generator seed of one image: first 8 bytes of sha256(f"{seed}:{image_id}"), big-endian."""
    digest = hashlib.sha256(f"{seed}:{image_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def image_noise(seed: int, image_id: str, shape: Sequence[int]) -> torch.Tensor:
    """Standard normal noise [*shape] for one image, drawn on the CPU (float32)."""
    generator = torch.Generator(device="cpu").manual_seed(noise_seed(seed, image_id))
    return torch.randn(tuple(shape), generator=generator, dtype=torch.float32)


def batch_noise(seed: int, ids: Sequence[str], shape: Sequence[int]) -> torch.Tensor:
    """Noise [len(ids), *shape] for a batch: each image's own draw, independent of the others."""
    return torch.stack([image_noise(seed, image_id, shape) for image_id in ids])


def sample(
    unet: nn.Module,
    schedule: Schedule,
    x_in01: torch.Tensor,
    noise: torch.Tensor,
    steps: int = DEFAULT_STEPS,
) -> torch.Tensor:
    """Restore ``x_in01`` [B, 3, H, W] in [0, 1] from standard normal ``noise`` of the same shape.

    Returns the restored images in [0, 1]. Runs ``steps`` network calls.
    """
    if noise.shape != x_in01.shape:
        raise ValueError(f"noise shape {tuple(noise.shape)} != image shape {tuple(x_in01.shape)}")
    x_in = 2 * x_in01 - 1
    noise = noise.to(device=x_in.device, dtype=x_in.dtype)
    alpha_bar = schedule.alpha_bar.to(x_in.device)
    delta_bar = schedule.delta_bar.to(x_in.device)
    last = schedule.timesteps - 1
    x = (1 - delta_bar[last]) * x_in + math.sqrt(SUM_SCALE) * noise
    batch = x_in.shape[0]
    for t, s in step_pairs(steps, schedule.timesteps):
        tau = (alpha_bar[t] * schedule.timesteps).expand(batch)
        residual = unet(torch.cat((x, x_in), dim=1), tau).clamp(-1.0, 1.0)
        if s < 0:
            x = (x_in - residual).clamp(-1.0, 1.0)
            break
        x = x - (alpha_bar[t] - alpha_bar[s]) * residual + (delta_bar[t] - delta_bar[s]) * x_in
    return (x + 1) / 2
