"""``harness sweep``: one ordinary run per value of one method option, then their table and report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.cli.run import (
    AddressOption,
    AllowUnverifiedOption,
    BatchSizeOption,
    CpusOption,
    DeviceOption,
    ExecutorOption,
    GpusOption,
    LimitOption,
    MethodOption,
    NoReportOption,
    ProtocolOption,
    SeedOption,
    StoreOption,
    SuiteOption,
    VariantOption,
    WeightsOption,
    WorkersOption,
)


def print_sweep_table(store_path: Path, run_ids: list[int], key: str) -> None:
    """Print value -> each benchmark's mean PSNR, their mean, network calls and seconds per image."""
    from harness.report.sweeps import find_sweeps, sweep_table, sweep_table_text
    from harness.report.tables import load_report_data, markdown_table
    from harness.store import Store

    with Store(store_path, readonly=True) as store:
        data = load_report_data(store, run_ids)
    found = [s for s in find_sweeps(data) if s.key == key and set(s.run_ids) == set(run_ids)]
    if len(found) != 1:
        from harness.errors import HarnessError

        raise HarnessError(
            f"runs {', '.join(map(str, run_ids))} do not differ in {key} alone",
            hint="`harness report --list` shows how the stored runs differ",
        )
    sweep = found[0]
    typer.echo(sweep.title)
    typer.echo(markdown_table(sweep_table_text(sweep_table(data, sweep))))


def register(app: typer.Typer) -> None:
    """Attach the ``sweep`` verb to the app."""

    @app.command("sweep")
    def sweep(
        ctx: typer.Context,
        method: MethodOption,
        options: Annotated[
            list[str],
            typer.Option(
                "--option",
                help="KEY=V1,V2,... for the swept option (exactly one), KEY=VALUE for fixed ones "
                "(repeatable; numbers and true/false are typed).",
            ),
        ],
        suite: SuiteOption = "mini",
        variant: VariantOption = None,
        weights: WeightsOption = None,
        protocol: ProtocolOption = None,
        seed: SeedOption = 0,
        device: DeviceOption = None,
        batch_size: BatchSizeOption = 1,
        limit: LimitOption = None,
        workers: WorkersOption = None,
        executor: ExecutorOption = "local",
        address: AddressOption = None,
        cpus_per_worker: CpusOption = 1.0,
        gpus_per_worker: GpusOption = None,
        store: StoreOption = None,
        overwrite: Annotated[
            bool, typer.Option("--overwrite", help="Recompute stored runs instead of resuming.")
        ] = False,
        allow_unverified: AllowUnverifiedOption = False,
        report_dir: Annotated[
            Path, typer.Option("--report-dir", help="Where the sweep's HTML report goes.")
        ] = Path("harness-report"),
        no_report: NoReportOption = False,
        no_flops: Annotated[
            bool,
            typer.Option(
                "--no-flops",
                help="Skip the FLOP count (one extra image per image size in each value's run).",
            ),
        ] = False,
    ) -> None:
        """Run a method once per value of one option (--option steps=1,2,3); print and report them."""
        from harness.cli import settings_of
        from harness.cli.run import (
            checked_store,
            executor_fields,
            nothing_present,
            run_with_progress,
            settings_fields,
        )
        from harness.report import write_report
        from harness.runner import RunConfig
        from harness.sweep import plan_sweep, sweep_configs

        settings = settings_of(ctx)
        plan = plan_sweep(method, options)
        store_path = checked_store(settings, store)
        base = RunConfig(
            method=method,
            suite=suite,
            variant=variant,
            weights=weights,
            protocol=protocol,
            seed=seed,
            batch_size=batch_size,
            limit=limit,
            overwrite=overwrite,
            allow_unverified=allow_unverified,
            flops=not no_flops,
            **settings_fields(settings, store_path, device),
            **executor_fields(executor, workers, address, cpus_per_worker, gpus_per_worker),
        )
        run_ids = []
        for value, config in zip(plan.values, sweep_configs(base, plan), strict=True):
            summary = run_with_progress(config, settings)
            if not summary.benchmarks:
                raise nothing_present(suite, settings)
            state = "resumed" if summary.resumed else "new"
            typer.echo(f"{plan.key}={value}: run {summary.run_id} ({state})")
            for name in summary.missing:
                typer.secho(f"  {name}: not present, skipped", fg=typer.colors.YELLOW)
            run_ids.append(summary.run_id)
        typer.echo(f"store: {store_path}")
        print_sweep_table(store_path, run_ids, plan.key)
        if not no_report:
            files = write_report(store_path, run_ids, report_dir, ("html",))
            typer.echo(f"report: {files['html'][0].resolve()}")
