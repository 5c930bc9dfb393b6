"""The Restormer restorer plugin: task-specific deraining and motion-deblurring checkpoints.

Zamir, Arora, Khan, Hayat, Khan, Yang, "Restormer: Efficient Transformer for High-Resolution Image
Restoration", CVPR 2022; official code swz30/Restormer (Academic Public License, non-commercial).
The network is this project's clean-room module (:mod:`baselines.restormer.network`); the official
BasicSR checkpoints load unchanged (``ckpt['params']``). See docs/methods/restormer.md.

Variants: ``derain`` (``deraining.pth``) and ``deblur`` (``motion_deblurring.pth``) run their one
checkpoint on every benchmark; ``routed`` (the default) loads both and restores each batch with the
checkpoint of its task, a label universal methods never get, so the method is not blind.
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from baselines.restormer.network import PARAMETERS, Restormer
from harness.checkpoints import CheckpointLayout
from harness.learned_restorer import LearnedRestorer


class RestormerRestorer(LearnedRestorer):
    """Restormer: one checkpoint per task (deraining, motion deblurring), routed by the task label."""

    name = "restormer"
    summary = "Task-specific transformer U-Net: Rain13K deraining and GoPro deblurring checkpoints."
    variants = ("routed", "derain", "deblur")
    default_variant = "routed"
    routes: ClassVar[dict[str, dict[str, str]]] = {
        "routed": {"derain": "derain", "deblur": "deblur"}
    }
    tasks = ("derain", "deblur")
    blind = False
    paper = (
        "Zamir et al., Restormer: Efficient Transformer for High-Resolution Image Restoration, "
        "CVPR 2022"
    )
    repository = "https://github.com/swz30/Restormer"
    license = "Academic Public License (non-commercial)"
    params: ClassVar[dict[str, int]] = {
        "routed": 2 * PARAMETERS,
        "derain": PARAMETERS,
        "deblur": PARAMETERS,
    }
    signature = "Restormer"
    checkpoint_layout = CheckpointLayout(containers=("params",))
    pad_multiple = 8

    @classmethod
    def build_network(cls, variant: str) -> nn.Module:
        """The released configuration (both checkpoints share it)."""
        return Restormer()
