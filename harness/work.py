"""One unit of a run's work, the same under every executor: restore a batch of loaded pairs, score
it under the benchmark's protocol and turn it into per-image result rows.

The local executor (``harness.runner``) calls it in the run's process; the Ray executor
(``harness.ray_executor``) calls it in worker actors and ships the rows back to the driver, which
alone writes the store. Both therefore store the same rows for the same images.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.loading import LoadedPair
from harness.precision import float32_math
from harness.store import ImageResult

if TYPE_CHECKING:
    import torch

    from harness.restorer import Restorer
    from harness.runner import Scorer, ScoringProtocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchmarkContext:
    """What restoring and scoring a benchmark's images needs to know of it (small, picklable)."""

    name: str
    task: str
    preprocess: frozenset[str]


@dataclass
class RestoredBatch:
    """A batch after the model: what scoring it needs, or the rows of what already failed."""

    bench: BenchmarkContext
    good: list[LoadedPair]
    """The pairs that loaded; their rows come from scoring (or failed, when restoring crashed)."""
    rows: list[ImageResult]
    """Rows already decided: failed loads, and every good pair when restoring crashed."""
    images: torch.Tensor | None = None
    targets: torch.Tensor | None = None
    restored: torch.Tensor | None = None
    seconds: float = 0.0


def restore_batch(
    restorer: Restorer,
    protocol: ScoringProtocol,
    bench: BenchmarkContext,
    items: Sequence[LoadedPair],
    *,
    seed: int,
    device: str,
) -> RestoredBatch:
    """Run the model on the pairs that loaded (after the protocol's input crop); never raises:
    a method crash fails the batch's images with the reason."""
    import torch

    from harness.images import to_tensor

    rows = [_failed(bench.name, it, it.error) for it in items if it.error is not None]
    for row in rows:
        log.debug("%s/%s failed: %s", bench.name, row.image_id, row.reason)
    good = [it for it in items if it.error is None]
    batch = RestoredBatch(bench, good, rows)
    if not good:
        return batch
    images = torch.stack([to_tensor(it.input) for it in good])
    targets = (
        torch.stack([to_tensor(it.target) for it in good])
        if all(it.target is not None for it in good)
        else None
    )
    try:
        if protocol.input_crop:  # the protocol's pre-restoration crop, same box for both
            from harness.padding import centre_crop

            images = centre_crop(images, protocol.input_crop).contiguous()
            if targets is not None:
                targets = centre_crop(targets, protocol.input_crop).contiguous()
        ids = tuple(it.image_id for it in good)
        batch.restored, batch.seconds = _restore(
            restorer, bench, images, ids, seed=seed, device=device
        )
    except Exception as exc:  # a method crash fails its batch; the run goes on
        _fail_good(batch, exc)
        return batch
    batch.images, batch.targets = images, targets
    return batch


def score_restored(
    metrics: Scorer, protocol: ScoringProtocol, batch: RestoredBatch, out_dir: Path | None
) -> list[ImageResult]:
    """The result rows of a restored batch (failed ones first); a metric crash fails the batch's
    images with the reason. Saves the restored images under ``out_dir`` when given."""
    from harness.images import to_uint8, write_image

    if batch.restored is None:
        return batch.rows
    try:
        scores = metrics.score(protocol, batch.restored, batch.targets, batch.images)
    except Exception as exc:  # a metric crash fails its batch; the run goes on
        _fail_good(batch, exc)
        return batch.rows
    rows = list(batch.rows)
    for it, out, values in zip(batch.good, batch.restored, scores, strict=True):
        out_path = None
        if out_dir is not None:
            out_path = out_dir / f"{_safe_name(it.image_id)}.png"
            write_image(out_path, to_uint8(out))
        h, w = it.input.shape[:2]  # type: ignore[union-attr]
        rows.append(
            ImageResult(
                benchmark=batch.bench.name,
                image_id=it.image_id,
                status="ok",
                metrics={k: float(v) for k, v in values.items()},
                input_sha256=it.input_sha256,
                target_sha256=it.target_sha256,
                verified=it.verified,
                latency_ms=batch.seconds * 1000.0 / len(batch.good),
                height=h,
                width=w,
                input_path=it.input_path,
                target_path=it.target_path,
                output_path=None if out_path is None else str(out_path),
            )
        )
    return rows


def restore_and_score(
    restorer: Restorer,
    metrics: Scorer,
    protocol: ScoringProtocol,
    bench: BenchmarkContext,
    items: Sequence[LoadedPair],
    *,
    seed: int,
    device: str,
    out_dir: Path | None,
) -> tuple[list[ImageResult], float]:
    """The result rows of one batch (failed loads first) and the model's wall time in seconds:
    :func:`restore_batch` then :func:`score_restored`, one after the other."""
    batch = restore_batch(restorer, protocol, bench, items, seed=seed, device=device)
    return score_restored(metrics, protocol, batch, out_dir), batch.seconds


