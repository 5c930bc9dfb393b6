"""The runner: jobs = method x benchmark; decode in DataLoader workers, batch same-size images,
restore, score, and write every image's result to the store as soon as it is scored.

Data flows one way: manifest -> pairs -> restorer -> metrics -> store. The runner only orchestrates;
it asks the data layer for pairs, the registry for the restorer and the metrics for numbers.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import __version__
from harness.errors import HarnessError
from harness.store import ImageResult, ScoredBytes, Store

if TYPE_CHECKING:
    import numpy as np
    import torch

    from harness.restorer import Restorer


# --- seams onto the other layers (looked up at call time, so tests can replace them) ----------
def _resolve_suite(name: str) -> list[str]:
    from harness.data.catalog import resolve_suite

    return resolve_suite(name)


def _open_benchmark(name: str, data_root: Path, allow_unverified: bool) -> Any:
    from harness.data.benchmark import open_benchmark

    # the loader hashes every byte it reads and compares it with the lock itself
    return open_benchmark(name, data_root, allow_unverified=allow_unverified, check_bytes=False)


def _is_missing_benchmark(exc: Exception) -> bool:
    try:
        from harness.data.benchmark import BenchmarkMissingError
    except ImportError:  # data layer absent: nothing can be "missing" in its sense
        return False
    return isinstance(exc, BenchmarkMissingError)


def _get_protocol(name: str) -> Any:
    from harness.metrics.protocols import get_protocol

    return get_protocol(name)


def _score_batch(
    protocol: Any,
    restored: torch.Tensor,
    target: torch.Tensor | None,
    degraded: torch.Tensor | None,
) -> list[dict[str, float]]:
    from harness.metrics.compute import score_batch

    return score_batch(protocol, restored, target, degraded)


def _create_method(name: str, **kwargs: Any) -> Restorer:
    from harness.registry import create_method

    return create_method(name, **kwargs)


# --- configuration ---------------------------------------------------------------------------
@dataclass
class RunConfig:
    """Everything ``harness run`` was asked for."""

    method: str
    suite: str
    variant: str | None = None
    weights: str | None = None
    protocol: str | None = None
    steps: int | None = None
    seed: int = 0
    device: str = "auto"
    batch_size: int = 1
    save_images: bool = False
    limit: int | None = None
    overwrite: bool = False
    allow_unverified: bool = False
    workers: int | None = None
    flops: bool = True
    """Count FLOPs per image (one extra restore per benchmark); params are always counted."""
    data_root: Path = field(default_factory=Path)
    store_path: Path = field(default_factory=Path)
    images_dir: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class BenchmarkOutcome:
    """What happened to one benchmark of a run."""

    name: str
    scored: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    model_seconds: float = 0.0


@dataclass
class RunSummary:
    """The result of :func:`run`: the run id, per-benchmark outcomes, and what was missing."""

    run_id: int
    resumed: bool
    store_path: Path
    benchmarks: list[BenchmarkOutcome] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    """benchmark -> the data layer's message (how to get it)."""


