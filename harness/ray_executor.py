"""The Ray executor (``harness run --executor ray``): a run's images restored and scored by worker
actors on a Ray cluster, with the same numbers and the same store as the local executor.

Work units are shards: a run's method on one benchmark and a handful of its images, made of whole
batches of the local executor (same sizes, same batch composition). Each worker actor builds the
restorer once (weights resolved and sha256-checked on the worker, and compared with the driver's),
then reads, verifies against the lock, restores and scores the shards it is sent, and returns the
per-image rows (``harness.work``). The driver alone writes the SQLite store, one commit per row as
it arrives, with the local executor's keys, so a killed driver resumes like a killed local run.

A worker that dies mid-shard is restarted by Ray (``max_restarts``) and the shard is sent again;
a shard that fails ``SHARD_ATTEMPTS`` times becomes failed items with the reason. Results do not
depend on which worker ran a shard: methods seed per image (``harness check`` tests determinism and
batch invariance).

Ray is an optional extra (``pip install 'uir-harness[ray]'``); nothing here imports it at module
import, so the core runs without it.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.loading import PairDataset, size_batches
from harness.memory import OPT_OUT as MEMORY_OPT_OUT
from harness.memory import keep_freed_memory
from harness.store import ImageResult
from harness.work import (
    BenchmarkContext,
    FlopsMemo,
    complexity_of,
    failed_row,
    restore_and_score,
)

if TYPE_CHECKING:
    from harness.runner import BenchmarkData, BenchmarkOutcome, BenchmarkState, RunConfig, RunJob

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'uir-harness[ray]'  (or: pip install 'ray>=2.10,<3')"
SHARD_ATTEMPTS = 3
"""Times a shard is sent out before its images become failed items."""
WORKER_RESTARTS = 3
"""Times Ray restarts a dead worker actor before the run gives it up."""
SHARDS_PER_WORKER = 4
"""Shards per worker a run aims at: enough to balance the load, few enough to cost little."""
MAX_SHARD_IMAGES = 32
"""The most images of one shard: what a lost worker costs at most."""
READY_TIMEOUT_S = 600.0
"""How long the workers may take to start (and load their weights) before the run gives up."""
FORWARDED_ENV = (
    "HARNESS_CACHE",
    "HARNESS_DATA",
    "HARNESS_WEIGHTS",
    "HARNESS_MANIFESTS",
    MEMORY_OPT_OUT,
)
"""The driver's environment variables that workers get too (shared storage, the malloc opt-out)."""


def require_ray() -> Any:
    """The ``ray`` module, or an error that says what to install."""
    try:
        import ray
    except ImportError as exc:
        raise HarnessError(
            "--executor ray needs Ray, which is not installed",
            hint=f"install the optional extra: {INSTALL_HINT}",
        ) from exc
    return ray


@dataclass
class RayOptions:
    """Where the cluster is and what each worker actor gets."""

    address: str | None = None
    """``auto`` joins a running cluster, ``HOST:PORT`` or ``ray://HOST:PORT`` a given one; None
    starts a local Ray instance for the run and stops it after."""
    workers: int | None = None
    """Worker actors (default: as many as the cluster's CPUs or GPUs allow)."""
    cpus_per_worker: float = 1.0
    gpus_per_worker: float | None = None
    """None: 1 when the device is CUDA (or auto and the cluster has GPUs), else 0."""
    shard_images: int | None = None
    """Images per shard (default: from the work and the worker count, at most MAX_SHARD_IMAGES)."""


@dataclass(frozen=True)
class ShardPair:
    """One pair as a worker gets it (a ``harness.loading.PairSource``)."""

    id: str
    input: Path
    target: Path | None
    input_sha256: str | None
    target_sha256: str | None


@dataclass(frozen=True)
class Shard:
    """A work unit: some images of one benchmark, as whole batches of the local executor."""

    bench: BenchmarkContext
    protocol: str
    pinned: bool
    pairs: tuple[ShardPair, ...]
    batches: tuple[tuple[int, ...], ...]
    """Indices into ``pairs``, one tuple per batch."""
    out_dir: Path | None


@dataclass
class ShardResult:
    """What a worker sends back for a shard."""

    rows: list[ImageResult]
    model_seconds: float
    peak_memory_bytes: int | None


@dataclass(frozen=True)
class WorkerSpec:
    """How every worker builds its restorer; ``weights_sha256`` is what the driver loaded."""

    method: str
    variant: str | None
    weights: str | None
    options: dict[str, Any]
    device: str
    seed: int
    allow_unverified: bool
    weights_sha256: str | None


