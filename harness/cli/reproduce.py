"""``harness reproduce``: run every method that can run here on every suite present; one report."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from harness.cli.run import (
    AddressOption,
    CpusOption,
    ExecutorOption,
    GpusOption,
    WorkersOption,
    executor_fields,
)

FULL_SUITES = ("universal", "zero-shot")


def register(app: typer.Typer) -> None:
    """Attach the ``reproduce`` verb to the app."""

    @app.command("reproduce")
    def reproduce(
        ctx: typer.Context,
        methods: Annotated[
            list[str] | None, typer.Option("--method", "-m", help="Only these methods.")
        ] = None,
        out: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")] = Path(
            "harness-report"
        ),
        store: Annotated[Path | None, typer.Option("--store", help="Result store.")] = None,
        limit: Annotated[
            int | None, typer.Option("--limit", min=1, help="At most N images per benchmark.")
        ] = None,
        device: Annotated[str | None, typer.Option("--device", help="auto, cpu, cuda.")] = None,
        workers: WorkersOption = None,
        executor: ExecutorOption = "local",
        address: AddressOption = None,
        cpus_per_worker: CpusOption = 1.0,
        gpus_per_worker: GpusOption = None,
    ) -> None:
        """Run every runnable method on the mini suite (and the full suites whose data is here)."""
        from harness.cli import settings_of
        from harness.cli.run import checked_store, run_with_progress, settings_fields
        from harness.errors import HarnessError
        from harness.registry import method_names
        from harness.report import write_report
        from harness.runner import RunConfig

        settings = settings_of(ctx)
        store_path = checked_store(settings, store, images=True)
        missing: dict[str, str] = {}
        suites = ["mini"] + [s for s in FULL_SUITES if _has_data(s, settings, missing)]
        typer.echo(f"suites to run: {', '.join(suites)}")
        run_ids: list[int] = []
        skipped: dict[str, str] = {}
        chosen = executor_fields(executor, workers, address, cpus_per_worker, gpus_per_worker)
        with _one_cluster(chosen):  # one Ray session for every method and suite
            for method in methods or method_names():
                for suite in suites:
                    config = RunConfig(
                        method=method,
                        suite=suite,
                        limit=limit,
                        save_images=True,
                        **settings_fields(settings, store_path, device),
                        **chosen,
                    )
                    typer.echo(f"== {method} on {suite}")
                    try:
                        summary = run_with_progress(config, settings)
                    except HarnessError as exc:
                        skipped[f"{method} ({suite})"] = str(exc).splitlines()[0]
                        typer.secho(f"   skipped: {str(exc).splitlines()[0]}", fg="yellow")
                        continue
                    if summary.benchmarks:
                        run_ids.append(summary.run_id)
                    missing.update(summary.missing)
        if not run_ids:
            raise HarnessError("no method could run on any suite", hint="see the reasons above")
        files = write_report(store_path, run_ids, out, ("html", "md", "csv", "latex", "json"))
        typer.echo(f"\nreport: {files['html'][0].resolve()}")
        if skipped:
            typer.echo(f"\n{len(skipped)} method run(s) skipped:")
            for name, reason in skipped.items():
                typer.echo(f"  {name}: {reason}")
        absent = {k: v for k, v in missing.items() if not k.startswith("mini")}
        typer.echo(f"\n{len(absent)} of the full benchmarks are not present here:")
        for name, message in sorted(absent.items()):
            typer.echo(f"  {name}: " + message.replace("\n", "\n    "))


def _one_cluster(fields: dict):
    """The Ray session every run of ``reproduce`` shares (nothing for the local executor)."""
    if fields["executor"] != "ray":
        return nullcontext()
    from harness.ray_executor import cluster

    return cluster(fields["ray"])


def _has_data(suite: str, settings, missing: dict[str, str]) -> bool:
    """True when at least one benchmark of ``suite`` is present; records the absent ones."""
    from harness.errors import HarnessError
    from harness.runner import present_benchmarks

    try:
        present, absent = present_benchmarks(suite, settings.data_root)
    except HarnessError:  # an unknown suite has nothing to run
        return False
    missing.update(absent)
    return bool(present)
