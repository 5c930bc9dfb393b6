"""LIME: low-light enhancement by illumination map estimation.

X. Guo, Y. Li, H. Ling, "LIME: Low-Light Image Enhancement via Illumination Map Estimation",
IEEE TIP 26(2), 2017.

Retinex model I = R * T. Steps (per image):
1. initial illumination T0(x) = max over RGB of I(x) (paper eq. 2);
2. structure-aware refinement, the paper's sped-up objective (eq. 19) with weighting strategy II:
   minimise ||T - T0||^2 + alpha * sum_{x, d in {h, v}} W_d(x) (D_d T)(x)^2 / (|D_d T0(x)| + eps),
   W_d = 1 / (|D_d T0| + eps); i.e. solve (Id + alpha * sum_d D_d^T diag(w_d) D_d) t = t0, a
   symmetric positive definite system;
3. gamma correction of the illumination T <- T^gamma, then R = I / T, clipped to [0, 1].

The sparse system is solved exactly (scipy's direct sparse solver), per image.
Simplifications (stated): forward differences with a zero gradient at the last row/column (Neumann border); the optional
BM3D denoising step of the paper is omitted. Parameters: alpha = 0.15, gamma = 0.8, eps = 1e-3.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from harness.restorer import ImageBatch, Option, Restorer


def _forward_difference(h: int, w: int, axis: int) -> sp.csr_matrix:
    """Sparse forward-difference operator on an h x w grid (row-major), zero at the far border."""
    idx = np.arange(h * w).reshape(h, w)
    if axis == 1:
        here, there = idx[:, :-1].ravel(), idx[:, 1:].ravel()
    else:
        here, there = idx[:-1, :].ravel(), idx[1:, :].ravel()
    rows = np.concatenate([here, here])
    cols = np.concatenate([here, there])
    vals = np.concatenate([-np.ones(here.size), np.ones(here.size)])
    return sp.csr_matrix((vals, (rows, cols)), shape=(h * w, h * w))


def refine_illumination(t0: np.ndarray, alpha: float, eps: float) -> np.ndarray:
    """Solve LIME's sped-up refinement (eq. 19, strategy II weights) for one HxW map, exactly."""
    h, w = t0.shape
    n = h * w
    system = sp.identity(n, format="csr")
    for axis in (1, 0):
        diff = _forward_difference(h, w, axis)
        grad = np.abs(diff @ t0.ravel())
        weight = alpha / (grad + eps) ** 2
        system = system + diff.T @ sp.diags(weight) @ diff
    return spla.spsolve(system.tocsc(), t0.ravel()).reshape(h, w)


class LIME(Restorer):
    """Guo et al.'s LIME (illumination-map estimation, strategy II, exact solve, no denoising)."""

    name = "lime"
    summary = "LIME low-light enhancement: refined max-RGB illumination map + gamma (Guo 2017)."
    tasks = ("lowlight",)
    paper = (
        "Guo, Li, Ling. LIME: Low-Light Image Enhancement via Illumination Map Estimation. TIP 2017"
    )
    license = "Apache-2.0 (this implementation)"
    params = {"default": 0}
    loads_weights = False
    option_specs = {
        "alpha": Option(float, 0.15, "weight of the structure term of the illumination refinement"),
        "gamma": Option(float, 0.8, "gamma applied to the refined illumination"),
        "eps": Option(float, 1e-3, "stabiliser of the gradient weights"),
        "floor": Option(float, 1e-3, "lower bound of the illumination before division"),
    }

    def __init__(self, variant=None, weights=None, device="cpu", **options) -> None:
        super().__init__(variant, weights, device, **options)
        self.alpha = float(options.get("alpha", 0.15))
        self.gamma = float(options.get("gamma", 0.8))
        self.eps = float(options.get("eps", 1e-3))
        self.floor = float(options.get("floor", 1e-3))

    def illumination(self, images: torch.Tensor) -> torch.Tensor:
        """Refined illumination map [B, 1, H, W] (before gamma correction)."""
        t0 = images.double().amax(dim=1).cpu().numpy()
        maps = [refine_illumination(t, self.alpha, self.eps) for t in t0]
        return torch.from_numpy(np.stack(maps)).unsqueeze(1).float().to(images.device)

    @torch.inference_mode()
    def restore(self, batch: ImageBatch) -> torch.Tensor:
        """Enhance each image: R = I / max(T, floor)^gamma, clipped to [0, 1]."""
        images = batch.images.float()
        t = self.illumination(images).clamp(min=self.floor)
        return (images / t.pow(self.gamma)).clamp(0.0, 1.0)