class RestoreWorker:
    """A worker actor: builds the restorer once, then restores and scores shards."""

    def __init__(self, spec: WorkerSpec) -> None:
        from harness.registry import create_method
        from harness.runner import default_collaborators

        keep_freed_memory()
        self.spec = spec
        self.restorer = create_method(
            spec.method,
            variant=spec.variant,
            weights=spec.weights,
            device=spec.device,
            **spec.options,
        )
        got = self.restorer.provenance().get("weights_sha256")
        if got != spec.weights_sha256:
            raise HarnessError(
                f"worker on {socket.gethostname()} loaded weights with sha256 {got}, but the run "
                f"was started with {spec.weights_sha256}",
                hint="every node must see the same weights file (shared storage, or the same "
                "HARNESS_WEIGHTS cache); pass --weights with a path on shared storage",
            )
        self.metrics = default_collaborators().metrics
        self.flops_memo: FlopsMemo = {}

    def describe(self) -> dict[str, Any]:
        """Host, process and device of this worker (recorded in the run's provenance)."""
        import torch

        info: dict[str, Any] = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "device": self.spec.device,
            "torch_threads": torch.get_num_threads(),
        }
        if self.spec.device.startswith("cuda"):
            info["gpu"] = torch.cuda.get_device_name(self.spec.device)
        return info

    def run_shard(self, shard: Shard) -> ShardResult:
        """Read (checked against the lock), restore and score every image of ``shard``."""
        import torch

        spec, device = self.spec, self.spec.device
        cuda = device.startswith("cuda")
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        protocol = self.metrics.protocol(shard.protocol)
        dataset = PairDataset(
            shard.pairs, pinned=shard.pinned, allow_unverified=spec.allow_unverified
        )
        torch.manual_seed(spec.seed)
        rows: list[ImageResult] = []
        seconds = 0.0
        for batch in shard.batches:
            batch_rows, batch_seconds = restore_and_score(
                self.restorer,
                self.metrics,
                protocol,
                shard.bench,
                [dataset[i] for i in batch],
                seed=spec.seed,
                device=device,
                out_dir=shard.out_dir,
            )
            rows.extend(batch_rows)
            seconds += batch_seconds
        peak = int(torch.cuda.max_memory_allocated(device)) if cuda else None
        return ShardResult(rows, seconds, peak)

    def complexity(
        self, sizes: list[tuple[int, int] | None], task: str, flops: bool
    ) -> dict[str, Any]:
        """Params and FLOPs per image on this worker's device (``harness.work.complexity_of``)."""
        return complexity_of(
            self.restorer, sizes, task, self.spec.device, flops=flops, memo=self.flops_memo
        )


@contextmanager
def cluster(options: RayOptions) -> Iterator[Any]:
    """Ray joined at ``options.address`` (or a local instance started for the run and stopped
    after); a Ray already initialised in this process is used as it is and left running."""
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    quiet = not log.isEnabledFor(logging.INFO)
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": not quiet,
        "logging_level": logging.WARNING if quiet else logging.INFO,
    }
    try:
        if options.address:
            ray.init(address=options.address, **kwargs)
        else:
            ray.init(**kwargs)
    except ConnectionError as exc:
        raise HarnessError(
            f"cannot reach a Ray cluster at {options.address!r}: {exc}",
            hint="start one with `ray start --head` (then --address auto), or leave "
            "--address out to start a local Ray instance for the run",
        ) from exc
    try:
        yield ray
    finally:
        ray.shutdown()


def plan_shards(
    sizes: Sequence[tuple[int, int] | None], batch_size: int, shard_images: int
) -> list[list[list[int]]]:
    """Group the local executor's batches (``size_batches``) into shards of about
    ``shard_images`` images each; every batch stays whole and in order."""
    shards: list[list[list[int]]] = []
    current: list[list[int]] = []
    count = 0
    for batch in size_batches(list(sizes), batch_size):
        current.append(batch)
        count += len(batch)
        if count >= shard_images:
            shards.append(current)
            current, count = [], 0
    if current:
        shards.append(current)
    return shards


def shard_size(total_images: int, workers: int, batch_size: int) -> int:
    """Images per shard: ``SHARDS_PER_WORKER`` shards per worker, at most ``MAX_SHARD_IMAGES``,
    at least one batch."""
    target = math.ceil(total_images / max(1, workers * SHARDS_PER_WORKER))
    return max(batch_size, min(MAX_SHARD_IMAGES, max(1, target)))


