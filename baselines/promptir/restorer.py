"""The PromptIR restorer plugin (blind all-in-one restoration with decoder prompts).

Potlapalli, Zamir, Khan, Khan, "PromptIR: Prompting for All-in-One Blind Image Restoration",
NeurIPS 2023; official code va1shn9v/PromptIR (Academic Public License, non-commercial). The
network is this project's clean-room module (:mod:`baselines.promptir.network`); the official
Lightning checkpoint loads unchanged (``state_dict``, prefix ``net.``). See docs/methods/promptir.md.

Variants: ``base`` is the released configuration (35,592,263 parameters); ``tiny`` is the reduced
preset the harness trains on the embedded suite (``harness train --preset tiny``).
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from baselines.promptir.network import PARAMETERS, PromptIR
from harness.checkpoints import CheckpointLayout
from harness.learned_restorer import LearnedRestorer

TINY_CONFIG: dict[str, object] = {
    "dim": 16,
    "num_blocks": (1, 1, 1, 2),
    "num_refinement_blocks": 1,
    "prompt_dims": (16, 32, 64),
    "prompt_sizes": (32, 16, 8),
    "unused_layers": False,
}
"""The ``tiny`` preset: 1,601,862 parameters, within 2x of DiffUIR-T's 0.89M (equal-budget runs)."""

TINY_PARAMETERS = 1_601_862


class PromptIRRestorer(LearnedRestorer):
    """PromptIR: a Restormer U-Net whose decoder mixes learned degradation prompts; blind."""

    name = "promptir"
    summary = "Blind all-in-one restoration: a Restormer U-Net with learned decoder prompts."
    variants = ("base", "tiny")
    default_variant = "base"
    presets: ClassVar[dict[str, str]] = {"tiny": "dim 16, blocks 1-1-1-2, 1 refinement block"}
    tasks = ("derain", "dehaze")
    blind = True
    paper = (
        "Potlapalli et al., PromptIR: Prompting for All-in-One Blind Image Restoration, "
        "NeurIPS 2023"
    )
    repository = "https://github.com/va1shn9v/PromptIR"
    license = "Academic Public License (non-commercial)"
    params: ClassVar[dict[str, int]] = {"base": PARAMETERS, "tiny": TINY_PARAMETERS}
    signature = "PromptIR"
    checkpoint_layout = CheckpointLayout(containers=("state_dict",), prefixes=("net.",))
    pad_multiple = 8

    @classmethod
    def build_network(cls, variant: str) -> nn.Module:
        """The released configuration (``base``) or the reduced ``tiny`` preset."""
        if variant == "tiny":
            return PromptIR(**TINY_CONFIG)  # type: ignore[arg-type]
        return PromptIR()