def config_key(fields: dict[str, Any]) -> str:
    """A stable hash of what can change a number: the same key resumes the same run."""
    keep = {
        k: fields.get(k)
        for k in (
            "method",
            "variant",
            "weights_sha256",
            "suite",
            "protocol",
            "seed",
            "steps",
            "device",
            "batch_size",
            "package_version",
            "options",
        )
    }
    blob = json.dumps(keep, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _git_commit() -> str | None:
    from harness.paths import REPO_ROOT

    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def environment_fields(device: str) -> dict[str, Any]:
    """Versions and host recorded with every run."""
    import torch

    return {
        "package_version": __version__,
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda if device.startswith("cuda") else None,
        "python_version": platform.python_version(),
        "git_commit": _git_commit(),
        "host": socket.gethostname(),
    }


# --- data loading ----------------------------------------------------------------------------
@dataclass
class _Item:
    index: int
    image_id: str
    input_path: str
    target_path: str | None
    input: np.ndarray | None = None
    target: np.ndarray | None = None
    input_sha256: str | None = None
    target_sha256: str | None = None
    verified: bool | None = None
    error: str | None = None
    decode_ms: float = 0.0


def lock_verdict(
    pinned: bool, pair: Any, input_sha256: str | None, target_sha256: str | None
) -> bool | None:
    """Whether the bytes read are the ones the lock pins (None when the benchmark has no lock)."""
    if not pinned:
        return None
    return input_sha256 == pair.input_sha256 and (
        pair.target is None or target_sha256 == pair.target_sha256
    )


def _differs_from_lock(pair: Any, input_sha256: str, target_sha256: str | None) -> str:
    files = [(pair.input, input_sha256, pair.input_sha256)]
    if pair.target is not None:
        files.append((pair.target, target_sha256, pair.target_sha256))
    parts = [
        f"{path}: bytes differ from the lock (sha256 {got[:12]}..., "
        + (f"pinned {want[:12]}...)" if want else "not listed in the lock)")
        for path, got, want in files
        if got != want
    ]
    return "; ".join(parts) + "; restore the file(s) or run with --allow-unverified"


class _PairDataset:
    """Reads, hashes and decodes one pair per index (in DataLoader workers); errors become data.

    The sha256 of each file comes from the same read that is decoded, and is compared with the
    lock: without ``allow_unverified`` a file that differs is not decoded but a failed item.
    """

    def __init__(self, pairs: list[Any], pinned: bool, allow_unverified: bool) -> None:
        self.pairs = pairs
        self.pinned = pinned
        self.allow_unverified = allow_unverified

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> _Item:
        from harness.hashing import sha256_bytes
        from harness.images import decode_image, read_file

        pair = self.pairs[index]
        target = pair.target
        item = _Item(index, str(pair.id), str(pair.input), None if target is None else str(target))
        t0 = time.perf_counter()
        try:
            input_bytes = read_file(pair.input)
            item.input_sha256 = sha256_bytes(input_bytes)
            target_bytes = None if target is None else read_file(target)
            if target_bytes is not None:
                item.target_sha256 = sha256_bytes(target_bytes)
            item.verified = lock_verdict(self.pinned, pair, item.input_sha256, item.target_sha256)
            if item.verified is False and not self.allow_unverified:
                raise HarnessError(_differs_from_lock(pair, item.input_sha256, item.target_sha256))
            item.input = decode_image(input_bytes, pair.input, convert=True)
            if target_bytes is not None:
                item.target = decode_image(target_bytes, target)
                if item.target.shape != item.input.shape:
                    raise HarnessError(
                        f"{target}: ground truth is {item.target.shape[1]}x{item.target.shape[0]}"
                        f" but the input is {item.input.shape[1]}x{item.input.shape[0]}"
                    )
        except HarnessError as exc:
            item.error = str(exc).splitlines()[0]
            item.input = item.target = None
        item.decode_ms = (time.perf_counter() - t0) * 1000.0
        return item


def _reusable(prior: ScoredBytes, pair: Any, pinned: bool, allow_unverified: bool) -> bool:
    """Whether a stored row was scored on the bytes now on disk (and may be reused as is)."""
    from harness.hashing import sha256_file

    try:
        input_sha = sha256_file(pair.input)
        target_sha = None if pair.target is None else sha256_file(pair.target)
    except OSError:
        return False  # the loader records why
    verdict = lock_verdict(pinned, pair, input_sha, target_sha)
    if verdict is False and not allow_unverified:
        return False
    return (prior.input_sha256, prior.target_sha256, prior.verified) == (
        input_sha,
        target_sha,
        verdict,
    )


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _die_with_parent(parent_pid: int, _worker_id: int) -> None:
    """DataLoader worker set-up: have the kernel kill this worker when the run process dies.

    On Linux via prctl(PR_SET_PDEATHSIG); elsewhere torch's own watchdog ends idle workers whose
    parent is gone (a worker blocked on a full pipe may then linger).
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)


def size_batches(sizes: list[tuple[int, int] | None], batch_size: int) -> list[list[int]]:
    """Group indices into batches of equal image size (unreadable sizes go alone), stable order."""
    groups: dict[object, list[int]] = {}
    for i, size in enumerate(sizes):
        groups.setdefault(size if size is not None else ("unknown", i), []).append(i)
    batches: list[list[int]] = []
    for indices in groups.values():
        for start in range(0, len(indices), max(1, batch_size)):
            batches.append(indices[start : start + max(1, batch_size)])
    batches.sort(key=lambda b: b[0])
    return batches


def _collate(items: list[_Item]) -> list[_Item]:
    return items


def _default_workers() -> int:
    return max(0, min(4, (os.cpu_count() or 1) - 1))


# --- the run ---------------------------------------------------------------------------------
ProgressFactory = Callable[[str, int], Any]


class _NoProgress:
    def advance(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


class RichProgress:
    """A rich progress bar per benchmark with images/s and ETA."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            transient=False,
        )
        self._progress.start()

    def __call__(self, name: str, total: int) -> Any:
        task = self._progress.add_task(name, total=total, rate="")
        progress = self._progress

        class _Bar:
            def advance(self, n: int = 1) -> None:
                progress.advance(task, n)
                speed = progress.tasks[task].speed if task < len(progress.tasks) else None
                progress.update(task, rate=f"{speed:.2f} img/s" if speed else "")

            def close(self) -> None:
                progress.refresh()

        return _Bar()

    def stop(self) -> None:
        """Stop drawing."""
        self._progress.stop()


