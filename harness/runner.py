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
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from harness.errors import HarnessError
from harness.loading import PairSource, image_sizes, load_batches, scored_on_these_bytes
from harness.metrics.parallel import limit_threads
from harness.provenance import config_key, environment_fields
from harness.store import ImageResult, Store
from harness.work import (
    BenchmarkContext,
    FlopsMemo,
    complexity_of,
    cropped_size,
    restore_batch,
    score_restored,
)

if TYPE_CHECKING:
    import torch

    from harness.ray_executor import RayOptions
    from harness.restorer import Restorer

log = logging.getLogger(__name__)

SCORE_AHEAD = 2
"""Restored batches that may wait for scoring before the model waits for the scorer."""


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


@runtime_checkable
class WorkersDisplay(Protocol):
    """A progress display that can also show how many of a cluster's workers are alive."""

    def workers(self, alive: int, total: int) -> None: ...


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
    """DataLoader decode processes of the local executor (0: a decode thread; ``--executor ray``: see ``ray``)."""
    executor: str = "local"
    """``local`` (this process) or ``ray`` (worker actors on a Ray cluster, ``harness.ray_executor``);
    the same configuration gives the same numbers and the same run (resumable) under either."""
    ray: RayOptions | None = None
    """Cluster address and worker resources of the Ray executor (defaults when None)."""
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
    layers = collaborators or default_collaborators()
    executor = make_executor(config)
    with executor.session():
        device = executor.device(config.device)
        names = layers.benchmarks.resolve_suite(config.suite)
        kwargs = method_kwargs(config)
        restorer = layers.methods(
            config.method,
            variant=config.variant,
            weights=config.weights,
            device=executor.driver_device(device),
            **kwargs,
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
        provenance["executor"] = executor.start(device, provenance.get("weights_sha256"))
        store = Store(config.store_path)
        run_id, resumed = store.start_run(
            config_key(fields), fields, config_record, provenance, overwrite=config.overwrite
        )
        log.info("run %d (%s) in %s", run_id, "resumed" if resumed else "new", config.store_path)
        summary = RunSummary(run_id, resumed, Path(config.store_path), missing=missing)
        job = RunJob(store, run_id, restorer, layers.metrics, config, device, progress)
        status = "failed"
        try:
            summary.benchmarks = executor.run_benchmarks(job, benches)
            status = "finished"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            store.finish_run(run_id, status)
            store.close()
    return summary


def method_kwargs(config: RunConfig) -> dict[str, Any]:
    """The keyword options the method is built with (``--option``, and ``--steps``)."""
    kwargs: dict[str, Any] = dict(config.options)
    if config.steps is not None:
        kwargs["steps"] = config.steps
    return kwargs


class Executor(Protocol):
    """Where a run's images are restored and scored; the driver (``run``) alone writes the store."""

    def session(self) -> Any:
        """A context manager holding whatever the executor needs for the run (a cluster)."""

    def device(self, spec: str) -> str:
        """The device restorers run on, from ``--device``."""

    def driver_device(self, device: str) -> str:
        """The device of the run process's own restorer (provenance, checks)."""

    def start(self, device: str, weights_sha256: str | None) -> dict[str, Any]:
        """Get the workers ready; returns what provenance records of the executor."""

    def run_benchmarks(
        self, job: RunJob, benches: Sequence[BenchmarkData]
    ) -> list[BenchmarkOutcome]:
        """Score every benchmark's remaining images, committing rows through ``job``."""


class LocalExecutor:
    """The default: restore in this process, decode in DataLoader workers."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config

    @contextmanager
    def session(self) -> Iterator[None]:
        yield

    def device(self, spec: str) -> str:
        from harness.settings import resolve_device

        return resolve_device(spec)

    def driver_device(self, device: str) -> str:
        return device

    def start(self, device: str, weights_sha256: str | None) -> dict[str, Any]:
        from harness.loading import default_workers

        workers = self.config.workers
        return {
            "name": "local",
            "decode_workers": default_workers() if workers is None else workers,
        }

    def run_benchmarks(
        self, job: RunJob, benches: Sequence[BenchmarkData]
    ) -> list[BenchmarkOutcome]:
        return [job.run_benchmark(bench) for bench in benches]


EXECUTORS = ("local", "ray")


def make_executor(config: RunConfig) -> Executor:
    """The executor ``config.executor`` names."""
    if config.executor == "local":
        return LocalExecutor(config)
    if config.executor == "ray":
        from harness.ray_executor import RayExecutor

        return RayExecutor(config)
    raise HarnessError(
        f"unknown executor {config.executor!r}", hint=f"use one of: {', '.join(EXECUTORS)}"
    )


@dataclass
class BenchmarkState:
    """One benchmark while it runs: what is left to score, its bar and its outcome so far."""

    bench: BenchmarkData
    protocol: ScoringProtocol
    context: BenchmarkContext
    todo: list[PairSource]
    sizes: list[tuple[int, int] | None]
    """(height, width) of each ``todo`` input from its header (None when unreadable)."""
    out_dir: Path | None
    outcome: BenchmarkOutcome
    bar: ProgressBar
    started: float = field(default_factory=time.perf_counter)


class RunJob:
    """One run's method on its benchmarks: the store side (every executor) and the local loop."""

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
        self.flops_memo: FlopsMemo = {}

    def run_benchmark(self, bench: BenchmarkData) -> BenchmarkOutcome:
        """Score every image of ``bench`` not already stored on the same bytes, in this process."""
        import torch

        config, cuda = self.config, self.device.startswith("cuda")
        state = self.begin(bench)
        batches = load_batches(
            state.todo,
            state.sizes,
            pinned=bench.pinned,
            allow_unverified=config.allow_unverified,
            batch_size=config.batch_size,
            workers=config.workers,
        )
        if cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
        torch.manual_seed(config.seed)
        # The model restores batch i+1 while a scoring thread scores batch i (metrics, saving
        # images); rows are committed here, in batch order, as each batch's scores are ready.
        # the scorer keeps to one thread: the model already keeps every core busy
        with ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="harness-score",
            initializer=limit_threads,
            initargs=(1,),
        ) as scoring:
            pending: deque[tuple[Future[list[ImageResult]], float]] = deque()
            for items in batches:
                restored = restore_batch(
                    self.restorer,
                    state.protocol,
                    state.context,
                    items,
                    seed=config.seed,
                    device=self.device,
                )
                job = scoring.submit(
                    score_restored, self.metrics, state.protocol, restored, state.out_dir
                )
                pending.append((job, restored.seconds))
                while pending and (len(pending) > SCORE_AHEAD or pending[0][0].done()):
                    done, seconds = pending.popleft()
                    self.record(state, done.result(), seconds)
            while pending:
                done, seconds = pending.popleft()
                self.record(state, done.result(), seconds)
        peak_memory = int(torch.cuda.max_memory_allocated(self.device)) if cuda else None
        complexity = None
        if state.todo:
            complexity = complexity_of(
                self.restorer,
                self.restored_sizes(state),
                bench.task,
                self.device,
                flops=config.flops,
                memo=self.flops_memo,
            )
        return self.end(state, complexity, peak_memory)

    def begin(self, bench: BenchmarkData) -> BenchmarkState:
        """Record the benchmark in the store and find the images still to score."""
        config = self.config
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
        out_dir = None
        if config.save_images and config.images_dir is not None:
            out_dir = Path(config.images_dir) / f"run-{self.run_id}" / bench.name
        context = BenchmarkContext(bench.name, bench.task, frozenset(bench.preprocess))
        return BenchmarkState(
            bench, protocol, context, todo, image_sizes(todo), out_dir, outcome, bar
        )

    def record(self, state: BenchmarkState, rows: Sequence[ImageResult], seconds: float) -> None:
        """Commit each row to the store (one commit per image) and count it."""
        for row in rows:
            self.store.add_result(self.run_id, row)
            if row.status == "ok":
                state.outcome.scored += 1
            else:
                state.outcome.failed += 1
            state.bar.advance()
        state.outcome.model_seconds += seconds

    def restored_sizes(self, state: BenchmarkState) -> list[tuple[int, int] | None]:
        """The (H, W) the restorer sees of each image still to score (after the protocol's crop)."""
        crop = state.protocol.input_crop
        if not crop:
            return state.sizes
        return [s and cropped_size(s, crop) for s in state.sizes]

    def end(
        self,
        state: BenchmarkState,
        complexity: dict[str, Any] | None,
        peak_memory: int | None,
    ) -> BenchmarkOutcome:
        """Close the bar and finish the benchmark in the store with its complexity figures."""
        outcome = state.outcome
        outcome.seconds = time.perf_counter() - state.started
        state.bar.close()
        if complexity is not None and outcome.scored:
            complexity["model_seconds"] = outcome.model_seconds
            complexity["wall_seconds"] = outcome.seconds
            if peak_memory is not None:
                complexity["peak_memory_bytes"] = peak_memory
        self.store.finish_benchmark(
            self.run_id, state.bench.name, complexity, lock_digest=state.bench.lock_digest
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
