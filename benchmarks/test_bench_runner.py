"""Harness overhead per image (decode, hashing, scoring, store) next to model time, on fixtures.

Run with ``nox -s bench``; prints ms/image of the whole loop and of restore() alone.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
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


def _mini_images() -> list[tuple[str, str, torch.Tensor]]:
    """(benchmark, image id, input tensor) of every mini image, decoded once."""
    from harness.data.benchmark import open_benchmark
    from harness.data.catalog import resolve_suite
    from harness.images import read_image, to_tensor

    out = []
    for name in resolve_suite("mini"):
        bench = open_benchmark(name, Path("."), allow_unverified=False)
        for pair in bench.pairs:
            out.append((name, str(pair.id), to_tensor(read_image(pair.input, convert=True))[None]))
    return out


def test_bench_diffuir_mini_overhead(benchmark, tmp_path, monkeypatch):
    """DiffUIR-T on the whole mini suite: the run's wall time against the model alone.

    Model alone: the same restorer restoring the same (pre-decoded) images one by one. The run:
    decoding, hashing, scoring, saving rows around the same restores, with the scoring thread
    (``SCORE_AHEAD``) and, for comparison in the same session, without it (``SCORE_AHEAD = 0``:
    every batch scored before the next is restored). Overhead = run / model alone - 1.
    """
    import harness.runner as runner
    from harness.registry import create_method
    from harness.restorer import ImageBatch

    restorer = create_method("diffuir", device="cpu")
    images = _mini_images()

    def model_alone() -> float:
        t0 = time.perf_counter()
        with torch.inference_mode():
            for bench, image_id, x in images:
                restorer.restore(ImageBatch(x, (image_id,), bench, None, frozenset(), 0))
        return time.perf_counter() - t0

    def whole_run(ahead: int, name: str) -> float:
        monkeypatch.setattr(runner, "SCORE_AHEAD", ahead)
        config = RunConfig(
            method="diffuir",
            suite="mini",
            device="cpu",
            flops=False,
            data_root=tmp_path,
            store_path=tmp_path / f"{name}.sqlite",
        )
        return sum(o.seconds for o in run(config).benchmarks)

    walls: dict[str, float] = {}

    def all_three() -> None:
        walls["model"] = model_alone()
        walls["pipelined"] = whole_run(runner.SCORE_AHEAD, "pipelined")
        walls["sequential"] = whole_run(0, "sequential")

    benchmark.pedantic(all_three, rounds=1, iterations=1)
    model = walls["model"]
    print(
        f"\nDiffUIR-T, {len(images)} mini images: model alone {model:.1f} s; run with the scoring "
        f"thread {walls['pipelined']:.1f} s (overhead {(walls['pipelined'] / model - 1) * 100:+.1f}"
        f"%), scored in turn {walls['sequential']:.1f} s "
        f"({(walls['sequential'] / model - 1) * 100:+.1f}%)"
    )