def _restore(
    restorer: Restorer,
    images: torch.Tensor,
    ids: tuple[str, ...],
    bench: Any,
    config: RunConfig,
    device: str,
) -> tuple[torch.Tensor, float]:
    import torch

    from harness.restorer import ImageBatch

    batch = ImageBatch(
        images=images.to(device),
        ids=ids,
        benchmark=bench.name,
        task=None if restorer.blind else bench.task,
        preprocess=frozenset(getattr(bench, "preprocess", frozenset()) or ()),
        seed=config.seed,
    )
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = restorer.restore(batch)
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(images.shape):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise HarnessError(f"restorer returned {got}, expected {tuple(images.shape)}")
    return out.detach().to("cpu", torch.float32), seconds


def _complexity(
    restorer: Restorer, sizes: list[tuple[int, int] | None], device: str, flops: bool = True
) -> dict[str, Any]:
    """Params and FLOPs per image at the benchmark's most common size (best effort)."""
    from collections import Counter

    info: dict[str, Any] = {}
    try:
        from harness import complexity as cx
    except ImportError:
        return info
    info["params"] = cx.count_parameters(restorer.module())
    known = [s for s in sizes if s is not None]
    if not known or not flops:
        return info
    (h, w), _ = Counter(known).most_common(1)[0]
    try:
        import torch

        images = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0)).to(device)
        with torch.inference_mode():
            network, calls, total = cx.count_flops(restorer, images)
        if restorer.module() is not None and calls > 0:
            info["flops_per_image"] = network // calls * restorer.calls_per_image()
        else:
            info["flops_per_image"] = total
        info["flops_size"] = [h, w]
    except Exception as exc:  # complexity is a courtesy; never fail a run for it
        info["flops_error"] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return info


def run(
    config: RunConfig,
    *,
    progress: ProgressFactory | None = None,
    log: Callable[[str], None] = print,
) -> RunSummary:
    """Run ``config.method`` on every present benchmark of ``config.suite``; returns a summary."""
    import torch

    from harness.settings import resolve_device

    device = resolve_device(config.device)
    names = _resolve_suite(config.suite)
    kwargs: dict[str, Any] = dict(config.options)
    if config.steps is not None:
        kwargs["steps"] = config.steps
    restorer = _create_method(
        config.method, variant=config.variant, weights=config.weights, device=device, **kwargs
    )
    provenance = restorer.provenance()
    fields = {
        "method": config.method,
        "variant": restorer.variant,
        "weights": config.weights,
        "weights_sha256": provenance.get("weights_sha256"),
        "suite": config.suite,
        "protocol": config.protocol,
        "seed": config.seed,
        "steps": config.steps,
        "device": device,
        "batch_size": config.batch_size,
        "options": provenance.get("options") or {},
        **environment_fields(device),
    }
    key = config_key(fields)
    config_record = {k: v for k, v in asdict(config).items() if k not in ("overwrite",)}
    store = Store(config.store_path)
    summary_missing: dict[str, str] = {}
    benches: list[Any] = []
    for name in names:
        try:
            benches.append(_open_benchmark(name, config.data_root, config.allow_unverified))
        except HarnessError as exc:
            if not _is_missing_benchmark(exc):
                raise
            summary_missing[name] = str(exc)
    run_id, resumed = store.start_run(
        key, fields, config_record, provenance, overwrite=config.overwrite
    )
    summary = RunSummary(run_id, resumed, Path(config.store_path), missing=summary_missing)
    make_bar = progress or (lambda name, total: _NoProgress())
    status = "failed"
    try:
        for bench in benches:
            summary.benchmarks.append(
                _run_benchmark(store, run_id, restorer, bench, config, device, make_bar, torch)
            )
        status = "finished"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        store.finish_run(run_id, status)
        store.close()
    return summary


