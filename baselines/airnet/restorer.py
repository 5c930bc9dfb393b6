"""The AirNet restorer plugin (blind all-in-one restoration guided by a contrastive encoder).

Li, Liu, Hu, Wu, Lv, Peng, "All-In-One Image Restoration for Unknown Corruption", CVPR 2022;
official code XLearning-SCU/2022-CVPR-AirNet (no licence file). The network is this project's
clean-room module (:mod:`baselines.airnet.network`); the official ``All.pth`` (a plain
state_dict) loads strictly once its training-only MoCo entries (key encoder, queue) are set
aside and counted. See docs/methods/airnet.md.
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from baselines.airnet.network import (
    BLOCKS,
    FEATURES,
    GROUPS,
    KERNEL,
    PARAMS_STORED,
    PARAMS_USED,
    TRAIN_ONLY_PREFIXES,
    AirNet,
)
from harness.checkpoints import CheckpointLayout
from harness.learned_restorer import LearnedRestorer

DEFORMABLE_CONVS = GROUPS * BLOCKS * 2
"""Two degradation-guided modules, each with one deformable convolution, per block."""
DEFORMABLE_MACS_PER_PIXEL = DEFORMABLE_CONVS * FEATURES * FEATURES * KERNEL * KERNEL
"""Multiply-adds per output pixel of all deformable convolutions (bilinear sampling aside)."""


class AirNetRestorer(LearnedRestorer):
    """AirNet: a degradation map from a contrastive encoder guides deformable convolutions; blind."""

    name = "airnet"
    summary = "Blind all-in-one restoration: degradation-guided deformable convs (CVPR 2022)."
    variants = ("base",)
    default_variant = "base"
    tasks = ("derain", "dehaze")
    blind = True
    paper = "Li et al., All-In-One Image Restoration for Unknown Corruption (AirNet), CVPR 2022"
    repository = "https://github.com/XLearning-SCU/2022-CVPR-AirNet"
    license = "none stated (no licence file: all rights reserved by default)"
    params: ClassVar[dict[str, int]] = {"base": PARAMS_USED}
    checkpoint_params: ClassVar[dict[str, int]] = {"base": PARAMS_STORED}
    signature = "AirNet"
    checkpoint_layout = CheckpointLayout(
        train_only=TRAIN_ONLY_PREFIXES, train_only_buffers=("E.E.queue",)
    )
    pad_multiple = 1
    """A full-resolution network: any size runs as is (upstream crops input and GT to x16)."""
    flops_not_counted: ClassVar[tuple[str, ...]] = (
        f"AirNet's {DEFORMABLE_CONVS} modulated deformable {KERNEL}x{KERNEL} convolutions "
        f"({FEATURES}->{FEATURES} channels, torchvision.ops.deform_conv2d) have no formula in "
        "torch.utils.flop_counter and count 0: they add "
        f"{DEFORMABLE_MACS_PER_PIXEL:,} MACs per pixel (bilinear sampling aside); their "
        "offset/mask convolutions are counted",
    )

    @classmethod
    def build_network(cls, variant: str) -> nn.Module:
        """The released configuration (the only one)."""
        return AirNet()
