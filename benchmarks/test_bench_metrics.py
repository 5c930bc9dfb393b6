"""Speed of PSNR+SSIM under ``diffuir-online`` on 512x512 RGB pairs: ours vs references.

References, written here (not imported from their projects): a BasicSR-style numpy/cv2
implementation (float32 Y, 2-D ``cv2.filter2D`` 11x11 Gaussian with replicate border, five
filterings) and scikit-image's ``peak_signal_noise_ratio`` + ``structural_similarity``. The
scikit-image SSIM cannot pad by replication, so it is timed on the 'valid' map and checked
against our ``basicsr-y`` value. pyiqa is timed when installed. Run: ``nox -s bench``.
"""

from __future__ import annotations

import math
import statistics
import time

import cv2
import numpy as np
import pytest

from harness.metrics.compute import score_batch, score_image
from harness.metrics.protocols import get_protocol

SIZE = 512
ROUNDS = 200
_TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    base = np.stack([xx * 0.4, yy * 0.3, (xx + yy) * 0.2], axis=2) + rng.normal(
        0, 20, (SIZE, SIZE, 3)
    )
    target = np.clip(base, 0, 255).astype(np.uint8)
    noisy = np.clip(target + rng.normal(0, 8, target.shape), 0, 255).astype(np.uint8)
    return noisy, target


def _y_float32(rgb: np.ndarray) -> np.ndarray:
    img = rgb.astype(np.float32) / 255.0
    return (img @ np.array([65.481, 128.553, 24.966], np.float32) + 16.0).astype(np.float64)


def basicsr_style(restored: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Reference: BasicSR-like PSNR-Y and a replicate-padded full-map SSIM with 2-D filter2D."""
    a, b = _y_float32(restored), _y_float32(target)
    mse = np.mean((a - b) ** 2)
    psnr = math.inf if mse == 0 else 20.0 * math.log10(255.0 / math.sqrt(mse))
    k = cv2.getGaussianKernel(11, 1.5)
    win = k @ k.T
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def f(x: np.ndarray) -> np.ndarray:
        return cv2.filter2D(x, -1, win, borderType=cv2.BORDER_REPLICATE)

    mu1, mu2 = f(a), f(b)
    s1, s2, s12 = f(a * a) - mu1**2, f(b * b) - mu2**2, f(a * b) - mu1 * mu2
    smap = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1) * (s1 + s2 + c2))
    return {"psnr": psnr, "ssim": float(smap.mean())}


def skimage_style(restored: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Reference: scikit-image on float64 Y, Gaussian weights, valid map (basicsr-y convention)."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    a, b = _y_float32(restored), _y_float32(target)
    return {
        "psnr": peak_signal_noise_ratio(b, a, data_range=255),
        "ssim": structural_similarity(
            a, b, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        ),
    }


def _timed(benchmark, key: str, fn, *args):
    result = benchmark(fn, *args)
    _TIMES[key] = benchmark.stats.stats.min
    return result


def test_bench_ours(benchmark, pair) -> None:
    proto = get_protocol("diffuir-online")
    ours = _timed(benchmark, "ours", score_image, proto, *pair)
    ref = basicsr_style(*pair)
    assert abs(ours["psnr"] - ref["psnr"]) < 1e-4  # reference Y is float32
    assert abs(ours["ssim"] - ref["ssim"]) < 1e-6


def test_bench_basicsr_style(benchmark, pair) -> None:
    _timed(benchmark, "basicsr-style", basicsr_style, *pair)


def test_bench_skimage(benchmark, pair) -> None:
    ref = _timed(benchmark, "skimage", skimage_style, *pair)
    ours = score_image(get_protocol("basicsr-y"), *pair)
    assert abs(ours["ssim"] - ref["ssim"]) < 1e-6


def test_bench_pyiqa(benchmark, pair) -> None:
    torch = pytest.importorskip("torch")
    pyiqa = pytest.importorskip("pyiqa")
    psnr, ssim = pyiqa.create_metric("psnr"), pyiqa.create_metric("ssim")
    x, y = (torch.from_numpy(p).permute(2, 0, 1)[None].float() / 255 for p in pair)
    _timed(benchmark, "pyiqa", lambda: (psnr(x, y), ssim(x, y)))


def test_bench_batched_gpu(benchmark, pair) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    x, y = (torch.from_numpy(p).permute(2, 0, 1)[None].float().div(255).cuda() for p in pair)
    xb, yb = x.repeat(16, 1, 1, 1), y.repeat(16, 1, 1, 1)
    proto = get_protocol("diffuir-online")

    def run():
        out = score_batch(proto, xb, yb)
        torch.cuda.synchronize()
        return out

    _timed(benchmark, "ours-gpu-batch16", run)
    _TIMES["ours-gpu-per-image"] = _TIMES.pop("ours-gpu-batch16") / 16


def test_bench_interleaved_ratio(pair) -> None:
    """Ours against the BasicSR-style reference call by call, alternating (a machine shared with
    other jobs slows both alike): min and median of single calls, and their ratios."""
    proto = get_protocol("diffuir-online")
    calls = {
        "ours": lambda: score_image(proto, *pair),
        "basicsr-style": lambda: basicsr_style(*pair),
    }
    times: dict[str, list[float]] = {key: [] for key in calls}
    for _ in range(ROUNDS):
        for key, call in calls.items():
            start = time.perf_counter()
            call()
            times[key].append(time.perf_counter() - start)
    ours, ref = times["ours"], times["basicsr-style"]
    print(
        f"\nPSNR+SSIM diffuir-online, {SIZE}x{SIZE} RGB, {ROUNDS} alternating single calls: ours "
        f"min {min(ours) * 1e3:.2f} / median {statistics.median(ours) * 1e3:.2f} ms, "
        f"basicsr-style min {min(ref) * 1e3:.2f} / median {statistics.median(ref) * 1e3:.2f} ms; "
        f"ratio of mins {min(ref) / min(ours):.1f}x, of medians "
        f"{statistics.median(ref) / statistics.median(ours):.1f}x (target 8x)"
    )


def test_bench_report() -> None:
    """Print the speed ratios (run last; needs the timing tests above in the same session)."""
    if "ours" not in _TIMES:
        pytest.skip("benchmarks disabled")
    refs = {k: v for k, v in _TIMES.items() if not k.startswith("ours")}
    print("\nPSNR+SSIM diffuir-online, 512x512 RGB, min time per image:")
    for key, value in sorted(_TIMES.items(), key=lambda kv: kv[1]):
        print(f"  {key:<20} {value * 1e3:8.2f} ms")
    best = min(refs, key=refs.get)
    print(f"  speed-up vs fastest reference ({best}): {refs[best] / _TIMES['ours']:.1f}x")
    if "ours-gpu-per-image" in _TIMES:
        print(f"  GPU batched speed-up: {refs[best] / _TIMES['ours-gpu-per-image']:.1f}x")