def _run_benchmark(
    store: Store,
    run_id: int,
    restorer: Restorer,
    bench: Any,
    config: RunConfig,
    device: str,
    make_bar: ProgressFactory,
    torch: Any,
) -> BenchmarkOutcome:
    from torch.utils.data import DataLoader

    from harness.images import image_size, to_tensor, to_uint8, write_image

    protocol = _get_protocol(config.protocol or bench.protocol)
    pairs = list(bench.pairs)
    if config.limit is not None:
        pairs = pairs[: config.limit]
    store.upsert_benchmark(
        run_id,
        bench.name,
        {
            "task": getattr(bench, "task", None),
            "setting": getattr(getattr(bench, "manifest", None), "setting", None),
            "protocol": protocol.name,
            "protocol_signature": protocol.signature,
            "metrics": tuple(protocol.metrics),
            "data_digest": None,  # set from the stored rows when the benchmark finishes
            "pinned": bench.pinned,
            "verified": None,
            "n_pairs": len(pairs),
        },
    )
    outcome = BenchmarkOutcome(bench.name)
    stored = {} if config.overwrite else store.scored_bytes(run_id, bench.name)
    todo = [
        p
        for p in pairs
        if (prior := stored.get(str(p.id))) is None
        or not _reusable(prior, p, bench.pinned, config.allow_unverified)
    ]
    outcome.skipped = len(pairs) - len(todo)
    bar = make_bar(bench.name, len(pairs))
    if outcome.skipped:
        bar.advance(outcome.skipped)
    sizes = [image_size(p.input) for p in todo]
    batches = size_batches(sizes, config.batch_size)
    workers = _default_workers() if config.workers is None else config.workers
    loader = DataLoader(
        _PairDataset(todo, bench.pinned, config.allow_unverified),
        batch_sampler=batches,
        collate_fn=_collate,
        num_workers=workers if len(todo) > 1 else 0,
        worker_init_fn=functools.partial(_die_with_parent, os.getpid()),
    )
    out_dir = None
    if config.save_images and config.images_dir is not None:
        out_dir = Path(config.images_dir) / f"run-{run_id}" / bench.name
    torch.manual_seed(config.seed)
    t_start = time.perf_counter()
    for items in loader:
        good = [it for it in items if it.error is None]
        for it in items:
            if it.error is not None:
                store.add_result(run_id, _failed(bench.name, it, it.error))
                outcome.failed += 1
                bar.advance()
        if not good:
            continue
        images = torch.stack([to_tensor(it.input) for it in good])
        try:
            restored, seconds = _restore(
                restorer, images, tuple(it.image_id for it in good), bench, config, device
            )
            outcome.model_seconds += seconds
            targets = (
                torch.stack([to_tensor(it.target) for it in good])
                if all(it.target is not None for it in good)
                else None
            )
            scores = _score_batch(protocol, restored, targets, images)
        except Exception as exc:  # one bad batch is recorded and the run goes on
            reason = _reason(exc)
            for it in good:
                store.add_result(run_id, _failed(bench.name, it, reason))
                outcome.failed += 1
                bar.advance()
            continue
        for it, out, values in zip(good, restored, scores, strict=True):
            out_path = None
            if out_dir is not None:
                out_path = out_dir / f"{_safe_name(it.image_id)}.png"
                write_image(out_path, to_uint8(out))
            h, w = it.input.shape[:2]
            store.add_result(
                run_id,
                ImageResult(
                    benchmark=bench.name,
                    image_id=it.image_id,
                    status="ok",
                    metrics={k: float(v) for k, v in values.items()},
                    input_sha256=it.input_sha256,
                    target_sha256=it.target_sha256,
                    verified=it.verified,
                    latency_ms=seconds * 1000.0 / len(good),
                    height=h,
                    width=w,
                    input_path=it.input_path,
                    target_path=it.target_path,
                    output_path=None if out_path is None else str(out_path),
                ),
            )
            outcome.scored += 1
            bar.advance()
    outcome.seconds = time.perf_counter() - t_start
    bar.close()
    complexity = _complexity(restorer, sizes, device, config.flops) if todo else None
    if complexity is not None and outcome.scored:
        complexity["model_seconds"] = outcome.model_seconds
        complexity["wall_seconds"] = outcome.seconds
        if device.startswith("cuda"):
            complexity["peak_memory_bytes"] = int(torch.cuda.max_memory_allocated(device))
    store.finish_benchmark(
        run_id, bench.name, complexity, lock_digest=bench.lock_digest if bench.pinned else None
    )
    return outcome


def _failed(benchmark: str, item: _Item, reason: str) -> ImageResult:
    return ImageResult(
        benchmark=benchmark,
        image_id=item.image_id,
        status="failed",
        reason=reason,
        input_sha256=item.input_sha256,
        target_sha256=item.target_sha256,
        verified=item.verified,
        input_path=item.input_path,
        target_path=item.target_path,
    )


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text if isinstance(exc, HarnessError) else f"{type(exc).__name__}: {text}"


def _safe_name(image_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in image_id)
