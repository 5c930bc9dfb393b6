"""Dark channel prior dehazing with guided-filter refinement.

K. He, J. Sun, X. Tang, "Single Image Haze Removal Using Dark Channel Prior", CVPR 2009 and
IEEE TPAMI 33(12), 2011. Transmission refined with the guided filter of K. He, J. Sun, X. Tang,
"Guided Image Filtering", ECCV 2010 (TPAMI 2013), instead of the original soft matting.

Haze model: I = J * t + A * (1 - t). Steps (per image):
1. dark channel: min over RGB, then min over a 15x15 patch;
2. airlight A: among the brightest 0.1 % of dark-channel pixels, the input pixel of highest
   intensity (sum of RGB);
3. t = 1 - omega * dark(I / A), omega = 0.95 (keeps a little haze for depth perception);
4. refine t with a guided filter guided by the input's luma (grey guide; the papers' guide is the
   hazy image), radius 60, eps 1e-4;
5. J = (I - A) / max(t, t0) + A with t0 = 0.1, clipped to [0, 1].
These are the papers' parameters; they were chosen for ~600x400 images and are kept fixed here.
"""

from __future__ import annotations

import torch

from baselines.classical.filters import guided_filter, luminance, min_filter
from harness.restorer import ImageBatch, Option, Restorer


def dark_channel(images: torch.Tensor, patch: int) -> torch.Tensor:
    """Dark channel of [B, 3, H, W] images: per-pixel min over RGB, then a patch min filter."""
    return min_filter(images.amin(dim=1, keepdim=True), patch)


def estimate_airlight(images: torch.Tensor, dark: torch.Tensor, fraction: float) -> torch.Tensor:
    """Atmospheric light [B, 3]: brightest input pixel among the top ``fraction`` of the dark channel."""
    b = images.shape[0]
    flat_dark = dark.reshape(b, -1)
    count = max(1, int(round(flat_dark.shape[1] * fraction)))
    # stable sort: ties broken by pixel order, so the result is deterministic
    top = torch.sort(flat_dark, dim=1, descending=True, stable=True).indices[:, :count]
    flat = images.reshape(b, 3, -1)
    candidates = torch.gather(flat, 2, top.unsqueeze(1).expand(b, 3, count))
    best = candidates.sum(dim=1).argmax(dim=1)
    return candidates[torch.arange(b), :, best]


class DarkChannelPrior(Restorer):
    """He et al.'s dark channel prior dehazing, transmission refined by a guided filter."""

    name = "dcp"
    summary = "Dark channel prior dehazing with guided-filter refinement (He et al. 2009/2010)."
    tasks = ("dehaze",)
    paper = (
        "He, Sun, Tang. Single Image Haze Removal Using Dark Channel Prior. CVPR 2009 / "
        "TPAMI 2011; Guided Image Filtering, ECCV 2010"
    )
    license = "Apache-2.0 (this implementation)"
    params = {"default": 0}
    loads_weights = False
    option_specs = {
        "patch": Option(int, 15, "dark channel window (pixels)"),
        "omega": Option(float, 0.95, "fraction of haze removed"),
        "t0": Option(float, 0.1, "lower bound of the transmission"),
        "top_fraction": Option(float, 0.001, "brightest dark-channel fraction for the airlight"),
        "gf_radius": Option(int, 60, "guided filter radius (pixels)"),
        "gf_eps": Option(float, 1e-4, "guided filter regulariser"),
    }

    def __init__(self, variant=None, weights=None, device="cpu", **options) -> None:
        super().__init__(variant, weights, device, **options)
        self.patch = int(options.get("patch", 15))
        self.omega = float(options.get("omega", 0.95))
        self.t0 = float(options.get("t0", 0.1))
        self.top_fraction = float(options.get("top_fraction", 0.001))
        self.gf_radius = int(options.get("gf_radius", 60))
        self.gf_eps = float(options.get("gf_eps", 1e-4))

    def transmission(self, images: torch.Tensor, airlight: torch.Tensor) -> torch.Tensor:
        """Coarse transmission t = 1 - omega * dark(I / A), refined by the guided filter."""
        normalised = images / airlight.clamp(min=1e-6)[:, :, None, None]
        coarse = 1.0 - self.omega * dark_channel(normalised, self.patch)
        return guided_filter(luminance(images), coarse, self.gf_radius, self.gf_eps)

    @torch.inference_mode()
    def restore(self, batch: ImageBatch) -> torch.Tensor:
        """Dehaze each image independently (airlight is estimated per image)."""
        images = batch.images.float()
        airlight = estimate_airlight(images, dark_channel(images, self.patch), self.top_fraction)
        t = self.transmission(images, airlight).clamp(min=self.t0)
        a = airlight[:, :, None, None]
        return ((images - a) / t + a).clamp(0.0, 1.0)
