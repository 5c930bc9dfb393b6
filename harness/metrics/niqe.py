"""NIQE, the Natural Image Quality Evaluator (no reference; lower is better).

Mittal, Soundararajan, Bovik, "Making a 'Completely Blind' Image Quality Analyzer", IEEE Signal
Processing Letters 20(3), 2013; MATLAB release niqe_release.zip (computequality.m). Convention:
luma of the protocol (default: MATLAB rgb2ycbcr Y, rounded), cropped to whole 96x96 blocks, two
scales (the second from MATLAB imresize(., 0.5) bicubic with antialiasing of Y/255, times 255),
MSCN coefficients with a 7x7 Gaussian (sigma 7/6, replicate padding) and (x - mu)/(sigma + 1), 18
AGGD features per block and scale (circular shifts inside the block, as circshift), then the
Mahalanobis-like distance to the pristine model with pinv((cov_pristine + cov_image)/2).
The pristine model parameters ship in niqe_pristine_params.json (see its ``_source``).
"""

from __future__ import annotations

import json
import math
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.special import gamma

from harness.metrics.filters import correlate_separable, gaussian_kernel_1d
from harness.metrics.imresize import imresize

BLOCK = 96
PARAMS_FILE = Path(__file__).with_name("niqe_pristine_params.json")
SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))


@lru_cache(maxsize=1)
def pristine_model() -> tuple[np.ndarray, np.ndarray]:
    """(mu [36], cov [36x36]) of the pristine multivariate Gaussian."""
    data = json.loads(PARAMS_FILE.read_text())
    return np.asarray(data["mu"], np.float64), np.asarray(data["cov"], np.float64)


@lru_cache(maxsize=1)
def gamma_grid() -> tuple[np.ndarray, np.ndarray]:
    """AGGD shapes 0.2..10 (step 0.001) and their ratios Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a))."""
    shape = 0.2 + 0.001 * np.arange(9801)
    ratio = gamma(2.0 / shape) ** 2 / (gamma(1.0 / shape) * gamma(3.0 / shape))
    return shape, ratio


def aggd_fit(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Moment-matching AGGD fit per row of ``samples`` [N, M]: (alpha, beta_left, beta_right)."""
    shape, ratio = gamma_grid()
    neg, pos = samples < 0, samples > 0
    left_std = np.sqrt((samples**2 * neg).sum(1) / neg.sum(1))
    right_std = np.sqrt((samples**2 * pos).sum(1) / pos.sum(1))
    gammahat = left_std / right_std
    rhat = np.mean(np.abs(samples), 1) ** 2 / np.mean(samples**2, 1)
    rhatnorm = rhat * (gammahat**3 + 1) * (gammahat + 1) / (gammahat**2 + 1) ** 2
    alpha = shape[np.argmin((ratio[None, :] - rhatnorm[:, None]) ** 2, axis=1)]
    factor = np.sqrt(gamma(1.0 / alpha) / gamma(3.0 / alpha))
    return alpha, left_std * factor, right_std * factor


def mscn(image: np.ndarray) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients (x - mu) / (sigma + 1) of a float64 image."""
    g = gaussian_kernel_1d(7, 7.0 / 6.0)
    mu = correlate_separable(image, g, g, "replicate")
    var = correlate_separable(image * image, g, g, "replicate") - mu * mu
    return (image - mu) / (np.sqrt(np.abs(var)) + 1.0)


def block_features(coeffs: np.ndarray, block: int) -> np.ndarray:
    """18 NIQE features for each non-overlapping ``block`` x ``block`` tile: [n_blocks, 18]."""
    h, w = coeffs.shape
    nh, nw = h // block, w // block
    tiles = coeffs[: nh * block, : nw * block].reshape(nh, block, nw, block).transpose(0, 2, 1, 3)
    tiles = tiles.reshape(nh * nw, block, block)
    flat = tiles.reshape(len(tiles), -1)
    alpha, bl, br = aggd_fit(flat)
    feats = [alpha, (bl + br) / 2.0]
    for shift in SHIFTS:
        pair = (tiles * np.roll(tiles, shift, axis=(1, 2))).reshape(len(tiles), -1)
        alpha, bl, br = aggd_fit(pair)
        mean = (br - bl) * gamma(2.0 / alpha) / gamma(1.0 / alpha)
        feats += [alpha, mean, bl, br]
    return np.stack(feats, axis=1)


def whole_blocks(luma: np.ndarray) -> np.ndarray:
    """``luma`` cropped to whole 96x96 blocks from the top left; ValueError below two blocks."""
    h, w = luma.shape
    nh, nw = h // BLOCK, w // BLOCK
    if nh * nw < 2:
        raise ValueError(
            f"NIQE needs at least two {BLOCK}x{BLOCK} blocks (a covariance), got {h}x{w} pixels"
        )
    return luma[: nh * BLOCK, : nw * BLOCK]


def niqe(luma: np.ndarray) -> float:
    """NIQE of a float64 HxW luma image on the 0..255 scale (needs two 96x96 blocks or more)."""
    img = whole_blocks(luma).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # empty AGGD sides give NaN features
        return _niqe_of_crop(img)


def _niqe_of_crop(img: np.ndarray) -> float:
    per_scale = []
    for scale in (1, 2):
        per_scale.append(block_features(mscn(img), BLOCK // scale))
        if scale == 1:
            img = imresize(img / 255.0, scale=0.5, antialias=True) * 255.0
    return pristine_distance(np.concatenate(per_scale, axis=1))


def pristine_distance(feats: np.ndarray) -> float:
    """Distance of the blocks' 36 features [n_blocks, 36] (NaN rows dropped) to the pristine MVG."""
    mu_p, cov_p = pristine_model()
    mu_d = np.nanmean(feats, axis=0)
    clean = feats[~np.isnan(feats).any(axis=1)]
    if len(clean) < 2 or np.isnan(mu_d).any():
        raise ValueError(
            "NIQE is undefined: fewer than two blocks with valid statistics (flat image?)"
        )
    cov_d = np.cov(clean, rowvar=False)
    diff = mu_p - mu_d
    return float(math.sqrt(diff @ np.linalg.pinv((cov_p + cov_d) / 2.0) @ diff))