@dataclass
class _Unit:
    """A shard on its way: which benchmark it belongs to and how often it was sent out."""

    state: BenchmarkState
    shard: Shard
    attempts: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class _Worker:
    handle: Any
    index: int
    alive: bool = True
    retired: bool = False
    losses: int = 0
    ping_at: float = 0.0


class RayExecutor:
    """Runs a run's shards on Ray worker actors; see the module docstring."""

    on_dispatch: Any = None
    """Tests set it (a staticmethod) to be called with (worker description, shard) after each
    shard is sent out, e.g. to kill that worker while it holds the shard."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.options = config.ray or RayOptions()
        self.ray = require_ray()
        self.gpus_per_worker = 0.0
        self.workers: list[_Worker] = []
        self.descriptions: list[dict[str, Any]] = []

    # --- set-up ------------------------------------------------------------------------------
    @contextmanager
    def session(self) -> Iterator[None]:
        """The cluster for the run (see :func:`cluster`); the workers go when it ends."""
        with cluster(self.options):
            try:
                yield
            finally:
                self.shutdown_workers()

    def device(self, spec: str) -> str:
        """``cuda`` when workers get GPUs, else ``cpu``; sets the GPUs per worker."""
        spec = spec.strip().lower()
        gpus = self.options.gpus_per_worker
        cluster_gpus = float(self.ray.cluster_resources().get("GPU", 0))
        if spec.startswith("cuda:"):
            raise HarnessError(
                f"--device {spec} with --executor ray: Ray gives each worker its own GPUs",
                hint="use --device cuda (or auto) and --gpus-per-worker N",
            )
        if spec == "cpu":
            if gpus:
                raise HarnessError("--device cpu with --gpus-per-worker > 0: the GPUs would idle")
            gpus = 0.0
        elif spec == "cuda":
            if gpus == 0:
                raise HarnessError(
                    "--device cuda with --gpus-per-worker 0: the workers would have no GPU"
                )
            gpus = 1.0 if gpus is None else gpus
        elif spec == "auto":
            gpus = (1.0 if cluster_gpus else 0.0) if gpus is None else gpus
        else:
            raise HarnessError(f"unknown device {spec!r}", hint="use auto, cpu or cuda")
        self.gpus_per_worker = float(gpus)
        return "cuda" if gpus else "cpu"

    def driver_device(self, device: str) -> str:
        """The driver only loads the restorer for provenance and checks: on the CPU."""
        return "cpu"

    def start(self, device: str, weights_sha256: str | None) -> dict[str, Any]:
        """Start the worker actors, wait until each has built its restorer; their description."""
        ray, options, config = self.ray, self.options, self.config
        resources = ray.cluster_resources()
        cpus, gpus = float(options.cpus_per_worker), self.gpus_per_worker
        count = options.workers or self._fitting_workers(resources, cpus, gpus)
        self._check_fits(resources, count, cpus, gpus)
        from harness.runner import method_kwargs

        spec = WorkerSpec(
            method=config.method,
            variant=config.variant,
            weights=_absolute_if_path(config.weights),
            options=method_kwargs(config),
            device=device,
            seed=config.seed,
            allow_unverified=config.allow_unverified,
            weights_sha256=weights_sha256,
        )
        env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
        actor = ray.remote(RestoreWorker).options(
            num_cpus=cpus,
            num_gpus=gpus,
            max_restarts=WORKER_RESTARTS,
            max_task_retries=0,
            runtime_env={"env_vars": env} if env else None,
        )
        self.workers = [_Worker(actor.remote(spec), i) for i in range(count)]
        self.descriptions = self._wait_ready()
        return {
            "name": "ray",
            "ray_version": ray.__version__,
            "address": options.address or "local",
            "workers": count,
            "cpus_per_worker": cpus,
            "gpus_per_worker": gpus,
            "cluster_resources": {
                k: v for k, v in resources.items() if k in ("CPU", "GPU", "memory")
            },
            "nodes": len([n for n in ray.nodes() if n.get("Alive")]),
            "worker_hosts": sorted({d["host"] for d in self.descriptions}),
        }

    def _fitting_workers(self, resources: dict[str, float], cpus: float, gpus: float) -> int:
        if gpus:
            return max(1, int(resources.get("GPU", 0) // gpus))
        return max(1, int(resources.get("CPU", 1) // max(cpus, 1e-9)))

    def _check_fits(self, resources: dict[str, float], count: int, cpus: float, gpus: float):
        have_cpu, have_gpu = resources.get("CPU", 0), resources.get("GPU", 0)
        if count * cpus > have_cpu or count * gpus > have_gpu:
            raise HarnessError(
                f"{count} worker(s) of {cpus:g} CPU and {gpus:g} GPU do not fit the Ray cluster "
                f"({have_cpu:g} CPU, {have_gpu:g} GPU)",
                hint="lower --workers, --cpus-per-worker or --gpus-per-worker, or add nodes",
            )

    def _wait_ready(self) -> list[dict[str, Any]]:
        ray = self.ray
        refs = [w.handle.describe.remote() for w in self.workers]
        try:
            return ray.get(refs, timeout=READY_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError as exc:
            self.shutdown_workers()
            raise HarnessError(
                f"the Ray workers did not start within {READY_TIMEOUT_S:.0f} s",
                hint="check `ray status` for free resources",
            ) from exc
        except ray.exceptions.RayError as exc:
            self.shutdown_workers()
            raise HarnessError(f"a Ray worker could not start: {_cause(exc)}") from exc

    def shutdown_workers(self) -> None:
        """Kill the worker actors (their restorers go with them)."""
        for worker in self.workers:
            try:
                self.ray.kill(worker.handle, no_restart=True)
            except Exception:  # already gone
                pass
        self.workers = []

    # --- the run -----------------------------------------------------------------------------
    def run_benchmarks(
        self, job: RunJob, benches: Sequence[BenchmarkData]
    ) -> list[BenchmarkOutcome]:
        """Send every benchmark's shards to the workers; commit rows as they come back."""
        try:
            return _Scheduler(self, job).run(benches)
        finally:
            self.shutdown_workers()


