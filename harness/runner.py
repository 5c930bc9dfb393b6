"""The run loop: jobs = method x benchmark; restore batches of same-size images, score them, and
write every image's result to the store as soon as it is scored.

Data flows one way: manifest -> pairs -> restorer -> metrics -> store. The runner only orchestrates:
it reaches the data layer, the metrics and the method registry through the small typed interfaces
below (``Collaborators``; tests pass fakes), loading goes through ``harness.loading``, provenance
through ``harness.provenance``, and progress is drawn by whatever ``ProgressFactory`` the caller
(the CLI) hands in.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.errors import HarnessError
from harness.loading import (
    LoadedPair,
    PairSource,
    image_sizes,
    load_batches,
    scored_on_these_bytes,
)
from harness.provenance import config_key, environment_fields
from harness.store import ImageResult, Store

if TYPE_CHECKING:
    import torch

    from harness.restorer import Restorer

log = logging.getLogger(__name__)


# --- what the runner needs from the other layers ---------------------------------------------
class BenchmarkData(Protocol):
    """An opened benchmark (see ``harness.data.benchmark.Benchmark``)."""

    @property
    def name(self) -> str: ...
    @property
    def task(self) -> str: ...
    @property
    def setting(self) -> str | None: ...
    @property
    def degradations(self) -> Sequence[str]:
        """The degradations the manifest lists (``harness.tasks.DEGRADATIONS``; may be empty)."""

    @property
    def protocol(self) -> str:
        """Name of the benchmark's metric protocol."""

    @property
    def preprocess(self) -> frozenset[str]: ...
    @property
    def pairs(self) -> Sequence[PairSource]: ...
    @property
    def pinned(self) -> bool:
        """Whether a lock pins the files (each pair then carries its pinned sha256s)."""

    @property
    def lock_digest(self) -> str | None:
        """The lock's Merkle root (None when not pinned)."""


class BenchmarkSource(Protocol):
    """The data layer: suites and benchmarks by name."""

    def resolve_suite(self, name: str) -> list[str]:
        """The benchmark names of a suite (or of one benchmark)."""

    def open(self, name: str, data_root: Path, *, allow_unverified: bool) -> BenchmarkData:
        """Open a benchmark whose loader checks every byte it reads against the lock."""

    def is_missing(self, exc: HarnessError) -> bool:
        """Whether ``exc`` says the benchmark's data is absent (listed, not fatal)."""


class ScoringProtocol(Protocol):
    """A metric protocol (see ``harness.metrics.protocols.Protocol``)."""

    @property
    def name(self) -> str: ...
    @property
    def signature(self) -> str: ...
    @property
    def metrics(self) -> Sequence[str]: ...
    @property
    def input_crop(self) -> int:
        """Centre-crop input and ground truth to a multiple of this before restoring (0: never)."""


class Scorer(Protocol):
    """The metrics layer."""

    def protocol(self, name: str) -> ScoringProtocol:
        """The protocol called ``name``."""

    def score(
        self,
        protocol: ScoringProtocol,
        restored: torch.Tensor,
        target: torch.Tensor | None,
        degraded: torch.Tensor | None,
    ) -> list[dict[str, float]]:
        """Metric values of each image of a batch."""


class MethodFactory(Protocol):
    """The method registry: ``create_method(name, variant=, weights=, device=, **options)``."""

    def __call__(self, name: str, **kwargs: Any) -> Restorer: ...


@dataclass(frozen=True)
class Collaborators:
    """The layers a run talks to."""

    benchmarks: BenchmarkSource
    metrics: Scorer
    methods: MethodFactory


class _HarnessBenchmarks:
    """Suites from the catalogue; benchmarks opened with cheap checks (the loader hashes bytes)."""

    def resolve_suite(self, name: str) -> list[str]:
        from harness.data.catalog import resolve_suite

        return resolve_suite(name)

    def open(self, name: str, data_root: Path, *, allow_unverified: bool) -> BenchmarkData:
        from harness.data.benchmark import open_benchmark

        return open_benchmark(name, data_root, allow_unverified=allow_unverified, check_bytes=False)

    def is_missing(self, exc: HarnessError) -> bool:
        from harness.data.benchmark import BenchmarkMissingError

        return isinstance(exc, BenchmarkMissingError)


