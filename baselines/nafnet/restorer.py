"""The NAFNet restorer plugin: the GoPro motion-deblurring models, width 64 and width 32.

Chen, Chu, Zhang, Sun, "Simple Baselines for Image Restoration", ECCV 2022; official code
megvii-research/NAFNet (MIT). The network is this project's clean-room module
(:mod:`baselines.nafnet.network`) in the local-statistics ("TLC") form the official GoPro test
uses, with every pooling window fixed at build time, so an output depends only on its own image.
The BasicSR checkpoints load unchanged (``ckpt['params']``). See docs/methods/nafnet.md.

The model needs no task label and never reads one (``blind = True``), but it is a deblurring
model: its checkpoints declare a deblur-only training setting, so reports grey every other task.
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from baselines.nafnet.network import GOPRO_PARAMS, nafnet_gopro
from harness.checkpoints import CheckpointLayout
from harness.learned_restorer import LearnedRestorer

WIDTHS: dict[str, int] = {"width64": 64, "width32": 32}


class NAFNetRestorer(LearnedRestorer):
    """NAFNet (GoPro, local statistics at test time): single-task motion deblurring."""

    name = "nafnet"
    summary = "Single-task motion deblurring (GoPro), a NAFBlock U-Net with local test statistics."
    variants = ("width64", "width32")
    default_variant = "width64"
    tasks = ("deblur",)
    blind = True
    paper = "Chen et al., Simple Baselines for Image Restoration, ECCV 2022"
    repository = "https://github.com/megvii-research/NAFNet"
    license = "MIT"
    params: ClassVar[dict[str, int]] = {v: GOPRO_PARAMS[w] for v, w in WIDTHS.items()}
    signature = "NAFNet"
    checkpoint_layout = CheckpointLayout(containers=("params",))
    pad_multiple = 1  # the network zero-pads to a multiple of 16 inside, as upstream

    @classmethod
    def build_network(cls, variant: str) -> nn.Module:
        """The released GoPro configuration of this width, with the official test's TLC pooling."""
        return nafnet_gopro(WIDTHS[variant], tlc=True)
