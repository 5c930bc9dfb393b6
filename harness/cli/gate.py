"""``harness gate``: fail (exit 1) when a run regresses against a committed baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.tolerances import GATE_ALPHA, MEAN_TOLERANCE


def register(app: typer.Typer) -> None:
    """Attach the ``gate`` verb to the app."""

    @app.command("gate")
    def gate(
        ctx: typer.Context,
        run_id: Annotated[int | None, typer.Argument(help="Run id (default: the latest).")] = None,
        baseline: Annotated[
            Path | None,
            typer.Option(
                "--baseline",
                help="Baseline JSON (default: the shipped mini-suite baseline, "
                "reports/baselines/mini.json).",
            ),
        ] = None,
        tolerance: Annotated[
            float, typer.Option("--tolerance", help="Allowed mean PSNR drop (dB).")
        ] = MEAN_TOLERANCE["psnr"],
        ssim_tolerance: Annotated[
            float, typer.Option("--ssim-tolerance", help="Allowed mean SSIM drop.")
        ] = MEAN_TOLERANCE["ssim"],
        alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = GATE_ALPHA,
        update: Annotated[
            bool, typer.Option("--update", help="Write the run as the new baseline.")
        ] = False,
        store: Annotated[Path | None, typer.Option("--store", help="Result store.")] = None,
    ) -> None:
        """Compare per-image PSNR/SSIM of a run with a baseline (paired test); exit 1 on regression.

        Refuses (exit 1) a malformed baseline, and a run scored under another protocol, on other
        data (another digest) or on data that did not match its lock.
        """
        from harness import gate as G
        from harness.cli import settings_of
        from harness.paths import reports_dir
        from harness.store import Store, default_store_path

        if baseline is None:
            if update:
                raise typer.BadParameter(
                    "--update needs an explicit --baseline PATH to write", param_hint="--baseline"
                )
            baseline = reports_dir() / "baselines" / "mini.json"
        store_path = store or default_store_path(settings_of(ctx).cache_dir)
        with Store(store_path, readonly=True) as db:
            rid = run_id if run_id is not None else db.latest_run_id()
            current = G.run_benchmarks(db, rid)
            new_baseline = G.baseline_from_run(db, rid) if update else None
        if new_baseline is not None:
            G.write_baseline(baseline, new_baseline)
            n = sum(len(b.images) for b in new_baseline.benchmarks.values())
            typer.echo(f"baseline written: {baseline} (run {rid}, {n} images)")
            return
        rows = G.compare(
            G.load_baseline(baseline),
            current,
            tolerance={"psnr": tolerance, "ssim": ssim_tolerance},
            alpha=alpha,
        )
        typer.echo(G.format_table(rows))
        failed = G.failures(rows)
        if failed:
            for line in failed:
                typer.secho(f"  {line}", fg="red", err=True)
            typer.secho(f"gate FAILED against {baseline}", fg="red", err=True)
            raise typer.Exit(1)
        typer.echo(f"gate passed against {baseline}")
