"""Independent reference computations for the metric tests, written from the published formulas
(deliberately plain: 2-D windows, five filterings, explicit loops; no code shared with harness)."""

from __future__ import annotations

import math

import cv2
import numpy as np


def y_bt601(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 studio-swing luma of uint8 RGB, float64, unrounded."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    return 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def matlab_round(x: np.ndarray) -> np.ndarray:
    """MATLAB's round: half away from zero."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def y_matlab(rgb: np.ndarray) -> np.ndarray:
    """MATLAB rgb2ycbcr(uint8) luma: imlincomb((1/255)*65.481, R, ..., 16) in double, rounded."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    t = [(1 / 255) * 65.481, (1 / 255) * 128.553, (1 / 255) * 24.966]
    return matlab_round(((t[0] * r + t[1] * g) + t[2] * b) + 16)


def gray_matlab(rgb: np.ndarray) -> np.ndarray:
    """MATLAB rgb2gray(uint8): first row of inv(NTSC matrix) as weights, rounded."""
    ntsc = np.array([[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.106, 1.703]])
    w = np.linalg.inv(ntsc)[0]
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    return matlab_round(w[0] * r + w[1] * g + w[2] * b)


def psnr_ref(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """20 log10(peak / RMSE) in float64."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 20.0 * math.log10(peak / math.sqrt(mse))


def gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """MATLAB fspecial('gaussian', size, sigma): normalised 2-D Gaussian."""
    r = (size - 1) / 2
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    w = np.exp(-(xx**2 + yy**2) / (2 * sigma**2))
    return w / w.sum()


def ssim_map_2d(a: np.ndarray, b: np.ndarray, window: np.ndarray, border: int, peak: float = 255.0):
    """Wang et al. SSIM map with a 2-D window via cv2.filter2D (correlation), five filterings."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2

    def f(x: np.ndarray) -> np.ndarray:
        return cv2.filter2D(x, -1, window, borderType=border)

    mu1, mu2 = f(a), f(b)
    s11 = f(a * a) - mu1 * mu1
    s22 = f(b * b) - mu2 * mu2
    s12 = f(a * b) - mu1 * mu2
    return ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1) * (s11 + s22 + c2))


def ssim_valid(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """ssim_index.m: 11x11 Gaussian, 'valid' map (cropped 5 px), mean."""
    m = ssim_map_2d(a, b, gaussian_window(), cv2.BORDER_REFLECT_101, peak)
    return float(m[5:-5, 5:-5].mean())


def ssim_replicate_full(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """DiffUIR online / MATLAB ssim: replicate border, full map, mean."""
    return float(ssim_map_2d(a, b, gaussian_window(), cv2.BORDER_REPLICATE, peak).mean())


def ssim_3d(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """3-D SSIM: an 11x11x11 Gaussian over (H, W, C), replicate padding on all axes."""
    from scipy.ndimage import correlate

    g = cv2.getGaussianKernel(11, 1.5).ravel()
    k3 = g[:, None, None] * g[None, :, None] * g[None, None, :]
    a, b = a.astype(np.float64), b.astype(np.float64)

    def f(x: np.ndarray) -> np.ndarray:
        return correlate(x, k3, mode="nearest")

    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    mu1, mu2 = f(a), f(b)
    s11, s22, s12 = f(a * a) - mu1**2, f(b * b) - mu2**2, f(a * b) - mu1 * mu2
    m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1) * (s11 + s22 + c2))
    return float(m.mean())


def keys_cubic(x: float) -> float:
    """Keys (1981) cubic convolution kernel, a = -0.5."""
    x = abs(x)
    if x <= 1:
        return 1.5 * x**3 - 2.5 * x**2 + 1
    if x <= 2:
        return -0.5 * x**3 + 2.5 * x**2 - 4 * x + 2
    return 0.0


def resize_1d_loop(v: np.ndarray, out_len: int) -> np.ndarray:
    """MATLAB imresize along one axis, one output sample at a time (antialiased bicubic)."""
    n = len(v)
    s = out_len / n
    out = np.zeros(out_len)
    for j in range(1, out_len + 1):
        centre = j / s + 0.5 * (1 - 1 / s)  # 1-based input coordinate
        support = 2 / s if s < 1 else 2
        acc = total = 0.0
        for i in range(math.floor(centre - support) - 1, math.ceil(centre + support) + 2):
            w = s * keys_cubic(s * (centre - i)) if s < 1 else keys_cubic(centre - i)
            if w == 0:
                continue
            k = i
            while k < 1 or k > n:  # symmetric extension: 0 -> 1, -1 -> 2, n+1 -> n
                k = 1 - k if k < 1 else 2 * n + 1 - k
            acc += w * v[k - 1]
            total += w
        out[j - 1] = acc / total
    return out


def imresize_loop(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """2-D MATLAB imresize (rows first on equal scales, else the smaller scale first)."""
    x = img.astype(np.float64)
    sh, sw = out_h / img.shape[0], out_w / img.shape[1]

    def rows(z: np.ndarray) -> np.ndarray:
        return np.apply_along_axis(resize_1d_loop, 0, z, out_h)

    def cols(z: np.ndarray) -> np.ndarray:
        return np.apply_along_axis(resize_1d_loop, 1, z, out_w)

    x = cols(rows(x)) if sh <= sw else rows(cols(x))
    if img.dtype == np.uint8:
        return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)
    return x


def loe_ref(low: np.ndarray, high: np.ndarray) -> float:
    """Lightness order error (Wang et al. 2013) by brute force: max-RGB lightness, both maps
    resized so the short side is 50, then order disagreements counted pixel by pixel."""
    m, n = low.shape[:2]
    r = 50 / min(m, n)
    md, nd = int(matlab_round(np.array(m * r))), int(matlab_round(np.array(n * r)))
    ld = imresize_loop(low.max(axis=2), md, nd).astype(np.int64)
    le = imresize_loop(high.max(axis=2), md, nd).astype(np.int64)
    total = 0
    for y in range(md):
        for x in range(nd):
            total += np.sum((ld[y, x] >= ld) != (le[y, x] >= le))
    return total / (md * nd)


def structured_images(h: int = 48, w: int = 40, seed: int = 0) -> list[np.ndarray]:
    """uint8 RGB test images: noise, gradients, a checkerboard, an edge, a constant and a ramp."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    checker = (((yy // 4) + (xx // 4)) % 2 * 255).astype(np.uint8)
    edge = np.where(xx < w // 3, 10, 240).astype(np.uint8)
    return [
        rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        np.stack(
            [xx * 255 // (w - 1), yy * 255 // (h - 1), (xx + yy) * 255 // (h + w - 2)], 2
        ).astype(np.uint8),
        np.stack([checker, 255 - checker, checker // 2], 2),
        np.stack([edge, edge.T[:h, :w] if h == w else edge, edge], 2),
        np.full((h, w, 3), 77, np.uint8),
        np.stack([(xx * 6) % 256] * 3, 2).astype(np.uint8),
    ]


def degrade(img: np.ndarray, seed: int, sigma: float = 12.0) -> np.ndarray:
    """A noisy uint8 copy of ``img``."""
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).round().astype(np.uint8)
