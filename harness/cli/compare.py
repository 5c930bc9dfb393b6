"""``harness compare``: paired per-image comparison of two stored runs, with significance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Attach the ``compare`` verb to the app."""

    @app.command("compare")
    def compare(
        ctx: typer.Context,
        run_a: Annotated[int, typer.Argument(help="Reference run id (A).")],
        run_b: Annotated[int, typer.Argument(help="Run id compared with it (B).")],
        metrics: Annotated[
            list[str] | None,
            typer.Option("--metric", help="Compare only this metric (repeatable; default all)."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON, not a table.")] = False,
        store: Annotated[Path | None, typer.Option("--store", help="Result store.")] = None,
    ) -> None:
        """Per common benchmark and metric: mean difference B - A over the images both runs
        scored, its paired bootstrap interval and an exact sign-test p (`harness report --list`
        shows run ids).

        Refuses runs that scored a common benchmark under another protocol or on other data.
        """
        from harness.cli import settings_of
        from harness.errors import HarnessError
        from harness.report.paired import (
            compare_runs,
            comparison_json,
            paired_notes,
            paired_text,
        )
        from harness.report.tables import load_report_data, markdown_table
        from harness.store import Store, default_store_path

        if run_a == run_b:
            raise HarnessError(
                f"run {run_a} is both A and B", hint="pass two different run ids to compare"
            )
        store_path = store or default_store_path(settings_of(ctx).cache_dir)
        with Store(store_path, readonly=True) as db:
            data = load_report_data(db, [run_a, run_b])
        comp = compare_runs(data, run_a, run_b, metrics)
        if comp.rows.empty:
            why = "; ".join(f"{name}: {reason}" for name, reason in comp.left_out.items())
            raise HarnessError(
                f"runs {run_a} and {run_b} share no finished benchmark ({why or 'none scored'})",
                hint="compare two runs of the same suite",
            )
        if as_json:
            typer.echo(json.dumps(comparison_json(comp), indent=2))
            return
        typer.echo(markdown_table(paired_text(comp)))
        for note in paired_notes(comp):
            typer.echo(f"  {note}")
