"""Facts and fixtures for the Restormer-family tests: synthetic weights, fixed inputs, references.

The same functions made the upstream reference outputs in ``data/restormer_family_reference.npz``
(see ``data/restormer_family_reference.md``): the official modules were loaded with
:func:`synthetic_state_dict` and fed :func:`fixed_images`, so a test that loads the same weights into
the clean-room module must reproduce those outputs.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from tests.baselines.keyfiles import DATA

REFERENCE = DATA / "restormer_family_reference.npz"
WEIGHT_SEED = 1_300_000
TOL = 1e-5
"""Max abs difference allowed against the upstream outputs and between batch compositions."""


def synthetic_tensor(index: int, key: str, shape: tuple[int, ...]) -> torch.Tensor:
    """Deterministic float32 values for the ``index``-th state_dict entry, scaled by its role.

    Conv/linear weights ~ N(0, 1/fan_in); norm scales, ``para2`` ~ 1 + N(0, 0.01); biases and
    ``para1`` ~ N(0, 0.01) and N(0, 0.25); attention temperatures ~ U[0.5, 1.5); prompts ~ U[0, 1).
    The last conv (``output.weight``) is scaled by a further 0.1, so that the predicted residual is
    of order 0.1-1 like a trained restorer's and a 1e-5 tolerance on the output is meaningful (the
    features feeding it are of order 1-10).
    """
    gen = torch.Generator().manual_seed(WEIGHT_SEED + index)
    name = key.rsplit(".", 1)[-1]
    if name == "temperature":
        return 0.5 + torch.rand(shape, generator=gen)
    if name == "prompt_param":
        return torch.rand(shape, generator=gen)
    z = torch.randn(shape, generator=gen)
    if name == "para1":
        return 0.5 * z
    if name == "para2" or key.endswith("body.weight"):
        return 1 + 0.1 * z
    if len(shape) >= 2:
        scale = 0.1 if key == "output.weight" else 1.0
        return z * (scale / math.sqrt(math.prod(shape[1:])))
    return 0.1 * z


def synthetic_state_dict(entries: list[tuple[str, tuple[int, ...]]]) -> dict[str, torch.Tensor]:
    """Synthetic weights for (key, shape) pairs given in state_dict order."""
    return {key: synthetic_tensor(i, key, shape) for i, (key, shape) in enumerate(entries)}


def key_shapes(module: torch.nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    """(key, shape) of a module's state_dict, in order."""
    return [(k, tuple(v.shape)) for k, v in module.state_dict().items()]


def fixed_images(batch: int, height: int, width: int, seed: int) -> torch.Tensor:
    """Seeded [batch, 3, H, W] test images in [0, 1]."""
    return torch.rand((batch, 3, height, width), generator=torch.Generator().manual_seed(seed))


def weight_fingerprint(state: dict[str, torch.Tensor]) -> float:
    """A float64 checksum of synthetic weights (catches a drifting random generator)."""
    return float(sum(t.double().sum().item() * (i + 1) for i, t in enumerate(state.values())))


def load_reference() -> dict[str, np.ndarray]:
    """The upstream outputs and fingerprints recorded by the reference run."""
    with np.load(REFERENCE) as data:
        return {k: data[k] for k in data.files}
