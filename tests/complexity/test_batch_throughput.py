"""``harness complexity --batch-size N``: timed calls restore N images; images/s = N / latency."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from harness import registry
from harness.cli import app
from harness.complexity import measure
from harness.errors import HarnessError
from harness.restorer import ImageBatch
from tests.complexity.test_complexity import TinySampler, tiny_macs


class Recording(TinySampler):
    """TinySampler that records the batches it was asked to restore."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[tuple[int, tuple[str, ...]]] = []

    def restore(self, batch: ImageBatch) -> torch.Tensor:
        self.seen.append((batch.images.shape[0], batch.ids))
        return super().restore(batch)


def test_timed_calls_restore_the_batch_and_flops_stay_per_image() -> None:
    method = Recording(steps=2)
    row = measure(method, [(12, 10)], warmup=1, repeats=3, batch_size=4).sizes[0]
    sizes = [n for n, _ in method.seen]
    # memory: one batch of 4; FLOP count: one image; warm-up and timed runs: batches of 4
    assert sizes == [4, 1, 4, 4, 4, 4]
    ids = method.seen[-1][1]
    assert len(set(ids)) == 4  # each image its own id (per-image seeded noise stays per image)
    assert row.batch_size == 4 and len(row.latency_runs_ms) == 3
    assert row.macs_per_image == 2 * tiny_macs(12, 10)
    assert row.images_per_second == pytest.approx(4 * 1000.0 / row.latency_ms_median)


def test_batch_size_one_is_the_default() -> None:
    method = Recording(steps=1)
    row = measure(method, [(8, 8)], warmup=0, repeats=2, memory=False).sizes[0]
    assert [n for n, _ in method.seen] == [1, 1, 1]
    assert row.batch_size == 1
    assert row.images_per_second == pytest.approx(1000.0 / row.latency_ms_median)


def test_batch_size_below_one_is_refused() -> None:
    with pytest.raises(HarnessError, match="batch size"):
        measure(Recording(), [(8, 8)], repeats=0, batch_size=0)


def test_cli_reports_images_per_second(monkeypatch: pytest.MonkeyPatch) -> None:
    real = registry.method_class
    monkeypatch.setattr(
        registry, "method_class", lambda name: Recording if name == "tiny" else real(name)
    )
    runner = CliRunner()
    args = ["--device", "cpu", "complexity", "tiny", "--size", "8x8", "--repeats", "2"]
    result = runner.invoke(app, [*args, "--batch-size", "3", "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)["sizes"][0]
    assert row["batch_size"] == 3
    assert row["images_per_second"] == pytest.approx(3000.0 / row["latency_ms_median"])
    text = runner.invoke(app, [*args, "-b", "3"])
    assert text.exit_code == 0, text.output
    assert "images/s" in text.output and "batch of 3 image(s) per call" in text.output
