"""Speed of the classical baselines on one 256x256 CPU image (target: < ~0.5 s each)."""

from __future__ import annotations

import pytest
import torch

from harness.registry import create_method
from harness.restorer import ImageBatch


@pytest.mark.parametrize("name", ["identity", "dcp", "lime", "richardson-lucy", "median"])
def test_bench_classical_256(benchmark, name: str) -> None:
    method = create_method(name, device="cpu")
    images = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    batch = ImageBatch(images=images, ids=("bench-0",))
    out = benchmark(method.restore, batch)
    assert out.shape == images.shape
