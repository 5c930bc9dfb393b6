"""Deterministic synthetic weights for key files of official checkpoints; stored references.

Key files are parsed by :mod:`tests.baselines.keyfiles`. ``synthetic_state_dict`` fills every
key with values drawn in key order from one seeded ``torch.Generator``, scaled by the key's role
so the activations of the deep networks stay of order one:

- weights with two or more dims: normal, std ``gain / sqrt(fan_in)`` (fan_in = product of all dims
  but the first);
- ``beta`` / ``gamma`` of shape [1, C, 1, 1] (residual branch scales): normal, std 0.1;
- one-dim ``weight`` of length 1 (a PReLU slope): 0.25 + 0.05 normal;
- other one-dim ``weight`` (normalisation scales): 1 + 0.1 normal;
- one-dim ``bias``: normal, std 0.05;
- BatchNorm ``running_mean``: normal, std 0.1; ``running_var``: uniform in [0.5, 1.5);
- integer tensors (``num_batches_tracked``, a queue pointer): zero.

The same function made the weights of the stored reference outputs (see data/README-net2.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from tests.baselines.keyfiles import DATA, KeyEntry


def _values(entry: KeyEntry, gen: torch.Generator, gain: float) -> torch.Tensor:
    shape, leaf = entry.shape, entry.key.rsplit(".", 1)[-1]
    if entry.dtype != torch.float32:
        return torch.zeros(shape, dtype=entry.dtype)
    normal = torch.randn(shape, generator=gen)
    if leaf == "running_var":
        return 0.5 + torch.rand(shape, generator=gen)
    if leaf == "running_mean":
        return 0.1 * normal
    if leaf in ("beta", "gamma") and len(shape) == 4 and shape[0] == 1:
        return 0.1 * normal
    if len(shape) >= 2:
        return normal * (gain / math.sqrt(math.prod(shape[1:])))
    if leaf == "weight":
        return 0.25 + 0.05 * normal if shape == (1,) else 1 + 0.1 * normal
    return 0.05 * normal


def synthetic_state_dict(
    entries: Sequence[KeyEntry], seed: int, gain: float = 1.0
) -> dict[str, torch.Tensor]:
    """Seeded synthetic values for every entry, drawn in key order (see the module docstring)."""
    gen = torch.Generator().manual_seed(seed)
    return {e.key: _values(e, gen, gain) for e in entries}


def parameter_count(entries: Sequence[KeyEntry]) -> int:
    """Elements of the entries that are parameters (BatchNorm statistics and queues excluded)."""
    buffers = ("running_mean", "running_var", "num_batches_tracked", "queue", "queue_ptr")
    return sum(math.prod(e.shape) for e in entries if e.key.rsplit(".", 1)[-1] not in buffers)


def derive_width(entries: Sequence[KeyEntry], old: int, new: int) -> list[KeyEntry]:
    """Entries of the same architecture at another base width.

    Rule for NAFNet-style U-Nets whose channel counts are all the base width times a power of
    two: every dimension of at least ``old`` is a channel count and scales by ``new / old``;
    smaller dimensions (RGB channels, kernel sizes, the 1 of depthwise filters and of the
    [1, C, 1, 1] scales) stay.
    """
    return [
        KeyEntry(e.key, tuple(d * new // old if d >= old else d for d in e.shape), e.dtype)
        for e in entries
    ]


def weights_sum(state: dict[str, torch.Tensor]) -> float:
    """Float64 sum of every float tensor: detects a change of the synthetic weights."""
    return sum(float(v.double().sum()) for v in state.values() if v.is_floating_point())


def describe(state: dict[str, torch.Tensor]) -> list[tuple[str, tuple[int, ...], torch.dtype]]:
    """(key, shape, dtype) of a state_dict, in its order."""
    return [(k, tuple(v.shape), v.dtype) for k, v in state.items()]


def as_described(
    entries: Sequence[KeyEntry],
) -> list[tuple[str, tuple[int, ...], torch.dtype]]:
    """(key, shape, dtype) of key-file entries, comparable with ``describe``."""
    return [(e.key, e.shape, e.dtype) for e in entries]


def load_synthetic(build: Callable[[], nn.Module], state: dict[str, torch.Tensor]) -> nn.Module:
    """The module ``build()`` makes, holding ``state`` (strict), in eval mode.

    Built on the meta device and given the tensors of ``state`` (no initialisation, no copy):
    the full-size models stay cheap to set up.
    """
    with torch.device("meta"):
        model = build()
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()


def reference(name: str) -> dict[str, torch.Tensor]:
    """The arrays of ``data/<name>_reference.npz`` (official modules' outputs) as tensors."""
    with np.load(DATA / f"{name}_reference.npz") as arrays:
        return {k: torch.from_numpy(arrays[k]) for k in arrays.files}
