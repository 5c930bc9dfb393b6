"""Fixtures of the Perceive-IR tests: tiny DINOv2 folders (never downloaded) and official files.

:func:`tiny_dinov2` writes a ``transformers`` DINOv2 of the released kind (12 layers, so the class
tokens of layers 1, 4, 8 and 12 exist) with few parameters: a small width, one or two heads, a
narrow MLP and large patches. Its values are drawn in key order from one seeded generator (not
from ``transformers``' initialisation), so the same folder comes out on every machine; the
reference outputs of ``data/perceive_ir_reference.npz`` were made with it (see
``data/perceive_ir_reference.md``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from tests.baselines.keyfiles import read_key_file

KEYS = read_key_file("perceive_ir")
"""The released state_dict's keys and shapes."""
RELEASED = 33_901_111
"""Parameters of upstream ``PerceiveIR()``, counted under /tmp (data/perceive_ir_reference.md)."""
TINY_WIDTH = 32
"""Width of the small encoder (the released network takes 768: DINOv2-base)."""
RELEASED_WIDTH = 768
TINY_SEED = 1_700_000


def _value(key: str, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    z = torch.randn(shape, generator=gen)
    leaf = key.rsplit(".", 1)[-1]
    if len(shape) >= 2:
        return z / math.sqrt(math.prod(shape[1:]))
    if leaf == "lambda1":  # layer scales: small, as a trained DINOv2's (its init is 1e-5)
        return 0.1 + 0.01 * z
    if leaf == "weight":
        return 1 + 0.1 * z
    return 0.1 * z


def tiny_dinov2(folder: Path, width: int = TINY_WIDTH, seed: int = TINY_SEED) -> Path:
    """Save a seeded 12-layer DINOv2 of ``width`` channels into ``folder`` (config.json and
    model.safetensors, as facebook/dinov2-base ships them); return the folder."""
    from transformers import Dinov2Config, Dinov2Model

    config = Dinov2Config(
        hidden_size=width,
        num_hidden_layers=12,
        num_attention_heads=2 if width == TINY_WIDTH else 1,
        mlp_ratio=1.0 if width == TINY_WIDTH else 0.01,
        patch_size=28,
        image_size=56,
    )
    with torch.device("meta"):
        model = Dinov2Model(config)
    gen = torch.Generator().manual_seed(seed)
    state = {k: _value(k, tuple(v.shape), gen) for k, v in model.state_dict().items()}
    model.load_state_dict(state, strict=True, assign=True)
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def official_checkpoint(
    path: Path, state: dict[str, torch.Tensor], tasks: list[str] | None = None
) -> Path:
    """Save ``state`` as the release's evaluator reads it: ``{'model', 'config', 'iteration'}``,
    the configuration holding its ``data.tasks`` (the training setting) when ``tasks`` is given."""
    config: dict[str, Any] = {"model": {"dim": 48, "blocks": [4, 6, 6, 8]}}
    if tasks is not None:
        config["data"] = {"tasks": tasks, "patch_size": 256}
    torch.save({"model": state, "config": config, "iteration": 500_000}, path)
    return path
