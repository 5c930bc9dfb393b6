"""Deterministic synthetic degradations used to build the embedded mini suite.

Every function takes a clean float64 image (HxWx3 in [0, 1]) and a seeded ``numpy.random.Generator``
and returns ``(degraded float64 image, params)`` where ``params`` is a JSON-serialisable record of
what was drawn, so the committed images are documented. The models are textbook ones, not copies of
any dataset's generator:

* rain: sparse drops smeared by an oriented line kernel, screen-blended (Fu et al., CVPR 2017 style);
* snow: Gaussian flakes of two sizes alpha-blended in white, with a faint veil (Snow100K-like look);
* haze: atmospheric scattering ``I = J t + A (1 - t)``, ``t = exp(-beta d)`` with a depth proxy
  (Koschmieder; as used to synthesise RESIDE);
* motion blur: convolution with a normalised anti-aliased line kernel (returned in ``params``);
* low light: exposure scaling and a gamma curve, then Poisson-Gaussian (shot + read) noise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import ndimage

Params = dict[str, Any]


def quantize(image: np.ndarray) -> np.ndarray:
    """Float [0, 1] -> uint8 with clipping and round-half-even."""
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def line_kernel(length: int, angle_deg: float) -> np.ndarray:
    """An anti-aliased line of ``length`` pixels at ``angle_deg`` (0 = horizontal), summing to 1."""
    size = length if length % 2 == 1 else length + 1
    kernel = np.zeros((size, size), dtype=np.float64)
    centre = (size - 1) / 2.0
    theta = math.radians(angle_deg)
    dx, dy = math.cos(theta), -math.sin(theta)
    for s in np.linspace(-(length - 1) / 2.0, (length - 1) / 2.0, 4 * length + 1):
        x, y = centre + s * dx, centre + s * dy
        x0, y0 = int(math.floor(x)), int(math.floor(y))
        fx, fy = x - x0, y - y0
        for xx, yy, w in (
            (x0, y0, (1 - fx) * (1 - fy)),
            (x0 + 1, y0, fx * (1 - fy)),
            (x0, y0 + 1, (1 - fx) * fy),
            (x0 + 1, y0 + 1, fx * fy),
        ):
            if 0 <= xx < size and 0 <= yy < size:
                kernel[yy, xx] += w
    return kernel / kernel.sum()


def _convolve_rgb(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return np.stack(
        [ndimage.convolve(image[..., c], kernel, mode="reflect") for c in range(3)], axis=-1
    )


def add_rain(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Params]:
    """Rain streaks: sparse drops smeared along a near-vertical direction, screen-blended."""
    h, w = image.shape[:2]
    density = float(rng.uniform(0.004, 0.010))
    length = int(rng.integers(11, 24))
    angle = float(rng.uniform(70.0, 110.0))
    strength = float(rng.uniform(0.55, 0.85))
    drops = (rng.random((h, w)) < density) * rng.uniform(0.6, 1.0, size=(h, w))
    streaks = ndimage.convolve(drops, line_kernel(length, angle), mode="wrap")
    streaks = ndimage.gaussian_filter(streaks, 0.6)
    streaks = np.clip(streaks / max(float(streaks.max()), 1e-8) * 1.6, 0.0, 1.0)
    layer = (strength * streaks)[..., None]
    out = 1.0 - (1.0 - image) * (1.0 - layer)
    params = {"density": density, "length": length, "angle_deg": angle, "strength": strength}
    return out, params


def _flakes(shape: tuple[int, int], count: int, sigma: float, rng: np.random.Generator):
    impulses = np.zeros(shape, dtype=np.float64)
    ys = rng.integers(0, shape[0], size=count)
    xs = rng.integers(0, shape[1], size=count)
    impulses[ys, xs] = rng.uniform(0.6, 1.0, size=count)
    blobs = ndimage.gaussian_filter(impulses, sigma) * (2.0 * math.pi * sigma * sigma)
    return np.clip(blobs, 0.0, 1.0)


def add_snow(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Params]:
    """Snow: many small and a few large Gaussian flakes blended in near-white, plus a light veil."""
    h, w = image.shape[:2]
    area = h * w
    small = int(area * rng.uniform(0.004, 0.008))
    large = int(area * rng.uniform(0.0004, 0.0010))
    fall = float(rng.uniform(60.0, 120.0))
    veil = float(rng.uniform(0.03, 0.10))
    mask = _flakes((h, w), small, 0.7, rng)
    mask = np.maximum(mask, _flakes((h, w), large, 1.6, rng))
    mask = ndimage.convolve(mask, line_kernel(3, fall), mode="wrap")
    mask = np.clip(mask * 1.3, 0.0, 1.0)[..., None]
    white = float(rng.uniform(0.9, 1.0))
    veiled = image * (1.0 - veil) + veil * white
    out = veiled * (1.0 - mask) + white * mask
    params = {
        "small_flakes": small,
        "large_flakes": large,
        "fall_angle_deg": fall,
        "veil": veil,
        "white": white,
    }
    return out, params


def depth_proxy(image: np.ndarray) -> np.ndarray:
    """A [0, 1] depth guess: far at the top and in bright smooth regions (sky), near at the bottom."""
    h, w = image.shape[:2]
    rows = np.linspace(1.0, 0.0, h)[:, None] * np.ones((1, w))
    luminance = image @ np.array([0.299, 0.587, 0.114])
    smooth = ndimage.gaussian_filter(luminance, max(h, w) / 12.0)
    depth = 0.6 * rows + 0.4 * smooth
    return (depth - depth.min()) / max(float(np.ptp(depth)), 1e-8)


def add_haze(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Params]:
    """Haze by the atmospheric scattering model with ``depth_proxy`` as scene depth."""
    beta = float(rng.uniform(0.8, 1.6))
    airlight = float(rng.uniform(0.75, 0.95))
    tint = rng.uniform(0.96, 1.0, size=3)
    depth = 0.25 + 1.0 * depth_proxy(image)
    transmission = np.exp(-beta * depth)[..., None]
    atmosphere = airlight * tint
    out = image * transmission + atmosphere * (1.0 - transmission)
    params = {"beta": beta, "airlight": airlight, "tint": tint.tolist(), "depth_offset": 0.25}
    return out, params


def add_motion_blur(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Params]:
    """Linear motion blur with a known kernel (``params['kernel']``), reflect-padded convolution."""
    length = int(rng.integers(7, 16))
    angle = float(rng.uniform(0.0, 180.0))
    kernel = line_kernel(length, angle)
    out = _convolve_rgb(image, kernel)
    params = {"length": length, "angle_deg": angle, "kernel": kernel.tolist()}
    return out, params


def add_low_light(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Params]:
    """Low light: ``exposure * J ** gamma`` plus Poisson-Gaussian noise (shot and read)."""
    exposure = float(rng.uniform(0.12, 0.30))
    gamma = float(rng.uniform(1.4, 2.2))
    shot = float(rng.uniform(0.01, 0.03))
    read = float(rng.uniform(0.004, 0.012))
    dark = exposure * np.power(image, gamma)
    noise = shot * np.sqrt(dark) * rng.standard_normal(dark.shape)
    noise += read * rng.standard_normal(dark.shape)
    out = dark + noise
    params = {"exposure": exposure, "gamma": gamma, "shot_sigma": shot, "read_sigma": read}
    return out, params


def add_haze_and_rain(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Params]:
    """A mixed degradation no mini training split contains: haze first, rain streaks over it."""
    hazy, haze_params = add_haze(image, rng)
    out, rain_params = add_rain(hazy, rng)
    return out, {"haze": haze_params, "rain": rain_params}


def add_real_like_low_light(
    image: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, Params]:
    """A "real-world" style dark capture: colour cast, slight defocus, low light and noise."""
    cast = rng.uniform(0.85, 1.0, size=3)
    blurred = np.stack([ndimage.gaussian_filter(image[..., c], 0.8) for c in range(3)], axis=-1)
    out, low_params = add_low_light(blurred * cast, rng)
    return out, {"cast": cast.tolist(), "defocus_sigma": 0.8, "low_light": low_params}


DEGRADATIONS = {
    "derain": add_rain,
    "desnow": add_snow,
    "dehaze": add_haze,
    "deblur": add_motion_blur,
    "lowlight": add_low_light,
}
