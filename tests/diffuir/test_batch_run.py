"""``harness run --batch-size 4`` stores, for DiffUIR-T, exactly the metrics of batch size 1.

Exact (bit-identical) because on CPU the fast path restores images of 128x128 pixels or more one
at a time inside a batch (``baselines.diffuir.network.SPLIT_PIXELS``); the mini images are 256x256.
Smaller images are restored as one batch, where oneDNN may pick another convolution algorithm for
the batch (differences of about 1e-6, covered by the batch-invariance test in test_restorer.py).
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from harness.cli import app
from harness.store import Store


def _run(store: Path, batch_size: int) -> dict[str, tuple[str, dict]]:
    result = CliRunner().invoke(
        app,
        [
            *("-q", "--device", "cpu", "run", "-m", "diffuir", "--variant", "t"),
            *("-s", "mini-derain", "--limit", "4", "--steps", "1", "--batch-size", str(batch_size)),
            *("--no-report", "--no-flops", "--workers", "0", "--store", str(store)),
        ],
    )
    assert result.exit_code == 0, result.output
    with Store(store) as s:
        (run,) = s.runs()
        assert run["batch_size"] == batch_size
        return {r["image_id"]: (r["status"], r["metrics"]) for r in s.results([run["run_id"]])}


def test_batch_of_four_stores_the_metrics_of_batch_size_one(tmp_path: Path) -> None:
    single = _run(tmp_path / "one.sqlite", 1)
    batched = _run(tmp_path / "four.sqlite", 4)
    assert len(single) == 4 and all(status == "ok" for status, _ in single.values())
    assert len({m["psnr"] for _, m in single.values()}) == 4  # four different images
    assert batched == single
