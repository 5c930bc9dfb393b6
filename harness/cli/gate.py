"""``harness gate``: fail (exit 1) when a run regresses against a committed baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Attach the ``gate`` verb to the app."""

    @app.command("gate")
    def gate(
        ctx: typer.Context,
        run_id: Annotated[int | None, typer.Argument(help="Run id (default: the latest).")] = None,
        baseline: Annotated[Path, typer.Option("--baseline", help="Baseline JSON.")] = Path(
            "reports/baselines/mini.json"
        ),
        tolerance: Annotated[
            float, typer.Option("--tolerance", help="Allowed mean PSNR drop (dB).")
        ] = 0.1,
        ssim_tolerance: Annotated[
            float, typer.Option("--ssim-tolerance", help="Allowed mean SSIM drop.")
        ] = 0.002,
        alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.05,
        update: Annotated[
            bool, typer.Option("--update", help="Write the run as the new baseline.")
        ] = False,
        store: Annotated[Path | None, typer.Option("--store", help="Result store.")] = None,
    ) -> None:
        """Compare per-image PSNR/SSIM of a run with a baseline (paired test); exit 1 on regression."""
        from harness import gate as G
        from harness.cli import settings_of
        from harness.store import Store, default_store_path

        store_path = store or default_store_path(settings_of(ctx).cache_dir)
        with Store(store_path, readonly=True) as db:
            rid = run_id if run_id is not None else db.latest_run_id()
            current = G.baseline_from_run(db, rid)
        if update:
            G.write_baseline(baseline, current)
            n = sum(len(b["images"]) for b in current["benchmarks"].values())
            typer.echo(f"baseline written: {baseline} (run {rid}, {n} images)")
            return
        rows = G.compare(
            G.load_baseline(baseline),
            current,
            tolerance={"psnr": tolerance, "ssim": ssim_tolerance},
            alpha=alpha,
        )
        typer.echo(G.format_table(rows))
        bad = [r for r in rows if r.regression]
        if bad:
            typer.secho(
                f"gate FAILED: {len(bad)} regression(s) against {baseline}", fg="red", err=True
            )
            raise typer.Exit(1)
        typer.echo(f"gate passed against {baseline}")