class _Scheduler:
    """The driver's loop: hand shards to idle workers, commit what comes back, retry the lost."""

    def __init__(self, executor: RayExecutor, job: RunJob) -> None:
        from harness.runner import WorkersDisplay

        self.ex = executor
        self.ray = executor.ray
        self.job = job
        self.queue: deque[_Unit] = deque()
        self.idle: deque[_Worker] = deque(executor.workers)
        self.in_flight: dict[Any, tuple[str, _Worker, Any]] = {}
        self.left: dict[str, int] = {}
        self.peak: dict[str, int | None] = {}
        self.outcomes: dict[str, BenchmarkOutcome] = {}
        display = job.make_bar
        self.display = display if isinstance(display, WorkersDisplay) else None

    def run(self, benches: Sequence[BenchmarkData]) -> list[BenchmarkOutcome]:
        states = [self.job.begin(bench) for bench in benches]
        total = sum(len(s.todo) for s in states)
        size = self.ex.options.shard_images or shard_size(
            total, len(self.ex.workers), self.job.config.batch_size
        )
        for state in states:
            self._plan(state, size)
        self._show_workers()
        while self.queue or self.in_flight:
            self._dispatch()
            if all(w.retired for w in self.ex.workers):
                raise HarnessError(
                    "every Ray worker died; the images not yet scored stay unscored",
                    hint="rerun the same command to resume once the cluster is healthy",
                )
            if not self.in_flight:  # only restarting workers: look again soon
                time.sleep(0.1)
                continue
            ready, _ = self.ray.wait(list(self.in_flight), num_returns=1, timeout=0.5)
            for ref in ready:
                self._collect(ref)
        return [self.outcomes[s.bench.name] for s in states]

    def _plan(self, state: BenchmarkState, size: int) -> None:
        name = state.bench.name
        shards = plan_shards(state.sizes, self.job.config.batch_size, size)
        self.left[name] = len(shards)
        self.peak[name] = None
        if not shards:
            self.outcomes[name] = self.job.end(state, None, None)
            return
        for batches in shards:
            flat = [i for b in batches for i in b]
            where = {i: n for n, i in enumerate(flat)}
            shard = Shard(
                bench=state.context,
                protocol=state.protocol.name,
                pinned=state.bench.pinned,
                pairs=tuple(_shard_pair(state.todo[i]) for i in flat),
                batches=tuple(tuple(where[i] for i in b) for b in batches),
                out_dir=state.out_dir,
            )
            self.queue.append(_Unit(state, shard))

    def _dispatch(self) -> None:
        now = time.monotonic()
        for worker in self.ex.workers:  # look again at restarting workers
            if not worker.alive and not worker.retired and worker.ping_at <= now:
                if not any(w is worker for _, w, _ in self.in_flight.values()):
                    self.in_flight[worker.handle.describe.remote()] = ("ping", worker, None)
        while self.queue and self.idle:
            worker, unit = self.idle.popleft(), self.queue.popleft()
            unit.attempts += 1
            ref = worker.handle.run_shard.remote(unit.shard)
            self.in_flight[ref] = ("shard", worker, unit)
            if self.ex.on_dispatch is not None:
                self.ex.on_dispatch(self.ex.descriptions[worker.index], unit.shard)

    def _collect(self, ref: Any) -> None:
        kind, worker, payload = self.in_flight.pop(ref)
        exceptions = self.ray.exceptions
        try:
            value = self.ray.get(ref)
        except exceptions.RayActorError as exc:
            self._worker_lost(worker, exc, pinged=kind == "ping")
            if kind == "shard":
                self._retry(payload, f"worker lost: {_cause(exc)}")
            elif kind == "complexity":
                self._finish(payload, {"flops_error": f"worker lost: {_cause(exc)}"})
            return
        except exceptions.RayError as exc:
            self._idle(worker)
            if kind == "shard":
                self._retry(payload, _cause(exc))
            elif kind == "complexity":
                self._finish(payload, {"flops_error": _cause(exc)})
            return
        if kind == "ping":
            self.ex.descriptions[worker.index] = value
            worker.alive = True
            self._show_workers()
            self._idle(worker)
        elif kind == "shard":
            self._idle(worker)
            self._done(payload, value)
        else:
            self._idle(worker)
            self._finish(payload, value)

    def _idle(self, worker: _Worker) -> None:
        if worker.alive and not worker.retired:
            self.idle.append(worker)

    def _worker_lost(self, worker: _Worker, exc: Exception, *, pinged: bool = False) -> None:
        """A lost worker is pinged until Ray has restarted it; retired once Ray says it is dead
        for good (a ping answered by ``ActorDiedError``) or it was lost more often than Ray
        restarts it."""
        if pinged:  # still restarting (ActorUnavailableError), or gone
            worker.retired = isinstance(exc, self.ray.exceptions.ActorDiedError)
        else:
            worker.losses += 1
            worker.retired = worker.losses > WORKER_RESTARTS
            log.warning("Ray worker %d lost: %s", worker.index, _cause(exc))
        worker.alive = False
        worker.ping_at = time.monotonic() + 0.5
        self._show_workers()

    def _retry(self, unit: _Unit, reason: str) -> None:
        unit.errors.append(reason)
        if unit.attempts < SHARD_ATTEMPTS:
            self.queue.appendleft(unit)
            return
        why = f"shard failed {unit.attempts} times; last: {unit.errors[-1]}"
        rows = [
            failed_row(
                unit.shard.bench.name,
                p.id,
                why,
                input_path=str(p.input),
                target_path=None if p.target is None else str(p.target),
            )
            for p in unit.shard.pairs
        ]
        self._done(unit, ShardResult(rows, 0.0, None))

    def _done(self, unit: _Unit, result: ShardResult) -> None:
        state = unit.state
        name = state.bench.name
        self.job.record(state, result.rows, result.model_seconds)
        if result.peak_memory_bytes is not None:
            self.peak[name] = max(self.peak[name] or 0, result.peak_memory_bytes)
        self.left[name] -= 1
        if self.left[name] == 0:  # count FLOPs on a worker, then close the benchmark
            sizes = self.job.restored_sizes(state)
            if self.idle:
                worker = self.idle.popleft()
                ref = worker.handle.complexity.remote(
                    sizes, state.bench.task, self.job.config.flops
                )
                self.in_flight[ref] = ("complexity", worker, state)
            else:  # no worker left to count on: the driver counts parameters itself
                self._finish(state, {})

    def _finish(self, state: BenchmarkState, complexity: dict[str, Any]) -> None:
        from harness import complexity as cx

        if "params" not in complexity:  # the worker could not count: the driver's copy can
            complexity["params"] = cx.count_parameters(self.job.restorer.module())
        name = state.bench.name
        self.outcomes[name] = self.job.end(state, complexity, self.peak[name])

    def _show_workers(self) -> None:
        if self.display is not None:
            alive = sum(w.alive for w in self.ex.workers)
            self.display.workers(alive, len(self.ex.workers))


def _absolute_if_path(weights: str | None) -> str | None:
    """A ``--weights`` file given relative to the driver's folder, made absolute for the workers
    (whose working folder may differ); names and routed specs pass unchanged."""
    if weights and Path(weights).expanduser().is_file():
        return str(Path(weights).expanduser().resolve())
    return weights


def _shard_pair(pair: Any) -> ShardPair:
    return ShardPair(
        str(pair.id),
        Path(pair.input),
        None if pair.target is None else Path(pair.target),
        pair.input_sha256,
        pair.target_sha256,
    )


def _cause(exc: BaseException) -> str:
    """The first line of what went wrong on a worker, without Ray's wrapping."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        from harness.work import reason_of

        return reason_of(cause)
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
