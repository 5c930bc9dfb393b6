"""Harness overhead per image (decode, hashing, scoring, store) next to model time, on fixtures.

Run with ``nox -s bench``; prints ms/image of the whole loop and of restore() alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from harness.hashing import sha256_file
from harness.runner import RunConfig, run
from tests.runner import fakes


def _fixtures(root: Path, n: int = 32, size: int = 256) -> fakes.FakeBenchmark:
    rng = np.random.default_rng(0)
    pairs = []
    for i in range(n):
        gt = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
        inp = np.clip(gt.astype(int) + rng.integers(-20, 21, gt.shape), 0, 255).astype(np.uint8)
        a, b = root / f"{i:03d}_in.png", root / f"{i:03d}_gt.png"
        Image.fromarray(inp).save(a)
        Image.fromarray(gt).save(b)
        pairs.append(fakes.Pair(f"{i:03d}", a, b, sha256_file(a), sha256_file(b)))
    return fakes.FakeBenchmark("bench-256", "derain", pairs)


def test_bench_runner_overhead(benchmark, tmp_path):
    bench = _fixtures(tmp_path)
    layers = fakes.collaborators({bench.name: bench}, suites={"x": [bench.name]})
    counter = iter(range(10**6))

    def once():
        cfg = RunConfig(
            method="identity",
            suite="x",
            device="cpu",
            workers=0,
            store_path=tmp_path / f"s{next(counter)}.sqlite",
        )
        return run(cfg, collaborators=layers)

    summary = benchmark.pedantic(once, rounds=3, iterations=1)
    (outcome,) = summary.benchmarks
    n = outcome.scored
    print(
        f"\nper image: loop {outcome.seconds / n * 1000:.2f} ms, "
        f"restore {outcome.model_seconds / n * 1000:.3f} ms, "
        f"overhead {(outcome.seconds - outcome.model_seconds) / n * 1000:.2f} ms"
    )
