"""DiffUIR's training objective on top of harness.training.

Spec: docs/methods/diffuir-spec.md, "Training".

Per sample: t ~ U{0..999}, eps ~ N(0, I), x_t = (1 - abar_t) x_0 + (abar_t - dbar_t) x_in + bbar_t eps
(the forward process with the shared distribution term), the network sees concat[x_t, x_in] and the
time input 1000 * abar_t, and is trained with L1 against the residual r = x_in - x_0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from harness.training import TrainConfig, train_supervised


def diffuir_loss(
    unet: nn.Module, schedule, cond01: torch.Tensor, clean01: torch.Tensor, gen: torch.Generator
) -> torch.Tensor:
    """L1 between the predicted and the true residual at a random step of the forward process."""
    x_in = cond01 * 2 - 1
    x_0 = clean01 * 2 - 1
    n = x_in.shape[0]
    t = torch.randint(0, schedule.timesteps, (n,), generator=gen)
    noise = torch.randn(x_in.shape, generator=gen).to(x_in.device)
    t = t.to(x_in.device)
    x_t = schedule.q_sample(x_0, x_in, t, noise)
    pred = unet(torch.cat([x_t, x_in], dim=1), schedule.time_input(t))
    return (pred - (x_in - x_0)).abs().mean()


def _histeq_preprocess(image: np.ndarray, flags: frozenset[str]) -> np.ndarray:
    from baselines.diffuir.preprocess import apply_preprocess

    return apply_preprocess(image, flags)


def train_diffuir(
    config: TrainConfig,
    out: Path,
    data_root: Path,
    *,
    resume: bool = True,
    progress: bool = True,
    init_weights: Path | None = None,
) -> Path:
    """Train a DiffUIR variant; write EMA weights as safetensors plus a JSON record; return the file."""
    from baselines.diffuir.network import build_unet
    from baselines.diffuir.schedule import Schedule
    from harness.losses.objective import require_own_objective

    require_own_objective(
        config,
        "diffuir",
        "its network predicts a residual at a noise level, not a restored image for DiffLoss",
    )
    torch.manual_seed(config.seed)  # the initial weights
    unet = build_unet(config.variant)
    if init_weights is not None:
        from baselines.diffuir.checkpoint import load_into, load_unet_weights
        from harness.errors import HarnessError

        loaded = load_unet_weights(init_weights)
        if config.init_weights_sha256 not in (None, loaded.sha256):
            raise HarnessError(f"{init_weights}: sha256 {loaded.sha256} is not the one configured")
        config = config.model_copy(update={"init_weights_sha256": loaded.sha256})
        load_into(unet, loaded, config.variant)
    schedule = Schedule().to(config.device)

    def loss_fn(model, cond, clean, gen):
        return diffuir_loss(model, schedule, cond, clean, gen)

    return train_supervised(
        unet,
        config,
        out,
        data_root,
        name=f"diffuir-{config.variant}",
        loss_fn=loss_fn,
        preprocess=_histeq_preprocess,
        resume=resume,
        progress=progress,
    )