class _HarnessMetrics:
    """Protocols and batched scoring from ``harness.metrics``."""

    def protocol(self, name: str) -> ScoringProtocol:
        from harness.metrics.protocols import get_protocol

        return get_protocol(name)

    def score(
        self,
        protocol: ScoringProtocol,
        restored: torch.Tensor,
        target: torch.Tensor | None,
        degraded: torch.Tensor | None,
    ) -> list[dict[str, float]]:
        from harness.metrics.compute import score_batch

        return score_batch(protocol, restored, target, degraded)  # type: ignore[arg-type]


def default_collaborators() -> Collaborators:
    """The real data layer, metrics and method registry."""
    from harness.registry import create_method

    return Collaborators(_HarnessBenchmarks(), _HarnessMetrics(), create_method)


class ProgressBar(Protocol):
    """Progress of one benchmark."""

    def advance(self, n: int = 1) -> None: ...
    def close(self) -> None: ...


ProgressFactory = Callable[[str, int], ProgressBar]
"""Makes the bar of a benchmark from its name and number of images."""


class _NoProgress:
    def advance(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


# --- configuration and results ---------------------------------------------------------------
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
    """Extra keyword options for the method (``--option KEY=VALUE``)."""


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


# --- the run ---------------------------------------------------------------------------------
def present_benchmarks(
    suite: str, data_root: Path, *, collaborators: Collaborators | None = None
) -> tuple[list[str], dict[str, str]]:
    """The benchmarks of ``suite`` that open here, and for each other one why not."""
    layers = collaborators or default_collaborators()
    present: list[str] = []
    absent: dict[str, str] = {}
    for name in layers.benchmarks.resolve_suite(suite):
        try:
            layers.benchmarks.open(name, data_root, allow_unverified=False)
            present.append(name)
        except HarnessError as exc:  # missing, or present but unusable: both are listed
            absent[name] = str(exc) if layers.benchmarks.is_missing(exc) else f"unusable: {exc}"
    return present, absent


def run(
    config: RunConfig,
    *,
    progress: ProgressFactory | None = None,
    collaborators: Collaborators | None = None,
) -> RunSummary:
    """Run ``config.method`` on every present benchmark of ``config.suite``; returns a summary."""
    from harness.settings import resolve_device

    layers = collaborators or default_collaborators()
    device = resolve_device(config.device)
    names = layers.benchmarks.resolve_suite(config.suite)
    kwargs: dict[str, Any] = dict(config.options)
    if config.steps is not None:
        kwargs["steps"] = config.steps
    restorer = layers.methods(
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
        "blind": bool(restorer.blind),
        "options": provenance.get("options") or {},
        **environment_fields(device),
    }
    config_record = {k: v for k, v in asdict(config).items() if k not in ("overwrite",)}
    store = Store(config.store_path)
    missing: dict[str, str] = {}
    benches: list[BenchmarkData] = []
    for name in names:
        try:
            benches.append(
                layers.benchmarks.open(
                    name, config.data_root, allow_unverified=config.allow_unverified
                )
            )
        except HarnessError as exc:
            if not layers.benchmarks.is_missing(exc):
                raise
            missing[name] = str(exc)
    run_id, resumed = store.start_run(
        config_key(fields), fields, config_record, provenance, overwrite=config.overwrite
    )
    log.info("run %d (%s) in %s", run_id, "resumed" if resumed else "new", config.store_path)
    summary = RunSummary(run_id, resumed, Path(config.store_path), missing=missing)
    job = _Job(store, run_id, restorer, layers.metrics, config, device, progress)
    status = "failed"
    try:
        for bench in benches:
            summary.benchmarks.append(job.run_benchmark(bench))
        status = "finished"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        store.finish_run(run_id, status)
        store.close()
    return summary


class _Job:
    """One run's method on its benchmarks: restore, score and store each image."""

    def __init__(
        self,
        store: Store,
        run_id: int,
        restorer: Restorer,
        metrics: Scorer,
        config: RunConfig,
        device: str,
        progress: ProgressFactory | None,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.restorer = restorer
        self.metrics = metrics
        self.config = config
        self.device = device
        self.make_bar: ProgressFactory = progress or (lambda name, total: _NoProgress())

    def run_benchmark(self, bench: BenchmarkData) -> BenchmarkOutcome:
        """Score every image of ``bench`` not already stored on the same bytes."""
        import torch

        config, cuda = self.config, self.device.startswith("cuda")
        protocol = self.metrics.protocol(config.protocol or bench.protocol)
        pairs = list(bench.pairs)[: config.limit]
        self.store.upsert_benchmark(
            self.run_id,
            bench.name,
            {
                "task": bench.task,
                "setting": bench.setting,
                "protocol": protocol.name,
                "protocol_signature": protocol.signature,
                "metrics": tuple(protocol.metrics),
                "data_digest": None,  # set from the stored rows when the benchmark finishes
                "pinned": bench.pinned,
                "verified": None,
                "in_setting": self._in_setting(bench),
                "n_pairs": len(pairs),
            },
        )
        outcome = BenchmarkOutcome(bench.name)
        todo = self._not_yet_scored(bench, pairs)
        outcome.skipped = len(pairs) - len(todo)
        if outcome.skipped:
            log.info("%s: %d image(s) already scored, skipped", bench.name, outcome.skipped)
        bar = self.make_bar(bench.name, len(pairs))
        if outcome.skipped:
            bar.advance(outcome.skipped)
        sizes = image_sizes(todo)
        batches = load_batches(
            todo,
            sizes,
            pinned=bench.pinned,
            allow_unverified=config.allow_unverified,
            batch_size=config.batch_size,
            workers=config.workers,
        )
        out_dir = None
        if config.save_images and config.images_dir is not None:
            out_dir = Path(config.images_dir) / f"run-{self.run_id}" / bench.name
        if cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
        torch.manual_seed(config.seed)
        t_start = time.perf_counter()
        for items in batches:
            self._score_batch(bench, protocol, items, out_dir, outcome, bar)
        outcome.seconds = time.perf_counter() - t_start
        peak_memory = int(torch.cuda.max_memory_allocated(self.device)) if cuda else None
        bar.close()
        if protocol.input_crop:  # the size the restorer saw
            sizes = [s and _cropped_size(s, protocol.input_crop) for s in sizes]
        complexity = self._complexity(sizes, bench.task) if todo else None
        if complexity is not None and outcome.scored:
            complexity["model_seconds"] = outcome.model_seconds
            complexity["wall_seconds"] = outcome.seconds
            if peak_memory is not None:
                complexity["peak_memory_bytes"] = peak_memory
        self.store.finish_benchmark(
            self.run_id, bench.name, complexity, lock_digest=bench.lock_digest
        )
        return outcome

    def _in_setting(self, bench: BenchmarkData) -> bool | None:
        """Whether the restorer's checkpoint training setting covers ``bench`` (None: undeclared)."""
        from harness.tasks import within_setting

        setting = self.restorer.training_setting
        if not setting or setting.get("tasks") is None:
            return None
        return within_setting(setting["tasks"], bench.task, bench.degradations)

    def _not_yet_scored(self, bench: BenchmarkData, pairs: list[PairSource]) -> list[PairSource]:
        """The pairs without a stored result on the bytes now on disk (all, with overwrite)."""
        if self.config.overwrite:
            return pairs
        stored = self.store.scored_bytes(self.run_id, bench.name)
        return [
            p
            for p in pairs
            if (prior := stored.get(str(p.id))) is None
            or not scored_on_these_bytes(
                prior, p, pinned=bench.pinned, allow_unverified=self.config.allow_unverified
            )
        ]

    def _score_batch(
        self,
        bench: BenchmarkData,
        protocol: ScoringProtocol,
        items: list[LoadedPair],
        out_dir: Path | None,
        outcome: BenchmarkOutcome,
        bar: ProgressBar,
    ) -> None:
        import torch

        from harness.images import to_tensor, to_uint8, write_image

        good = [it for it in items if it.error is None]
        for it in items:
            if it.error is not None:
                log.debug("%s/%s failed: %s", bench.name, it.image_id, it.error)
                self.store.add_result(self.run_id, _failed(bench.name, it, it.error))
                outcome.failed += 1
                bar.advance()
        if not good:
            return
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
            restored, seconds = self._restore(bench, images, tuple(it.image_id for it in good))
            outcome.model_seconds += seconds
            scores = self.metrics.score(protocol, restored, targets, images)
        except Exception as exc:  # a method or metric crash fails its batch; the run goes on
            reason = _reason(exc)
            log.debug("%s: batch failed: %s", bench.name, reason, exc_info=True)
            for it in good:
                self.store.add_result(self.run_id, _failed(bench.name, it, reason))
                outcome.failed += 1
                bar.advance()
            return
        for it, out, values in zip(good, restored, scores, strict=True):
            out_path = None
            if out_dir is not None:
                out_path = out_dir / f"{_safe_name(it.image_id)}.png"
                write_image(out_path, to_uint8(out))
            h, w = it.input.shape[:2]  # type: ignore[union-attr]
            self.store.add_result(
                self.run_id,
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

    def _restore(
        self, bench: BenchmarkData, images: torch.Tensor, ids: tuple[str, ...]
    ) -> tuple[torch.Tensor, float]:
        """The restored batch on the CPU and the model's wall time (synchronised on CUDA)."""
        import torch

        from harness.restorer import ImageBatch

        batch = ImageBatch(
            images=images.to(self.device),
            ids=ids,
            benchmark=bench.name,
            task=None if self.restorer.blind else bench.task,
            preprocess=frozenset(bench.preprocess),
            seed=self.config.seed,
        )
        cuda = self.device.startswith("cuda")
        if cuda:
            torch.cuda.synchronize(self.device)
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = self.restorer.restore(batch)
        if cuda:
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - t0
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(images.shape):
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise HarnessError(f"restorer returned {got}, expected {tuple(images.shape)}")
        return out.detach().to("cpu", torch.float32), seconds

    def _complexity(self, sizes: list[tuple[int, int] | None], task: str) -> dict[str, Any]:
        """Params, and FLOPs per image at the benchmark's most common size, restored as the
        benchmark's task when the method takes the label (best effort)."""
        import torch

        from harness import complexity as cx

        info: dict[str, Any] = {"params": cx.count_parameters(self.restorer.module())}
        known = [s for s in sizes if s is not None]
        if not known or not self.config.flops:
            return info
        (h, w), _ = Counter(known).most_common(1)[0]
        try:
            with torch.inference_mode():
                flops = cx.flops_per_image(self.restorer, h, w, self.device, task)
        except Exception as exc:  # complexity is a courtesy: a method that cannot be counted
            info["flops_error"] = _reason(exc)
            log.warning("FLOPs of %s not counted: %s", self.restorer.name, info["flops_error"])
            return info
        info["flops_per_image"] = flops.per_image
        info["flops_size"] = [h, w]
        return info


def _cropped_size(size: tuple[int, int], multiple: int) -> tuple[int, int]:
    """The (H, W) the centre crop to ``multiple`` leaves (an image too small is left as it is:
    it fails when cropped)."""
    from harness.padding import centre_crop_box

    if min(size) < multiple:
        return size
    rows, cols = centre_crop_box(*size, multiple)
    return rows.stop - rows.start, cols.stop - cols.start


def _failed(benchmark: str, item: LoadedPair, reason: str) -> ImageResult:
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
