"""DiffUIR speed: the plain spec reference (tests/diffuir/reference.py) vs the fast path.

DiffUIR-T, one 256x256 image, 3 sampler steps, CPU, same weights and noise. Target: the fast path
at least 1.3x faster. Run with ``nox -s bench``; the ratio is printed (pytest -s shows it).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from baselines.diffuir.network import build_unet
from baselines.diffuir.sampler import sample
from baselines.diffuir.schedule import Schedule
from tests.diffuir.reference import random_unet_weights, ref_sample

KEYS = (
    Path(__file__).resolve().parents[1]
    / "tests"
    / "diffuir"
    / "data"
    / "diffuir_state_dict_keys.txt"
)
SIZE = 256


@pytest.fixture(scope="module")
def setup():
    weights = random_unet_weights("t", KEYS, seed=1)
    unet = build_unet("t")
    unet.load_state_dict(weights)
    unet.eval()
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, SIZE, SIZE, generator=gen)
    noise = torch.randn(1, 3, SIZE, SIZE, generator=gen)
    return weights, unet, Schedule(), image, noise


def _fast(unet, schedule, image, noise):
    with torch.inference_mode():
        return sample(unet, schedule, image, noise, steps=3)


def _plain(weights, image, noise):
    with torch.no_grad():
        return ref_sample(weights, "t", image, noise, steps=3)


def test_bench_diffuir_fast_path(benchmark, setup) -> None:
    weights, unet, schedule, image, noise = setup
    out = benchmark(_fast, unet, schedule, image, noise)
    assert (out - _plain(weights, image, noise)).abs().max().item() < 1e-5


def test_bench_diffuir_plain_reference(benchmark, setup) -> None:
    weights, _, _, image, noise = setup
    benchmark(_plain, weights, image, noise)


def _best_of(fn, repeats: int = 3) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def test_bench_diffuir_ratio(setup) -> None:
    weights, unet, schedule, image, noise = setup
    plain = _best_of(lambda: _plain(weights, image, noise))
    fast = _best_of(lambda: _fast(unet, schedule, image, noise))
    print(
        f"\nDiffUIR-T 256x256, 3 steps, CPU ({torch.get_num_threads()} threads): "
        f"plain {plain:.3f} s, fast {fast:.3f} s, speed-up {plain / fast:.2f}x (target >= 1.3x)"
    )
