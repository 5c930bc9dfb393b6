"""The AdaIR restorer plugin (blind all-in-one restoration with frequency mining and modulation).

Cui, Zamir, Khan, Knoll, Shah, Khan, "AdaIR: Adaptive All-in-One Image Restoration via Frequency
Mining and Modulation", ICLR 2025; official code c-yn/AdaIR (MIT). The network is this project's
clean-room module (:mod:`baselines.adair.network`); the official Lightning checkpoints load
unchanged (``state_dict``, prefix ``net.``). See docs/methods/adair.md.

Variants: ``adair5d`` (five-task checkpoint ``adair5d.ckpt``) and ``adair3d`` (three-task
checkpoint ``adair3d.ckpt``). Both have the same architecture (28,784,824 parameters), so a file
cannot tell which of the two it is: the variant picks the default weights entry and the training
setting recorded with the results.

Padding is part of what is measured: the frequency masks are sized from the padded resolution.
The harness reflect-pads to a multiple of 8 (the network's own requirement), so an input that is
already a multiple of 8, such as the official test's centre crops to a multiple of 16, reaches the
network exactly as in the official test.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from torch import nn

from baselines.adair.network import PARAMETERS, AdaIR
from harness.checkpoints import CheckpointLayout, read_state_dict
from harness.learned_restorer import LearnedRestorer

PAD_MULTIPLE = 8
"""Three pixel-(un)shuffle levels: H and W must be divisible by 8."""


class AdaIRRestorer(LearnedRestorer):
    """AdaIR: a Restormer U-Net whose decoder is modulated by the input's frequency bands; blind."""

    name = "adair"
    summary = (
        "Blind all-in-one restoration: a Restormer U-Net modulated by the input's low/high "
        "frequency bands."
    )
    variants = ("adair5d", "adair3d")
    default_variant = "adair5d"
    tasks = ("derain", "dehaze", "deblur", "lowlight")
    blind = True
    paper = (
        "Cui et al., AdaIR: Adaptive All-in-One Image Restoration via Frequency Mining and "
        "Modulation, ICLR 2025"
    )
    repository = "https://github.com/c-yn/AdaIR"
    license = "MIT"
    params: ClassVar[dict[str, int]] = {"adair5d": PARAMETERS, "adair3d": PARAMETERS}
    signature = "AdaIR"
    checkpoint_layout = CheckpointLayout(containers=("state_dict",), prefixes=("net.",))
    pad_multiple = PAD_MULTIPLE

    @classmethod
    def build_network(cls, variant: str) -> nn.Module:
        """The released configuration; both variants share it (they differ in training data)."""
        return AdaIR()

    @classmethod
    def inspect_weights(cls, path: Path) -> str | None:
        """Check the file strictly against the (shared) architecture; the variant is not told.

        Both checkpoints hold the same keys and shapes, so the variant comes from the file's name
        or the user's ``--variant`` when the file is added, never from its content.
        """
        import torch

        adapted, _ = read_state_dict(path, cls.checkpoint_layout)
        with torch.device("meta"):
            network = cls.build_network(cls.default_variant)
        cls.check(network, adapted, "either variant", str(path))
        return None
