"""Median filter: a classical filter baseline for rain and snow removal.

Rain streaks and snow flakes are thin, sparse and brighter than the background, i.e. impulse-like
outliers for a local order statistic. A per-channel k x k median (Tukey, "Exploratory Data
Analysis", 1977; Huang, Yang, Tang, "A fast two-dimensional median filtering algorithm", IEEE TASSP
27(1), 1979) removes any structure that covers fewer than half of the window, at the cost of
smoothing fine texture. Window 5 x 5 (removes streaks up to 2 px wide), mirror-reflected borders.
It is the crude reference that learned deraining/desnowing must clearly beat.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.restorer import ImageBatch, Option, Restorer


def median_filter(images: torch.Tensor, size: int) -> torch.Tensor:
    """Per-channel size x size median of [B, C, H, W] images (odd size), reflect borders."""
    if size % 2 == 0 or size < 1:
        raise ValueError(f"median window must be odd and positive, got {size}")
    r = size // 2
    b, c, h, w = images.shape
    mode = "reflect" if min(h, w) > r else "replicate"
    padded = F.pad(images, (r, r, r, r), mode=mode)
    windows = padded.unfold(2, size, 1).unfold(3, size, 1)  # [B, C, H, W, k, k]
    return windows.reshape(b, c, h, w, size * size).median(dim=-1).values


class MedianFilter(Restorer):
    """Per-channel 5x5 median filter (rain/snow baseline)."""

    name = "median"
    summary = "Per-channel 5x5 median filter: removes thin bright streaks/flakes (rain, snow)."
    tasks = ("derain", "desnow")
    paper = "Tukey, Exploratory Data Analysis, 1977 (median smoothing)"
    license = "Apache-2.0 (this implementation)"
    params = {"default": 0}
    loads_weights = False
    option_specs = {"size": Option(int, 5, "median window (odd, pixels)")}

    def __init__(self, variant=None, weights=None, device="cpu", **options) -> None:
        super().__init__(variant, weights, device, **options)
        self.size = int(options.get("size", 5))

    @torch.inference_mode()
    def restore(self, batch: ImageBatch) -> torch.Tensor:
        """Median-filter each channel of each image."""
        return median_filter(batch.images.float(), self.size).clamp(0.0, 1.0)
