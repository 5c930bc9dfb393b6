"""The MPRNet restorer plugin: task-specific deraining and motion-deblurring checkpoints.

Zamir, Arora, Khan, Hayat, Khan, Yang, Shao, "Multi-Stage Progressive Image Restoration",
CVPR 2021; official code swz30/MPRNet (Academic Public License, non-commercial). The network is
this project's clean-room module (:mod:`baselines.mprnet.network`); the official checkpoints load
unchanged (``ckpt['state_dict']``, an optional ``module.`` prefix taken off; the one PReLU shared
by 55 keys loads as upstream's does). See docs/methods/mprnet.md.

Variants: ``derain`` (``model_deraining.pth``) and ``deblur`` (``model_deblurring.pth``) differ in
width; ``routed`` (the default) loads both and restores each batch with the checkpoint of its task,
a label universal methods never get, so the method is not blind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from torch import nn

from baselines.mprnet.network import PARAMS, SIZE_MULTIPLE, MPRNet
from harness.checkpoints import CheckpointLayout
from harness.learned_restorer import LearnedRestorer

if TYPE_CHECKING:
    import torch

    from harness.restorer import ImageBatch


class MPRNetRestorer(LearnedRestorer):
    """MPRNet: one checkpoint per task (deraining, motion deblurring), routed by the task label."""

    name = "mprnet"
    summary = "Task-specific multi-stage CNN: Rain13K deraining and GoPro deblurring checkpoints."
    variants = ("routed", "derain", "deblur")
    default_variant = "routed"
    routes: ClassVar[dict[str, dict[str, str]]] = {
        "routed": {"derain": "derain", "deblur": "deblur"}
    }
    tasks = ("derain", "deblur")
    blind = False
    paper = "Zamir et al., Multi-Stage Progressive Image Restoration, CVPR 2021"
    repository = "https://github.com/swz30/MPRNet"
    license = "Academic Public License (non-commercial)"
    params: ClassVar[dict[str, int]] = {
        "routed": PARAMS["derain"] + PARAMS["deblur"],
        "derain": PARAMS["derain"],
        "deblur": PARAMS["deblur"],
    }
    signature = "MPRNet"
    checkpoint_layout = CheckpointLayout(containers=("state_dict",), prefixes=("module.",))
    pad_multiple = SIZE_MULTIPLE

    @classmethod
    def build_network(cls, variant: str) -> nn.Module:
        """The released deraining or deblurring configuration."""
        return MPRNet(variant)

    def forward(self, images: torch.Tensor, batch: ImageBatch) -> torch.Tensor:
        """The restored image: the first of the network's three stage outputs."""
        return self.network_for(batch)(images)[0]

    @classmethod
    def training_loss(
        cls, network: nn.Module, degraded: torch.Tensor, clean: torch.Tensor, gen: torch.Generator
    ) -> torch.Tensor:
        """L1 summed over the three stage outputs (upstream: Charbonnier plus edge loss)."""
        return sum((out - clean).abs().mean() for out in network(degraded))  # type: ignore[return-value]
