"""A tiny ADM of the full model's architecture (same code path, small widths and depth)."""

from __future__ import annotations

import torch

from harness.losses.adm_unet import ADMConfig, ADMUNet

TINY = ADMConfig(
    model_channels=32,
    channel_mult=(1, 2),
    num_res_blocks=1,
    attention_ds=(2,),
    num_head_channels=32,
)
"""Two levels, one residual block each, attention at 2x downsampling, 32 channels per head."""


def tiny_adm(seed: int = 0) -> ADMUNet:
    """Randomly initialised tiny ADM (PyTorch's default init: no zeroed output layers)."""
    torch.manual_seed(seed)
    return ADMUNet(TINY).eval()
