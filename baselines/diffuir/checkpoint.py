"""Loading DiffUIR weights: official training checkpoints, plain state_dicts, safetensors.

Accepted files (all read through :func:`harness.checkpoints.load_checkpoint`, so never unpickled
beyond plain tensors and containers):

* the official training dict ``{step, model, opt0, ema, scaler}`` written by the DiffUIR trainer
  (e.g. ``model-300.pt``): EMA weights from ``ckpt['ema']['ema_model.model.unet0.*']`` by default,
  the raw weights from ``ckpt['model']['model.unet0.*']`` with ``ema=False``;
* a flat state_dict at the diffusion level (``model.unet0.*``), the ``UnetRes`` level (``unet0.*``),
  the EMA-wrapper level (``ema_model.model.unet0.*``) or the U-Net level (no prefix), optionally
  nested under ``state_dict``/``params``/``params_ema``, in ``.pt`` or ``.safetensors`` form.

Any ``module.`` segment (DataParallel) is stripped. The schedule buffers in a file are ignored:
the official test recomputes them (spec quirk Q4). Keys are checked strictly, the variant is
detected from the shapes, and checkpoints of other known methods are named (the strict check and
the method signatures are the core adapter's, :mod:`harness.checkpoints`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from baselines.diffuir.network import VARIANTS, build_unet
from harness.checkpoints import CheckpointMismatchError, identify_method, load_checkpoint
from harness.checkpoints import check_state as check_state_strictly
from harness.errors import HarnessError

EMA_PREFIX = "ema_model.model.unet0."
ONLINE_PREFIX = "online_model.model.unet0."
MODEL_PREFIX = "model.unet0."
UNETRES_PREFIX = "unet0."
_NESTED = ("state_dict", "params_ema", "params", "model_state_dict", "ema_helper")


@dataclass(frozen=True)
class UnetWeights:
    """U-Net weights read from a file, where in the file they came from, and the file's sha256."""

    state: dict[str, torch.Tensor]
    origin: str
    """'ema', 'model' (raw training weights) or 'state_dict' (a plain weights file)."""
    sha256: str
    path: Path


def _strip_module(key: str) -> str:
    return ".".join(part for part in key.split(".") if part != "module")


def _tensors(mapping: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {_strip_module(str(k)): v for k, v in mapping.items() if isinstance(v, torch.Tensor)}


def _with_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def _unwrap(content: dict[str, Any]) -> dict[str, Any]:
    """Descend through single-purpose containers (``state_dict``, ``params``, ...)."""
    while True:
        nested = [k for k in _NESTED if isinstance(content.get(k), dict)]
        if not nested or any(isinstance(v, torch.Tensor) for v in content.values()):
            return content
        content = content[nested[0]]


def unet_state_from(content: dict[str, Any], *, ema: bool = True) -> tuple[dict, str]:
    """The U-Net state_dict inside a loaded checkpoint, and its origin ('ema'/'model'/'state_dict')."""
    training = isinstance(content.get("ema"), dict) or isinstance(content.get("model"), dict)
    if training:
        if ema:
            if not isinstance(content.get("ema"), dict):
                raise HarnessError(
                    "this training checkpoint has no 'ema' entry",
                    hint="load its raw weights with the option ema=False",
                )
            state = _with_prefix(_tensors(content["ema"]), EMA_PREFIX)
            origin = "ema"
        else:
            if not isinstance(content.get("model"), dict):
                raise HarnessError("this training checkpoint has no 'model' entry (raw weights)")
            state = _with_prefix(_tensors(content["model"]), MODEL_PREFIX)
            origin = "model"
        if not state:
            raise HarnessError(
                f"the checkpoint's '{origin}' entry holds no DiffUIR U-Net weights "
                f"(no keys under '{EMA_PREFIX if ema else MODEL_PREFIX}')"
            )
        return state, origin

    tensors = _tensors(_unwrap(content))
    if any(k.startswith(EMA_PREFIX) for k in tensors):
        prefix = EMA_PREFIX if ema else ONLINE_PREFIX
        return _with_prefix(tensors, prefix), "ema" if ema else "model"
    for prefix in (MODEL_PREFIX, UNETRES_PREFIX):
        if any(k.startswith(prefix) for k in tensors):
            return _with_prefix(tensors, prefix), "state_dict"
    return tensors, "state_dict"


def detect_variant(state: dict[str, torch.Tensor]) -> str | None:
    """Which DiffUIR variant the U-Net weights are from, judged by their shapes (None: unknown)."""
    try:
        dim = int(state["init_conv.weight"].shape[0])
        widths = [int(state[f"downs.{i}.3.weight"].shape[0]) for i in range(4)]
    except (KeyError, IndexError):
        return None
    if any(w % dim for w in widths):
        return None
    mults = tuple(w // dim for w in widths)
    for variant, (v_dim, v_mults) in VARIANTS.items():
        if v_dim == dim and v_mults == mults:
            return variant
    return None


def check_state(unet: nn.Module, state: dict[str, torch.Tensor], variant: str, label: str) -> None:
    """Raise a HarnessError unless ``state`` has exactly the keys and shapes of ``unet``."""
    if identify_method(state) in (None, "DiffUIR"):
        found = detect_variant(state)
        if found is not None and found != variant:
            raise CheckpointMismatchError(
                f"{label} is a DiffUIR-{found.upper()} checkpoint, not DiffUIR-{variant.upper()}",
                hint=f"use --variant {found}",
            )
    check_state_strictly(
        unet.state_dict(),
        state,
        method="DiffUIR",
        what=f"the DiffUIR-{variant.upper()} U-Net",
        label=label,
        hint="pass an official DiffUIR checkpoint or a state_dict of this U-Net",
    )


def load_unet_weights(
    path: str | Path,
    *,
    ema: bool = True,
    expected_sha256: str | None = None,
    source: str | None = None,
) -> UnetWeights:
    """Read a checkpoint file safely and extract the U-Net weights (not yet checked)."""
    content, sha = load_checkpoint(path, expected_sha256=expected_sha256, source=source)
    state, origin = unet_state_from(content, ema=ema)
    return UnetWeights(state=state, origin=origin, sha256=sha, path=Path(path))


def checkpoint_variant(path: str | Path, *, ema: bool = True) -> str:
    """Load a checkpoint safely, check it strictly as loading does and return its variant.

    Raises a HarnessError naming what the file is otherwise: another method's checkpoint, weights
    of no DiffUIR variant, or a file that is not a safe checkpoint at all.
    """
    weights = load_unet_weights(path, ema=ema)
    label = str(weights.path)
    variant = detect_variant(weights.state)
    if variant is None:
        other = identify_method(weights.state)
        if other is not None:
            raise CheckpointMismatchError(
                f"{label} holds {other} weights, not DiffUIR weights",
                hint=f"register it for the {other} method, or pass a DiffUIR checkpoint",
            )
        raise HarnessError(
            f"{label} holds no DiffUIR U-Net weights of any variant "
            f"(keys: {', '.join(sorted(weights.state)[:12])} ...)",
            hint="pass an official DiffUIR checkpoint or a state_dict of its U-Net",
        )
    with torch.device("meta"):  # keys and shapes only: nothing is allocated
        unet = build_unet(variant)
    check_state(unet, weights.state, variant, label)
    return variant


def load_into(unet: nn.Module, weights: UnetWeights, variant: str) -> None:
    """Strictly check and copy ``weights`` into ``unet`` (float32)."""
    check_state(unet, weights.state, variant, str(weights.path))
    state = {k: v.to(torch.float32) for k, v in weights.state.items()}
    unet.load_state_dict(state, strict=True)
