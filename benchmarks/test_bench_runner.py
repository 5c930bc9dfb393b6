"""Harness overhead per image (decode, hashing, scoring, store) next to model time, on fixtures.

Run with ``nox -s bench``; prints ms/image of the whole loop and of restore() alone.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from harness.hashing import sha256_file
from harness.runner import RunConfig, run
from tests.runner import fakes

ROUNDS = 3


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


def _mini_images() -> list[tuple[str, str, torch.Tensor, frozenset[str]]]:
    """(benchmark, image id, input tensor, preprocessing flags) of every mini image, decoded once."""
    from harness.data.benchmark import open_benchmark
    from harness.data.catalog import resolve_suite
    from harness.images import read_image, to_tensor

    out = []
    for name in resolve_suite("mini"):
        bench = open_benchmark(name, Path("."), allow_unverified=False)
        for pair in bench.pairs:
            image = to_tensor(read_image(pair.input, convert=True))[None]
            out.append((name, str(pair.id), image, frozenset(bench.preprocess)))
    return out


def test_bench_diffuir_mini_overhead(benchmark, tmp_path, monkeypatch):
    """DiffUIR-T on the whole mini suite: the run's wall time against the model alone.

    Model alone: the same restorer restoring the same (pre-decoded) images one by one. The run:
    decoding, hashing, scoring, saving rows around the same restores, with the scoring thread
    (``SCORE_AHEAD``) and, for comparison in the same session, without it (``SCORE_AHEAD = 0``:
    every batch scored before the next is restored). Two overheads: the run's wall time over the
    model time it recorded itself (what the harness adds around the model), and over the model
    alone (which also counts any slow-down of the model inside the run). Rounds alternate the three
    so that load from other processes hits them alike; medians are printed.
    """
    import harness.runner as runner
    from harness.registry import create_method
    from harness.restorer import ImageBatch

    restorer = create_method("diffuir", device="cpu")
    images = _mini_images()

    def model_alone() -> float:
        t0 = time.perf_counter()
        with torch.inference_mode():
            for bench, image_id, x, flags in images:
                restorer.restore(ImageBatch(x, (image_id,), bench, None, flags, 0))
        return time.perf_counter() - t0

    def whole_run(ahead: int, name: str) -> tuple[float, float]:
        monkeypatch.setattr(runner, "SCORE_AHEAD", ahead)
        config = RunConfig(
            method="diffuir",
            suite="mini",
            device="cpu",
            flops=False,
            data_root=tmp_path,
            store_path=tmp_path / f"{name}-{len(walls['model'])}.sqlite",
        )
        outcomes = run(config).benchmarks
        return sum(o.seconds for o in outcomes), sum(o.model_seconds for o in outcomes)

    walls: dict[str, list] = {"model": [], "pipelined": [], "sequential": []}

    def all_three() -> None:
        walls["model"].append(model_alone())
        walls["pipelined"].append(whole_run(runner.SCORE_AHEAD, "pipelined"))
        walls["sequential"].append(whole_run(0, "sequential"))

    benchmark.pedantic(all_three, rounds=ROUNDS, iterations=1)
    model = statistics.median(walls["model"])
    lines = [
        f"\nDiffUIR-T, {len(images)} mini images, {ROUNDS} rounds, medians: model alone {model:.1f} s"
    ]
    for name, label in (("pipelined", "with the scoring thread"), ("sequential", "scored in turn")):
        wall = statistics.median(w for w, _ in walls[name])
        inside = statistics.median(m for _, m in walls[name])
        lines.append(
            f"  run {label}: {wall:.1f} s; model time inside {inside:.1f} s; harness around the "
            f"model {(wall / inside - 1) * 100:+.1f}%; against the model alone "
            f"{(wall / model - 1) * 100:+.1f}%"
        )
    print("\n".join(lines))
