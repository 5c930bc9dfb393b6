"""Richardson-Lucy deconvolution with a fixed, stated blur kernel (non-blind, "naive" row).

W. H. Richardson, "Bayesian-Based Iterative Method of Image Restoration", JOSA 62(1), 1972;
L. B. Lucy, "An iterative technique for the rectification of observed distributions",
Astronomical Journal 79(6), 1974.

Multiplicative update for a blur kernel K (Poisson maximum likelihood):
    u <- u * (K~ * (d / (K * u))),  K~ the kernel flipped, starting from u = d.
Kernel assumption: real benchmark blur (GoPro, HIDE, RealBlur) is unknown and spatially varying,
and this baseline does NOT estimate it. It assumes one fixed isotropic Gaussian PSF for every image,
sigma = 1.5 px, truncated at 3 sigma (an 11 x 11 kernel), and runs 10 iterations; borders are
replicate-padded. Pass ``kernel=`` (a 2-D array that sums to 1) to use a known PSF instead.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from harness.restorer import ImageBatch, Option, Restorer


def gaussian_kernel(sigma: float, truncate: float = 3.0) -> torch.Tensor:
    """Normalised 2-D isotropic Gaussian kernel, radius ceil(truncate * sigma)."""
    radius = max(1, math.ceil(truncate * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-(x**2) / (2 * sigma**2))
    k = torch.outer(g, g)
    return k / k.sum()


def convolve(images: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """True 2-D convolution of each channel with ``kernel`` (odd size), replicate borders."""
    kh, kw = kernel.shape
    c = images.shape[1]
    weight = kernel.flip(0, 1).to(images.dtype).expand(c, 1, kh, kw)
    padded = F.pad(images, (kw // 2, kw // 2, kh // 2, kh // 2), mode="replicate")
    return F.conv2d(padded, weight, groups=c)


def richardson_lucy(
    observed: torch.Tensor, kernel: torch.Tensor, iterations: int, eps: float = 1e-7
) -> torch.Tensor:
    """Richardson-Lucy iterations for [B, C, H, W] images, starting from the observation."""
    estimate = observed.clone()
    flipped = kernel.flip(0, 1)
    for _ in range(iterations):
        ratio = observed / convolve(estimate, kernel).clamp(min=eps)
        estimate = estimate * convolve(ratio, flipped)
    return estimate


class RichardsonLucy(Restorer):
    """Richardson-Lucy deconvolution assuming a fixed Gaussian PSF (sigma 1.5 px, 10 iterations)."""

    name = "richardson-lucy"
    summary = "Richardson-Lucy deconvolution, fixed Gaussian PSF sigma=1.5 px (naive, non-blind)."
    tasks = ("deblur",)
    paper = "Richardson, JOSA 1972; Lucy, Astronomical Journal 1974"
    license = "Apache-2.0 (this implementation)"
    params = {"default": 0}
    loads_weights = False
    option_specs = {
        "sigma": Option(float, 1.5, "standard deviation of the assumed Gaussian PSF (pixels)"),
        "iterations": Option(int, 10, "Richardson-Lucy iterations"),
        "kernel": Option(list, None, "explicit PSF (2-D, odd sizes) instead of the Gaussian"),
    }

    def __init__(self, variant=None, weights=None, device="cpu", **options) -> None:
        super().__init__(variant, weights, device, **options)
        self.sigma = float(options.get("sigma", 1.5))
        self.iterations = int(options.get("iterations", 10))
        kernel = options.get("kernel")
        if kernel is None:
            self.kernel = gaussian_kernel(self.sigma)
        else:
            self.kernel = torch.as_tensor(kernel, dtype=torch.float64)
            if (
                self.kernel.ndim != 2
                or self.kernel.shape[0] % 2 == 0
                or self.kernel.shape[1] % 2 == 0
            ):
                raise ValueError("kernel must be a 2-D array of odd height and width")
            self.kernel = self.kernel / self.kernel.sum()

    @torch.inference_mode()
    def restore(self, batch: ImageBatch) -> torch.Tensor:
        """Deconvolve each channel with the assumed PSF; clip to [0, 1]."""
        images = batch.images.float()
        kernel = self.kernel.to(images.device, torch.float32)
        return richardson_lucy(images, kernel, self.iterations).clamp(0.0, 1.0)
