"""NIQE as DiffUIR ships it (``metrics/niqe.py``, an early BasicSR version): lower is better.

Same model, features and pristine parameters as :mod:`harness.metrics.niqe` (BasicSR's
``niqe_pris_params.npz`` holds the MATLAB release's numbers, equal to niqe_pristine_params.json),
but a different computation, which moves NIQE by up to about two points on small photographs:

* the luma is BasicSR's unrounded float32 Y (``y-bt601-float32``), and every image step runs in
  float32 (the 7x7 Gaussian sums themselves in float64, rounded to float32 as scipy's
  ``ndimage.convolve`` returns them, replicate borders);
* the second scale is OpenCV ``resize(Y / 255, half size, INTER_LINEAR) * 255`` (a 2x2 mean, no
  antialiasing) instead of MATLAB's antialiased bicubic ``imresize``;
* each block's AGGD moments are float32 means over the selected coefficients (numpy's pairwise
  sums), and the anti-diagonal pair is each coefficient times its upper-right neighbour
  (circularly). NIQE's grid search turns last-bit differences here into 1e-6..1e-3 changes of the
  score, so these steps are kept exactly (float64 moments differ from upstream by up to 4e-3).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import gamma

from harness.metrics.filters import correlate_separable, gaussian_kernel_1d
from harness.metrics.niqe import BLOCK, gamma_grid, pristine_distance, whole_blocks

PAIR_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))
"""np.roll shifts of the horizontal, vertical, diagonal and anti-diagonal neighbour products; the
anti-diagonal one as (1, -1), not (-1, 1): same products, but another order of the float32 sums."""


def _float32_mean(x: np.ndarray) -> np.float32:
    return np.mean(x, dtype=np.float32)


def aggd_fit_float32(samples: np.ndarray) -> tuple[float, float, float]:
    """Moment-matching AGGD fit of one float32 sample vector: (alpha, beta_left, beta_right)."""
    shape, ratio = gamma_grid()
    squares = samples * samples
    left_std = np.sqrt(_float32_mean(squares[samples < 0]))
    right_std = np.sqrt(_float32_mean(squares[samples > 0]))
    gammahat = left_std / right_std
    rhat = _float32_mean(np.abs(samples)) ** 2 / _float32_mean(squares)
    rhatnorm = rhat * (gammahat**3 + 1) * (gammahat + 1) / (gammahat**2 + 1) ** 2
    alpha = float(shape[np.argmin((ratio - rhatnorm) ** 2)])
    factor = np.sqrt(gamma(1.0 / alpha) / gamma(3.0 / alpha))
    return alpha, float(left_std * factor), float(right_std * factor)


def block_features_float32(tile: np.ndarray) -> list[float]:
    """The 18 NIQE features of one float32 block of MSCN coefficients."""
    alpha, bl, br = aggd_fit_float32(tile.ravel())
    feats = [alpha, (bl + br) / 2.0]
    for shift in PAIR_SHIFTS:
        pairs = tile * np.roll(tile, shift, axis=(0, 1))
        alpha, bl, br = aggd_fit_float32(pairs.ravel())
        feats += [alpha, (br - bl) * gamma(2.0 / alpha) / gamma(1.0 / alpha), bl, br]
    return feats


def mscn_float32(image: np.ndarray) -> np.ndarray:
    """(x - mu) / (sigma + 1) of a float32 image, every image-sized step rounded to float32."""
    g = gaussian_kernel_1d(7, 7.0 / 6.0)
    mu = correlate_separable(image, g, g, "replicate").astype(np.float32)
    second = correlate_separable(image * image, g, g, "replicate").astype(np.float32)
    sigma = np.sqrt(np.abs(second - mu * mu))
    return (image - mu) / (sigma + np.float32(1.0))


def half_size_linear(image: np.ndarray) -> np.ndarray:
    """OpenCV bilinear half-size resize of a float32 0..255 image, done on the 0..1 scale."""
    import cv2

    h, w = image.shape
    unit = image / np.float32(255.0)
    return cv2.resize(unit, (w // 2, h // 2), interpolation=cv2.INTER_LINEAR) * np.float32(255.0)


def niqe_diffuir(luma: np.ndarray) -> float:
    """DiffUIR's NIQE of an HxW luma on the 0..255 scale, taken as float32 (two 96x96 blocks+)."""
    img = np.ascontiguousarray(whole_blocks(luma), dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # empty AGGD sides give NaN features
        per_scale = []
        for scale in (1, 2):
            coeffs, size = mscn_float32(img), BLOCK // scale
            rows, cols = coeffs.shape[0] // size, coeffs.shape[1] // size
            tiles = (
                coeffs[i * size : (i + 1) * size, j * size : (j + 1) * size]
                for i in range(rows)
                for j in range(cols)
            )
            per_scale.append(np.array([block_features_float32(t) for t in tiles]))
            if scale == 1:
                img = half_size_linear(img)
        return pristine_distance(np.concatenate(per_scale, axis=1))