def _fail_good(batch: RestoredBatch, exc: Exception) -> None:
    reason = reason_of(exc)
    log.debug("%s: batch failed: %s", batch.bench.name, reason, exc_info=True)
    batch.rows = batch.rows + [_failed(batch.bench.name, it, reason) for it in batch.good]
    batch.restored, batch.seconds = None, 0.0


def _restore(
    restorer: Restorer,
    bench: BenchmarkContext,
    images: torch.Tensor,
    ids: tuple[str, ...],
    *,
    seed: int,
    device: str,
) -> tuple[torch.Tensor, float]:
    """The restored batch on the CPU and the model's wall time (synchronised on CUDA)."""
    import torch

    from harness.restorer import ImageBatch

    batch = ImageBatch(
        images=images.to(device),
        ids=ids,
        benchmark=bench.name,
        task=None if restorer.blind else bench.task,
        preprocess=frozenset(bench.preprocess),
        seed=seed,
    )
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    with torch.inference_mode(), float32_math():  # IEEE float32 unless a method opts in
        out = restorer.restore(batch)
    if cuda:
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(images.shape):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise HarnessError(f"restorer returned {got}, expected {tuple(images.shape)}")
    return out.detach().to("cpu", torch.float32), seconds


FlopsMemo = dict[tuple[int, int, str | None], dict[str, Any]]
"""FLOP counts of one restorer already made in a run, by (height, width, task or None if blind)."""


def complexity_of(
    restorer: Restorer,
    sizes: Sequence[tuple[int, int] | None],
    task: str,
    device: str,
    *,
    flops: bool,
    memo: FlopsMemo | None = None,
) -> dict[str, Any]:
    """Params, network calls per image (methods with a network), and FLOPs per image at the most
    common of ``sizes``, restored as ``task`` when the method takes the label (best effort: a
    method that cannot be counted gets ``flops_error``). A count already in ``memo`` (the same
    restorer at the same size and task) is reused: counting restores a whole image."""
    from harness import complexity as cx

    info: dict[str, Any] = {"params": cx.count_parameters(restorer.module())}
    if restorer.module() is not None:  # a sampler's step count; no network, no calls to count
        info["calls_per_image"] = restorer.calls_per_image()
    known = [s for s in sizes if s is not None]
    if not known or not flops:
        return info
    (h, w), _ = Counter(known).most_common(1)[0]
    key = (h, w, None if restorer.blind else task)
    counted = memo.get(key) if memo is not None else None
    if counted is None:
        counted = _count_flops(restorer, h, w, device, task)
        if memo is not None:
            memo[key] = counted
    return {**info, **counted}


def _count_flops(restorer: Restorer, h: int, w: int, device: str, task: str) -> dict[str, Any]:
    """``flops_per_image`` and ``flops_size`` of one HxW image, or ``flops_error``."""
    import torch

    from harness import complexity as cx

    try:
        with torch.inference_mode():
            count = cx.flops_per_image(restorer, h, w, device, task)
    except Exception as exc:  # complexity is a courtesy
        error = reason_of(exc)
        log.warning("FLOPs of %s not counted: %s", restorer.name, error)
        return {"flops_error": error}
    return {"flops_per_image": count.per_image, "flops_size": [h, w]}


def cropped_size(size: tuple[int, int], multiple: int) -> tuple[int, int]:
    """The (H, W) the centre crop to ``multiple`` leaves (an image too small is left as it is:
    it fails when cropped)."""
    from harness.padding import centre_crop_box

    if min(size) < multiple:
        return size
    rows, cols = centre_crop_box(*size, multiple)
    return rows.stop - rows.start, cols.stop - cols.start


def _failed(benchmark: str, item: LoadedPair, reason: str | None) -> ImageResult:
    return failed_row(
        benchmark,
        item.image_id,
        reason or "",
        input_sha256=item.input_sha256,
        target_sha256=item.target_sha256,
        verified=item.verified,
        input_path=item.input_path,
        target_path=item.target_path,
    )


def failed_row(benchmark: str, image_id: str, reason: str, **known: Any) -> ImageResult:
    """The row of an image that could not be scored, with why (and what is known of its files)."""
    return ImageResult(
        benchmark=benchmark, image_id=image_id, status="failed", reason=reason, **known
    )


def reason_of(exc: BaseException) -> str:
    """One line saying why: a harness error's own message, else the exception's type and text."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text if isinstance(exc, HarnessError) else f"{type(exc).__name__}: {text}"


def _safe_name(image_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in image_id)
