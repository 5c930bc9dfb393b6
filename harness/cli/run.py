"""``harness run``: run a method on a suite or benchmark, store per-image results, write the report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from harness.errors import HarnessError
    from harness.runner import RunConfig, RunSummary
    from harness.settings import Settings


def print_run_table(store_path: Path, run_id: int) -> None:
    """Print the per-benchmark means (with CI) of one run."""
    from harness.report.tables import (
        footnotes,
        load_report_data,
        main_table_text,
        main_tables,
        markdown_table,
    )
    from harness.store import Store

    with Store(store_path, readonly=True) as store:
        data = load_report_data(store, [run_id])
    for table in main_tables(data):
        text = main_table_text(table).T
        text.index = [f"{b} [{p}] {m}" for _, b, p, m in text.index]
        typer.echo(markdown_table(text, index=True))
        for note in footnotes(table):
            typer.echo(f"  {note}")
    failed = data.results[data.results["status"] == "failed"] if not data.results.empty else None
    if failed is not None and len(failed):
        typer.secho(f"{len(failed)} image(s) failed:", fg=typer.colors.YELLOW)
        for row in failed.itertuples():
            typer.echo(f"  {row.benchmark}/{row.image_id}: {row.reason}")


_RESERVED_OPTIONS = ("name", "variant", "weights", "device")

MethodOption = Annotated[
    str, typer.Option("--method", "-m", help="Method name (harness ls methods).")
]
SuiteOption = Annotated[
    str,
    typer.Option("--suite", "-s", help="universal, zero-shot, all, mini, or one benchmark."),
]
VariantOption = Annotated[str | None, typer.Option("--variant", help="Method variant.")]
WeightsOption = Annotated[str | None, typer.Option("--weights", help="Checkpoint path.")]
ProtocolOption = Annotated[
    str | None,
    typer.Option("--protocol", help="Score every benchmark under this protocol."),
]
SeedOption = Annotated[int, typer.Option("--seed", help="Random seed.")]
DeviceOption = Annotated[str | None, typer.Option("--device", help="auto, cpu, cuda, cuda:N.")]
BatchSizeOption = Annotated[
    int, typer.Option("--batch-size", "-b", min=1, help="Same-size images per batch.")
]
LimitOption = Annotated[
    int | None, typer.Option("--limit", min=1, help="At most N images per benchmark.")
]
StoreOption = Annotated[
    Path | None,
    typer.Option("--store", help="Result store (default <cache>/results.sqlite)."),
]
AllowUnverifiedOption = Annotated[
    bool, typer.Option("--allow-unverified", help="Accept data without a checksum lock.")
]
NoReportOption = Annotated[bool, typer.Option("--no-report", help="Do not write a report.")]
WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=0,
        help="Local: DataLoader decode processes (default: none on 2 cores or fewer, where a "
        "decode thread prefetches; else up to 4). Ray: worker actors (default: as many as the "
        "cluster's CPUs, or GPUs, allow).",
    ),
]
ExecutorOption = Annotated[
    str,
    typer.Option(
        "--executor",
        help="local (this process) or ray (worker actors on a Ray cluster; needs "
        "uir-harness[ray]). Same numbers, same store, same resume.",
    ),
]
AddressOption = Annotated[
    str | None,
    typer.Option(
        "--address",
        help="Ray: 'auto' joins a running cluster, HOST:PORT a given one; left out, a local "
        "Ray instance is started for the run and stopped after.",
    ),
]
CpusOption = Annotated[
    float, typer.Option("--cpus-per-worker", min=0.0, help="Ray: CPUs per worker.")
]
GpusOption = Annotated[
    float | None,
    typer.Option(
        "--gpus-per-worker",
        min=0.0,
        help="Ray: GPUs per worker (default 1 when the cluster has GPUs, else 0).",
    ),
]


def _typed(value: str) -> bool | int | float | str:
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value


def method_options(
    pairs: list[str], *, steps: int | None = None
) -> dict[str, bool | int | float | str]:
    """``--option KEY=VALUE`` flags as a dict (integers, floats and true/false typed)."""
    from harness.errors import HarnessError

    out: dict[str, bool | int | float | str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise HarnessError(
                f"--option {pair!r}: expected KEY=VALUE", hint="e.g. --option steps=5"
            )
        if key in _RESERVED_OPTIONS:
            raise HarnessError(
                f"--option {key}: reserved ({', '.join(_RESERVED_OPTIONS)} are not method options)",
                hint="use --method, --variant, --weights or --device",
            )
        if key in out or (key == "steps" and steps is not None):
            raise HarnessError(f"--option {key} is given twice (or also as --{key})")
        out[key] = _typed(value.strip())
    return out


def executor_fields(
    executor: str,
    workers: int | None,
    address: str | None,
    cpus_per_worker: float,
    gpus_per_worker: float | None,
) -> dict[str, Any]:
    """``RunConfig`` fields of the executor flags (``--workers`` counts actors under Ray)."""
    from harness.errors import HarnessError
    from harness.runner import EXECUTORS

    if executor not in EXECUTORS:
        raise HarnessError(
            f"--executor {executor!r}: unknown", hint=f"use one of: {', '.join(EXECUTORS)}"
        )
    if executor == "local":
        given = [
            flag
            for flag, value in (
                ("--address", address),
                ("--cpus-per-worker", None if cpus_per_worker == 1.0 else cpus_per_worker),
                ("--gpus-per-worker", gpus_per_worker),
            )
            if value is not None
        ]
        if given:
            raise HarnessError(
                f"{', '.join(given)} only apply to --executor ray",
                hint="add --executor ray, or drop them",
            )
        return {"executor": "local", "workers": workers}
    from harness.ray_executor import RayOptions, require_ray

    require_ray()
    options = RayOptions(
        address=address,
        workers=workers or None,
        cpus_per_worker=cpus_per_worker,
        gpus_per_worker=gpus_per_worker,
    )
    return {"executor": "ray", "workers": 0, "ray": options}


def checked_store(settings: Settings, store: Path | None, *, images: bool = False) -> Path:
    """The run store (``--store``, else the cache's), after checking the folders a run writes
    to or reads: the store's, the cache (when ``images`` are saved there) and the data root."""
    from harness.settings import require_folder
    from harness.store import default_store_path

    store_path = store or default_store_path(settings.cache_dir)
    require_folder(store_path.parent, "--store" if store else "--cache-dir")
    if images:
        require_folder(settings.cache_dir, "--cache-dir")
    require_folder(settings.data_root, "--data-root")
    return store_path


def settings_fields(settings: Settings, store_path: Path, device: str | None) -> dict[str, Any]:
    """``RunConfig`` fields that come from the global settings (and ``--device`` over them)."""
    return {
        "device": device or settings.device,
        "data_root": settings.data_root,
        "store_path": store_path,
        "images_dir": settings.cache_dir / "outputs",
    }


def run_with_progress(config: RunConfig, settings: Settings) -> RunSummary:
    """Run ``config`` with progress bars unless ``-q``."""
    from harness.cli.progress import RichProgress
    from harness.runner import run as run_jobs

    progress = RichProgress() if settings.verbosity >= 0 else None
    try:
        return run_jobs(config, progress=progress)
    finally:
        if progress is not None:
            progress.stop()


def nothing_present(suite: str, settings: Settings) -> HarnessError:
    """The error for a suite none of whose benchmarks is under the data root."""
    from harness.errors import HarnessError

    return HarnessError(
        f"no benchmark of {suite!r} is present under {settings.data_root}",
        hint="`harness data` fetches them; `--suite mini` runs on the embedded data",
    )


def register(app: typer.Typer) -> None:
    """Attach the ``run`` verb to the app."""

    @app.command("run")
    def run(
        ctx: typer.Context,
        method: MethodOption,
        suite: SuiteOption = "mini",
        variant: VariantOption = None,
        weights: WeightsOption = None,
        protocol: ProtocolOption = None,
        steps: Annotated[int | None, typer.Option("--steps", help="Sampler steps.")] = None,
        options: Annotated[
            list[str] | None,
            typer.Option(
                "--option",
                help="Method option KEY=VALUE (repeatable; numbers and true/false are typed), "
                "e.g. --option steps=5.",
            ),
        ] = None,
        seed: SeedOption = 0,
        device: DeviceOption = None,
        batch_size: BatchSizeOption = 1,
        save_images: Annotated[
            bool, typer.Option("--save-images", help="Save restored images (report gallery).")
        ] = False,
        limit: LimitOption = None,
        workers: WorkersOption = None,
        executor: ExecutorOption = "local",
        address: AddressOption = None,
        cpus_per_worker: CpusOption = 1.0,
        gpus_per_worker: GpusOption = None,
        store: StoreOption = None,
        overwrite: Annotated[
            bool, typer.Option("--overwrite", help="Recompute a stored run instead of resuming it.")
        ] = False,
        allow_unverified: AllowUnverifiedOption = False,
        report_dir: Annotated[
            Path, typer.Option("--report-dir", help="Where the run's HTML report goes.")
        ] = Path("harness-report"),
        no_report: NoReportOption = False,
        no_flops: Annotated[
            bool,
            typer.Option(
                "--no-flops",
                help=(
                    "Skip the FLOP count (it restores one extra image per image size, and per "
                    "task for task-routed methods; benchmarks of the same size share it)."
                ),
            ),
        ] = False,
    ) -> None:
        """Run a method on a suite or benchmark; store per-image results; write the HTML report."""
        from harness.cli import settings_of
        from harness.report import write_report
        from harness.runner import RunConfig

        settings = settings_of(ctx)
        store_path = checked_store(settings, store, images=save_images)
        config = RunConfig(
            method=method,
            suite=suite,
            variant=variant,
            weights=weights,
            protocol=protocol,
            steps=steps,
            options=method_options(options or [], steps=steps),
            seed=seed,
            batch_size=batch_size,
            save_images=save_images,
            limit=limit,
            overwrite=overwrite,
            allow_unverified=allow_unverified,
            flops=not no_flops,
            **settings_fields(settings, store_path, device),
            **executor_fields(executor, workers, address, cpus_per_worker, gpus_per_worker),
        )
        summary = run_with_progress(config, settings)
        typer.echo(
            f"run {summary.run_id} ({'resumed' if summary.resumed else 'new'}) in {store_path}"
        )
        for outcome in summary.benchmarks:
            if outcome.skipped:
                typer.echo(f"  {outcome.name}: {outcome.skipped} image(s) already scored, skipped")
        if summary.missing:
            typer.secho(
                f"{len(summary.missing)} benchmark(s) not present, skipped:", fg=typer.colors.YELLOW
            )
            for name, message in summary.missing.items():
                typer.echo(f"  {name}: " + message.replace("\n", "\n    "))
        if not summary.benchmarks:
            raise nothing_present(suite, settings)
        print_run_table(store_path, summary.run_id)
        if not no_report:
            files = write_report(store_path, [summary.run_id], report_dir, ("html",))
            typer.echo(f"report: {files['html'][0].resolve()}")
