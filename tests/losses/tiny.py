"""A tiny ADM of the full model's architecture (same code path, small widths and depth)."""

from __future__ import annotations

import torch

from harness.losses.adm_unet import ADM_TINY, ADMUNet

TINY = ADM_TINY


def tiny_adm(seed: int = 0) -> ADMUNet:
    """Randomly initialised tiny ADM (PyTorch's default init: no zeroed output layers)."""
    torch.manual_seed(seed)
    return ADMUNet(TINY).eval()
