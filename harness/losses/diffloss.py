"""DiffLoss: a frozen diffusion model as a training constraint for any restoration network.

Tan & Zhao, "DiffLoss: unleashing diffusion model as constraint for training image restoration
network" (arXiv 2406.19030; official code JosephTiTan/DiffLoss, commit 1c84a6d, function
``training_losses`` of ``guided_diffusion/gaussian_diffusion.py``). The restored image and the
ground truth, both mapped to [-1, 1], are noised with the same timestep t ~ U{0..999} and the same
noise under the linear 1000-step schedule; the frozen ADM sees both at t, and the loss adds

- naturalness: NATURALNESS_WEIGHT x MSE between its noise predictions (first 3 output channels),
- semantic: SEMANTIC_WEIGHT x MSE between its bottleneck (h-space) features,

to the pixel loss. Deviation from the official code, which evaluates the ADM under ``no_grad`` so
that only its pixel loss trains: here gradients flow through the frozen ADM into the restorer, as
the paper describes (``upstream_nograd=True`` reproduces the official code). See
docs/methods/diffloss.md.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from harness.checkpoints import CheckpointLayout, check_state, read_state_dict
from harness.errors import MissingFileError
from harness.losses.adm_unet import ADM_256_UNCOND, ADMConfig, ADMUNet

NATURALNESS_WEIGHT = 1e-3
"""Weight of the noise-prediction MSE (official code: ``0.001 * mean_flat(...)``)."""
SEMANTIC_WEIGHT = 1e-6
"""Weight of the h-space MSE (official code: ``0.000001 * mean_flat(...)``)."""
TIMESTEPS = 1000
BETA_START, BETA_END = 1e-4, 0.02
"""guided-diffusion's ``linear`` schedule at 1000 steps (the official run's flags)."""
NOISE_CHANNELS = 3
"""The ADM's first 3 output channels predict the noise (the other 3 its learned variance)."""

WEIGHTS_FILE = "256x256_diffusion_uncond.pt"
WEIGHTS_SOURCE = (
    "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/256x256_diffusion_uncond.pt "
    "(openai/guided-diffusion README: '256x256 diffusion (not class conditional)')"
)
WEIGHTS_SHA256_NOTE = (
    "none is published (openai/guided-diffusion gives no checksum); the sha256 of the file you "
    "pass is recorded in the training run"
)


def alphas_cumprod(steps: int = TIMESTEPS) -> np.ndarray:
    """Cumulative products of 1 - beta for linearly spaced betas, in float64 as upstream."""
    betas = np.linspace(BETA_START, BETA_END, steps, dtype=np.float64)
    return np.cumprod(1.0 - betas)


@dataclass(frozen=True)
class DiffLossTerms:
    """The two unweighted distances of one batch (scalars, in the autograd graph unless frozen)."""

    naturalness: torch.Tensor
    semantic: torch.Tensor

    def weighted(self) -> torch.Tensor:
        """What DiffLoss adds to the pixel loss."""
        return NATURALNESS_WEIGHT * self.naturalness + SEMANTIC_WEIGHT * self.semantic


class DiffLoss:
    """The DiffLoss terms of an ADM (frozen in place); call it on (restored, clean) in [0, 1] with a
    generator."""

    def __init__(self, adm: ADMUNet, *, upstream_nograd: bool = False) -> None:
        self.adm = adm.requires_grad_(False).eval()
        self.upstream_nograd = upstream_nograd
        abar = alphas_cumprod()
        self.sqrt_abar = np.sqrt(abar)
        self.sqrt_one_minus_abar = np.sqrt(1.0 - abar)

    def _coefficient(self, table: np.ndarray, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        values = torch.from_numpy(table[t.cpu().numpy()]).to(like.device, torch.float32)
        return values.view(-1, *([1] * (like.dim() - 1)))

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise (images in [-1, 1])."""
        return (
            self._coefficient(self.sqrt_abar, t, x0) * x0
            + self._coefficient(self.sqrt_one_minus_abar, t, x0) * noise
        )

    def terms(
        self, restored: torch.Tensor, clean: torch.Tensor, t: torch.Tensor, noise: torch.Tensor
    ) -> DiffLossTerms:
        """Both distances for given timesteps [B] and noise (images in [0, 1])."""
        noise = noise.to(restored.device)
        noised_restored = self.q_sample(restored * 2 - 1, t, noise)
        noised_clean = self.q_sample(clean * 2 - 1, t, noise)
        t = t.to(restored.device)
        with torch.no_grad() if self.upstream_nograd else nullcontext():
            out_restored, h_restored = self.adm(noised_restored, t)
        with torch.no_grad():  # the target: nothing trainable depends on it
            out_clean, h_clean = self.adm(noised_clean, t)
        naturalness = F.mse_loss(out_restored[:, :NOISE_CHANNELS], out_clean[:, :NOISE_CHANNELS])
        return DiffLossTerms(naturalness, F.mse_loss(h_restored, h_clean))

    def __call__(
        self, restored: torch.Tensor, clean: torch.Tensor, gen: torch.Generator
    ) -> torch.Tensor:
        """The weighted terms at a timestep and noise drawn from ``gen`` (t first, then noise)."""
        t = torch.randint(0, TIMESTEPS, (restored.shape[0],), generator=gen)
        noise = torch.randn(restored.shape, generator=gen)
        return self.terms(restored, clean, t, noise).weighted()


def require_weights_file(path: str | Path) -> Path:
    """``path`` when it is a file; else an error naming it, where it comes from and its checksum."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(
            f"DiffLoss diffusion weights (guided-diffusion {WEIGHTS_FILE})",
            str(path),
            source=WEIGHTS_SOURCE,
            sha256_note=WEIGHTS_SHA256_NOTE,
        )
    return path


def load_adm(path: str | Path, config: ADMConfig = ADM_256_UNCOND) -> tuple[ADMUNet, str]:
    """The frozen ADM of ``path`` (loaded safely, keys and shapes checked strictly), its sha256.

    Floating tensors are cast to float32 (the network runs in float32, as in DiffLoss's code).
    """
    path = require_weights_file(path)
    adapted, sha = read_state_dict(path, CheckpointLayout(prefixes=("module.",)))
    with torch.device("meta"):
        adm = ADMUNet(config)
    check_state(
        adm.state_dict(),
        adapted.state,
        method="ADM",
        what="the guided-diffusion ADM U-Net",
        label=str(path),
        hint=f"pass {WEIGHTS_FILE} from {WEIGHTS_SOURCE}",
    )
    state = {k: v.float() if v.is_floating_point() else v for k, v in adapted.state.items()}
    adm.load_state_dict(state, strict=True, assign=True)
    return adm.requires_grad_(False).eval(), sha
