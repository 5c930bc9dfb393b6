"""The objective ``harness train --loss`` names: the method's own, or that plus DiffLoss."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from harness.errors import HarnessError
from harness.losses.adm_unet import ADM_256_UNCOND, ADMConfig
from harness.losses.diffloss import (
    WEIGHTS_FILE,
    WEIGHTS_SOURCE,
    DiffLoss,
    load_adm,
    require_weights_file,
)
from harness.train_config import TrainConfig
from harness.training import LossFn

OWN: str = TrainConfig.model_fields["loss"].default
"""The method's own objective (TrainConfig's default ``loss``)."""
ADM_CONFIG: ADMConfig = ADM_256_UNCOND
"""The architecture the diffusion weights are checked against (tests swap in a tiny one)."""


def restored_image(outputs: list[Any], clean: torch.Tensor) -> torch.Tensor:
    """The image the network restored in its one call: its output, or the first of several."""
    if len(outputs) != 1:
        raise HarnessError(
            f"DiffLoss takes the restored image from the network's one call in the pixel loss; "
            f"the loss called it {len(outputs)} times"
        )
    out = outputs[0]
    if isinstance(out, tuple | list):
        out = out[0]
    if not isinstance(out, torch.Tensor) or out.shape != clean.shape:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise HarnessError(
            f"DiffLoss needs the network to return an image like the target "
            f"{tuple(clean.shape)}; it returned {shape}"
        )
    return out


def with_diffloss(pixel_loss: LossFn, diffloss: DiffLoss) -> LossFn:
    """``pixel_loss`` plus DiffLoss on the image the network restored in that loss's forward pass.

    The restored image is caught with a forward hook, so the network runs once per step and any
    method's pixel objective (MPRNet's sum over stages, say) stays as it is.
    """

    def loss_fn(
        model: nn.Module, cond: torch.Tensor, clean: torch.Tensor, gen: torch.Generator
    ) -> torch.Tensor:
        outputs: list[Any] = []
        handle = model.register_forward_hook(lambda _m, _i, out: outputs.append(out))
        try:
            pixel = pixel_loss(model, cond, clean, gen)
        finally:
            handle.remove()
        return pixel + diffloss(restored_image(outputs, clean), clean, gen)

    return loss_fn


def training_objective(config: TrainConfig, pixel_loss: LossFn) -> tuple[TrainConfig, LossFn]:
    """The loss ``config.loss`` names around the method's ``pixel_loss``; the config with the
    diffusion weights' sha256 filled in (DiffLoss loads and checks them here, before any data)."""
    if config.loss == OWN:
        return config, pixel_loss
    if config.diffusion_weights is None:
        raise HarnessError(
            f"--loss {config.loss} needs the frozen diffusion model: pass --diffusion-weights FILE",
            hint=f"download {WEIGHTS_FILE} from {WEIGHTS_SOURCE}",
        )
    require_weights_file(config.diffusion_weights)
    multiple = ADM_CONFIG.size_multiple
    if config.crop % multiple:
        raise HarnessError(
            f"DiffLoss's diffusion model needs crops divisible by {multiple}; got --crop {config.crop}",
            hint=f"use --crop {max(config.crop - config.crop % multiple, multiple)}",
        )
    adm, sha = load_adm(config.diffusion_weights, ADM_CONFIG)
    if config.diffusion_weights_sha256 not in (None, sha):
        raise HarnessError(
            f"{config.diffusion_weights}: sha256 {sha} is not the one configured "
            f"({config.diffusion_weights_sha256})"
        )
    diffloss = DiffLoss(adm.to(config.device), upstream_nograd=config.diffloss_upstream_nograd)
    config = config.model_copy(update={"diffusion_weights_sha256": sha})
    return config, with_diffloss(pixel_loss, diffloss)


def require_own_objective(config: TrainConfig, method: str, reason: str) -> None:
    """Refuse a ``--loss`` other than the method's own for a method it does not apply to."""
    if config.loss != OWN:
        raise HarnessError(
            f"{method} cannot train with --loss {config.loss}: {reason}",
            hint=f"train it with --loss {OWN} (its own objective)",
        )
