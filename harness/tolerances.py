"""Allowed differences of PSNR (dB) and SSIM: one owner for the gate, its CLI and the report."""

from __future__ import annotations

#: The largest drop of a mean that still counts as unchanged: the gate's default per-benchmark
#: tolerance and the report's default paper-vs-measured tolerance.
MEAN_TOLERANCE: dict[str, float] = {"psnr": 0.1, "ssim": 0.002}

#: The largest drop of one image's value that the gate lets through, whatever the mean does.
IMAGE_TOLERANCE: dict[str, float] = {"psnr": 1.0, "ssim": 0.02}

#: The gate's significance level for its one-sided paired test.
GATE_ALPHA = 0.05
