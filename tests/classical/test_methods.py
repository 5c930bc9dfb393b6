"""Each classical baseline does what it claims on a synthetic case with an independent expectation."""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import gaussian_filter, median_filter

from baselines.classical.dark_channel import DarkChannelPrior
from baselines.classical.deconvolution import RichardsonLucy, gaussian_kernel
from baselines.classical.lime import LIME
from baselines.classical.median import MedianFilter
from harness.restorer import ImageBatch


def _batch(images: np.ndarray) -> ImageBatch:
    """[H, W, 3] or [B, H, W, 3] float array -> ImageBatch."""
    t = torch.from_numpy(np.asarray(images, dtype=np.float32))
    if t.ndim == 3:
        t = t[None]
    t = t.permute(0, 3, 1, 2).contiguous()
    return ImageBatch(images=t, ids=tuple(f"img{i}" for i in range(t.shape[0])))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - b) ** 2)))


def _out(t: torch.Tensor) -> np.ndarray:
    return t[0].permute(1, 2, 0).numpy().astype(np.float64)


def _colourful_scene(h: int, w: int, seed: int) -> np.ndarray:
    """Blocks of saturated colours: each pixel has one channel near 0 (dark channel prior holds)."""
    rng = np.random.default_rng(seed)
    scene = np.zeros((h, w, 3))
    block = 16
    for i in range(0, h, block):
        for j in range(0, w, block):
            colour = rng.uniform(0.2, 0.9, 3)
            colour[rng.integers(3)] = rng.uniform(0.0, 0.03)
            scene[i : i + block, j : j + block] = colour
    return scene


def _hazy_scene() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Koschmieder haze I = J t + A (1 - t) over a scene with a sky band (t ~ 0) on top."""
    h, w = 96, 128
    clear = _colourful_scene(h, w, 0)
    depth = np.tile(np.linspace(0.2, 1.5, w), (h, 1))
    depth[:16] = 8.0  # sky: practically infinite depth, as in outdoor photos
    t = np.exp(-1.0 * depth)[..., None]
    airlight = np.array([0.85, 0.88, 0.9])
    return clear * t + airlight * (1 - t), clear, t[..., 0], airlight


def test_dcp_removes_synthetic_haze_better_than_identity() -> None:
    hazy, clear, _, _ = _hazy_scene()
    out = _out(DarkChannelPrior().restore(_batch(hazy)))
    ground = slice(16, None)  # the sky's radiance is unrecoverable (t ~ 0): score the scene
    assert _psnr(out[ground], clear[ground]) > _psnr(hazy[ground], clear[ground]) + 6.0


def test_dcp_estimates_the_airlight_and_transmission() -> None:
    from baselines.classical.dark_channel import dark_channel, estimate_airlight

    hazy, _, t_true, airlight = _hazy_scene()
    x = torch.from_numpy(hazy).permute(2, 0, 1)[None]
    est = estimate_airlight(x, dark_channel(x, 15), 0.001)[0].numpy()
    np.testing.assert_allclose(est, airlight, atol=0.01)
    # a guided-filter radius suited to this small image (the default 60 targets ~600x400)
    method = DarkChannelPrior(gf_radius=12)
    t_est = method.transmission(x, torch.from_numpy(airlight)[None])[0, 0].numpy()
    # omega = 0.95 keeps 5 % of the haze: t_est ~ 1 - 0.95 (1 - t), up to the prior's bias
    expected = 1 - 0.95 * (1 - t_true)
    assert np.abs(t_est - expected)[24:-8, 8:-8].mean() < 0.05


def test_lime_on_a_constant_image_is_gamma_corrected_division() -> None:
    # constant image: refined T = max RGB exactly, so the output is I / max^gamma (paper eq. 3)
    colour = np.array([0.10, 0.05, 0.02])
    image = np.broadcast_to(colour, (24, 24, 3))
    out = _out(LIME().restore(_batch(image)))
    np.testing.assert_allclose(out, np.broadcast_to(colour / 0.10**0.8, out.shape), atol=1e-5)


def test_lime_brightens_dark_images_and_preserves_order() -> None:
    ramp = np.tile(np.linspace(0.01, 0.2, 64), (32, 1))
    image = np.stack([ramp, 0.8 * ramp, 0.6 * ramp], axis=-1)
    out = _out(LIME().restore(_batch(image)))
    assert out.mean() > 2 * image.mean()
    row = out[16, :, 0]
    assert np.all(np.diff(row) >= -1e-6), "a brighter input pixel must not come out darker"


def test_richardson_lucy_with_true_kernel_reduces_error() -> None:
    rng = np.random.default_rng(4)
    sharp = np.kron(rng.uniform(0.1, 0.9, (8, 8, 3)), np.ones((8, 8, 1)))  # 64x64 blocks
    sigma = 1.5
    blurred = np.stack(
        [gaussian_filter(sharp[..., c], sigma, mode="nearest", truncate=3.0) for c in range(3)], -1
    )
    kernel = gaussian_kernel(sigma).numpy()
    out = _out(RichardsonLucy(kernel=kernel, iterations=30).restore(_batch(blurred)))
    assert _psnr(out, sharp) > _psnr(blurred, sharp) + 1.5


def test_richardson_lucy_default_kernel_is_stated_gaussian() -> None:
    method = RichardsonLucy()
    k = method.kernel.numpy()
    assert k.shape == (11, 11) and abs(k.sum() - 1) < 1e-12
    x = np.arange(-5, 6)
    g = np.exp(-(x**2) / (2 * 1.5**2))
    np.testing.assert_allclose(k, np.outer(g, g) / np.outer(g, g).sum(), atol=1e-15)


def test_median_removes_sparse_bright_streaks() -> None:
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:64, 0:64] / 63.0
    clean = np.stack([0.3 + 0.3 * xx, 0.2 + 0.4 * yy, 0.5 * np.ones_like(xx)], axis=-1)
    rainy = clean.copy()
    for col in rng.choice(64, 8, replace=False):
        top = rng.integers(0, 40)
        rainy[top : top + 20, col] = 1.0  # 1-px wide bright streaks
    out = _out(MedianFilter().restore(_batch(rainy)))
    assert _psnr(out, clean) > _psnr(rainy, clean) + 10.0


def test_median_matches_scipy_reference() -> None:
    rng = np.random.default_rng(6)
    image = rng.random((1, 19, 22, 3))
    out = MedianFilter().restore(_batch(image))[0].numpy()
    for c in range(3):
        expected = median_filter(image[0, ..., c].astype(np.float32), size=5, mode="mirror")
        np.testing.assert_array_equal(out[c], expected)


def test_classical_methods_declare_tasks_and_blindness() -> None:
    assert DarkChannelPrior.tasks == ("dehaze",)
    assert LIME.tasks == ("lowlight",)
    assert RichardsonLucy.tasks == ("deblur",)
    assert set(MedianFilter.tasks) == {"derain", "desnow"}
    # none of them reads the task label
    assert all(m.blind for m in (DarkChannelPrior, LIME, RichardsonLucy, MedianFilter))
