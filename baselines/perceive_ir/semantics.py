"""Perceive-IR's semantic guidance: class tokens of four hidden layers of a frozen DINOv2.

As the release's evaluation computes them (House-yuyu/Perceive-IR, ``src/perceiveIR/model.py``
at commit c7f79d47): the padded input in [0, 1] is resized to 224x224 (bicubic, no antialiasing,
not clamped), normalised with the ImageNet mean and std and run through DINOv2-base
(``transformers``' ``Dinov2Model``); the semantic vectors are the class tokens of the outputs of
transformer layers 1, 4, 8 and 12 (``hidden_states[i][:, 0]``, before the final LayerNorm), in
that order: layer 1 guides decoder level 1, layer 12 the latent.

The encoder is read from a local folder (``config.json`` and ``model.safetensors`` of
facebook/dinov2-base); nothing is ever downloaded.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from harness.errors import HarnessError, MissingFileError

SEMANTIC_LAYERS = (1, 4, 8, 12)
"""Transformer layers (1-based) whose class tokens guide decoder levels 1, 2, 3 and the latent."""
INPUT_SIZE = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DINOV2_SOURCE = "https://huggingface.co/facebook/dinov2-base"
DINOV2_FILES = "config.json and model.safetensors"
EXTRA_HINT = "pip install 'uir-harness[perceive]'"


class DinoSemantics(nn.Module):
    """A frozen DINOv2 from ``folder``; called on images, it returns the four semantic vectors."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        try:
            from transformers import AutoConfig, Dinov2Model
        except ImportError:
            raise HarnessError(
                "perceive-ir needs the `transformers` package for its DINOv2 encoder",
                hint=EXTRA_HINT,
            ) from None
        weights = folder / "model.safetensors"
        if not weights.is_file():
            raise MissingFileError(
                "DINOv2 encoder weights (model.safetensors) of facebook/dinov2-base",
                str(weights),
                source=f"{DINOV2_SOURCE}: download {DINOV2_FILES} into {folder}",
            )
        try:
            config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise HarnessError(
                f"{folder}: not a loadable DINOv2 folder ({exc})",
                hint=f"it must hold {DINOV2_FILES} of {DINOV2_SOURCE}",
            ) from None
        if config.model_type != "dinov2" or config.num_hidden_layers < max(SEMANTIC_LAYERS):
            raise HarnessError(
                f"{folder}: a {config.model_type} model with {config.num_hidden_layers} layers; "
                f"Perceive-IR takes the class tokens of layers {SEMANTIC_LAYERS} of a DINOv2",
                hint=f"point it at a folder with {DINOV2_FILES} of {DINOV2_SOURCE}",
            )
        self.encoder = Dinov2Model.from_pretrained(
            str(folder), local_files_only=True, use_safetensors=True
        )
        self.encoder.requires_grad_(False).eval()
        self.folder = folder
        self.dim = int(config.hidden_size)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """[B, 3, H, W] in [0, 1] -> four [B, dim] class tokens, shallowest layer first."""
        size = (INPUT_SIZE, INPUT_SIZE)
        resized = F.interpolate(images, size=size, mode="bicubic", align_corners=False)
        out = self.encoder(pixel_values=(resized - self.mean) / self.std, output_hidden_states=True)
        return tuple(out.hidden_states[layer][:, 0] for layer in SEMANTIC_LAYERS)

    def parameters_count(self) -> int:
        """Parameters of the frozen encoder (reported apart from the restorer's)."""
        return sum(int(p.numel()) for p in self.encoder.parameters())


def fixed_semantics(batch: int, dim: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Stand-ins without an encoder (``random_init`` only: counts and tests): four seeded unit
    vectors, the same for every image."""
    gen = torch.Generator().manual_seed(0)
    vectors = F.normalize(torch.randn(len(SEMANTIC_LAYERS), dim, generator=gen), dim=-1)
    return tuple(v.to(device).expand(batch, dim) for v in vectors)
